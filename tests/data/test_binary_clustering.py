import math

import pytest
import torch

from lit_evoae.data.binary_clustering import SPLITS, BinaryClusteringSpec, generate
from lit_evoae.errors import ConfigError, DataError

SPEC = BinaryClusteringSpec(
    num_clusters=5, dim=400, examples_per_cluster=30, flip_probability=0.05, seed=11
)


def flips(tensors, split):
    labels = tensors[f"{split}_labels"]
    return tensors[f"{split}_examples"] ^ tensors["centroids"][labels]


def test_shapes_labels_and_values():
    tensors = generate(SPEC)
    assert tensors["centroids"].shape == (5, 400)
    for split in SPLITS:
        assert tensors[f"{split}_examples"].shape == (150, 400)
        assert torch.equal(torch.bincount(tensors[f"{split}_labels"]), torch.full((5,), 30))
        assert set(tensors[f"{split}_examples"].unique().tolist()) <= {0, 1}


def test_same_seed_same_data_other_seed_other_data():
    first, again = generate(SPEC), generate(SPEC)
    other = generate(BinaryClusteringSpec(**{**SPEC.__dict__, "seed": 12}))
    for name in first:
        assert torch.equal(first[name], again[name])
    assert not torch.equal(first["centroids"], other["centroids"])


def test_flip_rate_matches_p_within_statistical_tolerance():
    tensors = generate(SPEC)
    for split in SPLITS:
        flipped = flips(tensors, split).double()
        sigma = math.sqrt(0.05 * 0.95 / flipped.numel())
        assert abs(flipped.mean().item() - 0.05) < 5 * sigma


def test_splits_share_centroids_but_not_noise():
    tensors = generate(SPEC)
    train, val, test = (flips(tensors, split).double() for split in SPLITS)
    for first, second in ((train, val), (train, test), (val, test)):
        # Independent noise: co-flips occur at rate p^2, not p as identical noise would give.
        co_flip = (first * second).mean().item()
        assert abs(co_flip - 0.05**2) < 0.001
    rows = {tuple(row.tolist()) for row in tensors["train_examples"]}
    assert not any(tuple(row.tolist()) in rows for row in tensors["val_examples"])


def test_centroid_density_sets_the_share_of_set_bits():
    dense = generate(BinaryClusteringSpec(**{**SPEC.__dict__, "centroid_density": 0.75}))
    bits = dense["centroids"].double()
    sigma = math.sqrt(0.75 * 0.25 / bits.numel())
    assert abs(bits.mean().item() - 0.75) < 5 * sigma
    # the default keeps the original uniform draw, so cached studies keep their data
    default = generate(SPEC)["centroids"].double()
    assert abs(default.mean().item() - 0.5) < 5 * math.sqrt(0.25 / default.numel())
    expected = torch.randint(0, 2, (5, 400), generator=torch.Generator().manual_seed(11))
    assert torch.equal(generate(SPEC)["centroids"], expected.to(torch.uint8))


def test_centroid_density_gets_its_own_cache_file():
    dense = BinaryClusteringSpec(**{**SPEC.__dict__, "centroid_density": 0.75})
    assert dense.cache_name() != SPEC.cache_name()


@pytest.mark.parametrize(("p", "expected_rate"), [(0.0, 0.0), (1.0, 1.0)])
def test_extreme_flip_probabilities(p, expected_rate):
    tensors = generate(BinaryClusteringSpec(**{**SPEC.__dict__, "flip_probability": p}))
    assert flips(tensors, "train").double().mean().item() == expected_rate


def test_data_module_serves_float_splits_in_batches(tiny_data):
    tiny_data.prepare_data()
    tiny_data.setup("fit")
    assert tiny_data.input_dim == 24
    assert {split: len(data) for split, data in tiny_data.splits.items()} == {
        "train": 40,
        "val": 40,
        "test": 40,
    }
    # training: the whole split as one item per epoch (the systems make the minibatches)
    ((inputs, labels),) = list(tiny_data.train_dataloader())
    assert inputs.shape == (40, 24) and inputs.dtype == torch.float32
    assert labels.shape == (40,)
    inputs, labels = next(iter(tiny_data.val_dataloader()))  # eval_batch_size 250 > 40
    assert inputs.shape == (40, 24) and labels.shape == (40,)


def test_data_module_reuses_its_cache(tiny_data, monkeypatch):
    tiny_data.prepare_data()
    monkeypatch.setattr("lit_evoae.data.binary_clustering.generate", pytest.fail)
    tiny_data.setup("test")  # must read the cache, not generate again
    assert len(tiny_data.splits["test"]) == 40


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("num_clusters", 0),
        ("dim", -3),
        ("examples_per_cluster", 0),
        ("flip_probability", 1.2),
        ("flip_probability", -0.1),
        ("seed", -1),
        ("batch_size", 0),
        ("centroid_density", 1.5),
    ],
)
def test_out_of_range_arguments_name_the_field(field, value, tmp_path):
    from lit_evoae.data import BinaryClusteringDataModule

    with pytest.raises(ConfigError, match=field):
        BinaryClusteringDataModule(**{field: value}, data_dir=tmp_path)


def test_a_data_dir_that_is_a_file_is_named_in_the_error(tmp_path):
    from lit_evoae.data import BinaryClusteringDataModule

    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    module = BinaryClusteringDataModule(dim=8, data_dir=blocker)
    with pytest.raises(DataError, match=str(blocker)):
        module.prepare_data()
