import pytest
import pytorch_lightning as pl
import torch

from lit_evoae import keys
from lit_evoae.errors import ConfigError
from lit_evoae.population.strategy import CoevolutionStrategy
from lit_evoae.population.topology import Ring, Torus
from lit_evoae.systems import CoevolutionaryAutoencoder
from lit_evoae.systems.base import PopulationCallback

SIZE = 5


def make_system(update_order="synchronous", cell_evaluation="lipi_simple", **overrides):
    strategy = CoevolutionStrategy(update_order=update_order, cell_evaluation=cell_evaluation)
    arguments = dict(
        input_dim=24,
        hidden_sizes=(8,),
        latent_dim=3,
        lr=1e-2,
        topology=Ring(size=SIZE, radius=1),
        strategy=strategy,
        seeds=[7],
    )
    return CoevolutionaryAutoencoder(**{**arguments, **overrides})


class StampingHook(PopulationCallback):
    """Marks each trained pair and records, at every call, which centers carry this
    generation's marks (i.e. were already replaced)."""

    def __init__(self):
        self.calls = []

    def on_pairs_trained(self, trainer, system, cells):
        generation = trainer.current_epoch
        stamp = system.trainees.decoders[-2].bias
        replaced = [
            c
            for c in range(system.population_size)
            if system.centers.decoders[-2].bias[c, 0].item() == 1000 + generation
        ]
        self.calls.append((generation, cells.tolist(), replaced))
        with torch.no_grad():
            stamp[: len(cells), 0] = 1000 + generation


def fit(system, data, trainer_factory, epochs, callbacks=()):
    trainer = trainer_factory(max_epochs=epochs, callbacks=list(callbacks))
    trainer.fit(system, datamodule=data)
    return trainer


@pytest.mark.integration
def test_synchronous_trains_every_cell_once_then_replaces_all(tiny_data, quiet_trainer):
    hook = StampingHook()
    fit(make_system(), tiny_data, quiet_trainer, 3, [hook])
    assert [(generation, cells) for generation, cells, _ in hook.calls] == [
        (g, list(range(SIZE))) for g in range(3)
    ]
    # at the hook no center holds this generation's pairs yet: all replace together
    assert all(replaced == [] for _, _, replaced in hook.calls)


@pytest.mark.integration
def test_sequential_visits_cells_one_by_one_in_a_shuffled_order(tiny_data, quiet_trainer):
    hook = StampingHook()
    system = make_system("sequential")
    fit(system, tiny_data, quiet_trainer, 2, [hook])
    assert len(hook.calls) == 2 * SIZE
    orders = []
    for generation in range(2):
        calls = [call for call in hook.calls if call[0] == generation]
        assert all(len(cells) == 1 for _, cells, _ in calls)
        order = [cells[0] for _, cells, _ in calls]
        assert sorted(order) == list(range(SIZE))
        for position, (_, _, replaced) in enumerate(calls):
            # cells visited earlier this generation already hold their new centers
            assert sorted(replaced) == sorted(order[:position])
        orders.append(order)
    assert orders[0] != orders[1]  # reshuffled between generations


@pytest.mark.integration
@pytest.mark.parametrize("order", ["synchronous", "sequential"])
def test_one_lightning_step_is_one_generation_of_passes_over_the_data(
    tiny_data, quiet_trainer, order
):
    system = make_system(order)
    trainer = fit(system, tiny_data, quiet_trainer, 2)
    assert trainer.num_training_batches == 1
    assert trainer.global_step == 2  # one step per generation
    # 40 examples / batch 5: every cell (each its own pass in sequential order) took 8 steps
    # per generation, on top of what the centers it was selected from had taken
    steps = system.center_adam.steps
    assert bool((steps >= 16).all()) and bool((steps % 8 == 0).all())


@pytest.mark.integration
def test_pruning_done_by_a_hook_is_carried_into_the_centers(tiny_data, quiet_trainer):
    class PruneFirstInput(PopulationCallback):
        def on_pairs_trained(self, trainer, system, cells):
            layer = system.trainees.encoders[0]
            layer.weight_mask[: len(cells), 0, :] = False
            layer.apply_masks_()
            system.trainee_adam.apply_masks_(system.trainees)

    system = make_system()
    fit(system, tiny_data, quiet_trainer, 3, [PruneFirstInput()])
    weights = system.centers.encoders[0].weight
    assert bool((weights[:, 0, :] == 0).all())
    assert bool((weights[:, 1:, :] != 0).any())
    assert system.centers.sparsity().min() > 0


@pytest.mark.integration
def test_logs_per_generation_and_learning_rates_mutate_within_bounds(tiny_data, quiet_trainer):
    system = make_system()
    trainer = fit(system, tiny_data, quiet_trainer, 2)
    metrics = trainer.callback_metrics
    for key in [
        keys.TRAIN_LOSS,
        keys.VAL_L1,
        keys.VAL_L1_MEDIAN,
        keys.GEN_BEST_LOSS,
        keys.GEN_MEDIAN_LOSS,
        keys.GEN_WORST_LOSS,
        keys.MODEL_PARAMS,
        keys.MODEL_SPARSITY,
        keys.MODEL_ENCODER_LIVE,
        keys.MODEL_DECODER_LIVE,
    ]:
        assert key in metrics, key
    assert (
        metrics[keys.GEN_BEST_LOSS] <= metrics[keys.GEN_MEDIAN_LOSS] <= metrics[keys.GEN_WORST_LOSS]
    )
    rates = [metrics[f"lr/cell_{cell:02d}"].item() for cell in range(SIZE)]
    assert rates == pytest.approx(system.learning_rates.tolist())
    assert len(set(rates)) == SIZE and all(1e-9 <= rate <= 10 for rate in rates)


@pytest.mark.integration
def test_best_cell_is_the_one_with_the_lowest_validation_error(tiny_data, quiet_trainer):
    system = make_system()
    trainer = fit(system, tiny_data, quiet_trainer, 3)
    inputs = torch.cat([batch[0] for batch in tiny_data.val_dataloader()])
    with torch.no_grad():
        per_cell = (system.centers(inputs) - inputs).abs().mean(dim=(1, 2))
    assert int(system.best_index) == int(per_cell.argmin())
    assert trainer.callback_metrics[keys.VAL_L1].item() == pytest.approx(
        per_cell.min().item(), rel=1e-5
    )
    plain = system.autoencoder()
    torch.testing.assert_close(plain(inputs), system(inputs))
    (result,) = trainer.test(system, datamodule=tiny_data, verbose=False)
    test_inputs = torch.cat([batch[0] for batch in tiny_data.test_dataloader()])
    with torch.no_grad():
        expected = (plain(test_inputs) - test_inputs).abs().mean().item()
    assert result[keys.TEST_L1] == pytest.approx(expected, rel=1e-5)


@pytest.mark.integration
@pytest.mark.parametrize("cell_evaluation", ["lipi_simple", "epoch_node"])
def test_training_lowers_the_best_validation_error(tiny_data, quiet_trainer, cell_evaluation):
    system = make_system(cell_evaluation=cell_evaluation)
    trainer = quiet_trainer(max_epochs=8)
    before = trainer.validate(system, datamodule=tiny_data, verbose=False)[0][keys.VAL_L1]
    trainer.fit(system, datamodule=tiny_data)
    assert trainer.callback_metrics[keys.VAL_L1].item() < before - 0.05


def run_to_end(
    data, trainer_factory, epochs, order, evaluation, tmp_path=None, resume=None, **overrides
):
    pl.seed_everything(3, verbose=False)
    system = make_system(order, evaluation, **overrides)
    trainer = trainer_factory(max_epochs=epochs)
    trainer.fit(system, datamodule=data, ckpt_path=resume)
    return system, trainer


@pytest.mark.integration
@pytest.mark.parametrize(
    ("order", "evaluation"), [("synchronous", "lipi_simple"), ("sequential", "epoch_node")]
)
def test_same_seed_same_run(tiny_data, quiet_trainer, order, evaluation):
    first, first_trainer = run_to_end(tiny_data, quiet_trainer, 2, order, evaluation)
    again, again_trainer = run_to_end(tiny_data, quiet_trainer, 2, order, evaluation)
    assert all(
        torch.equal(a, b)
        for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True)
    )
    for key, value in first_trainer.callback_metrics.items():
        assert torch.equal(value, again_trainer.callback_metrics[key]), key


@pytest.mark.integration
@pytest.mark.parametrize(
    ("order", "evaluation"),
    [("synchronous", "lipi_simple"), ("sequential", "epoch_node"), ("synchronous", "all_vs_all")],
)
def test_resume_continues_exactly(tiny_data, quiet_trainer, tmp_path, order, evaluation):
    straight, _ = run_to_end(tiny_data, quiet_trainer, 4, order, evaluation)
    _, half = run_to_end(tiny_data, quiet_trainer, 2, order, evaluation)
    half.save_checkpoint(tmp_path / "half.ckpt")
    resumed, _ = run_to_end(
        tiny_data, quiet_trainer, 4, order, evaluation, resume=tmp_path / "half.ckpt"
    )
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name


@pytest.mark.integration
def test_a_variational_run_resumes_exactly_and_logs_its_divergence(
    tiny_data, quiet_trainer, tmp_path
):
    """Its latent noise, in training and in selection by its loss, comes from (seed,
    generation, pass): a resumed run samples the same."""
    vae = {
        "variational": True,
        "selection": "loss",
        "denoising": {"class_path": "lit_evoae.population.corruption.BitFlips"},
    }
    straight, trainer = run_to_end(tiny_data, quiet_trainer, 4, "sequential", "epoch_node", **vae)
    _, half = run_to_end(tiny_data, quiet_trainer, 2, "sequential", "epoch_node", **vae)
    half.save_checkpoint(tmp_path / "half.ckpt")
    resumed, _ = run_to_end(
        tiny_data,
        quiet_trainer,
        4,
        "sequential",
        "epoch_node",
        resume=tmp_path / "half.ckpt",
        **vae,
    )
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    assert float(trainer.callback_metrics[keys.VAL_KL]) > 0
    # the tournament scored cross-entropy summed over a batch plus KL, not a mean L1
    assert float(trainer.callback_metrics[keys.GEN_BEST_LOSS]) > 1
    plain, plain_trainer = run_to_end(tiny_data, quiet_trainer, 1, "sequential", "epoch_node")
    assert keys.VAL_KL not in plain_trainer.callback_metrics
    assert float(plain_trainer.callback_metrics[keys.GEN_BEST_LOSS]) < 1
    _, from_mean = run_to_end(
        tiny_data, quiet_trainer, 1, "sequential", "epoch_node", variational=True, selection="l1"
    )
    assert float(from_mean.callback_metrics[keys.GEN_BEST_LOSS]) < 1  # L1 from mu, as before


@pytest.mark.integration
def test_checkpoint_loads_with_weights_only_and_rebuilds_the_system(
    tiny_data, quiet_trainer, tmp_path
):
    system = make_system(topology=Torus(rows=3, columns=3, neighbourhood="von_neumann"))
    trainer = fit(system, tiny_data, quiet_trainer, 1)
    trainer.save_checkpoint(tmp_path / "run.ckpt")
    checkpoint = torch.load(tmp_path / "run.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["topology"]["init_args"]["neighbourhood"] == "von_neumann"
    restored = CoevolutionaryAutoencoder.load_from_checkpoint(tmp_path / "run.ckpt")
    assert isinstance(restored.topology, Torus) and restored.population_size == 9
    inputs = torch.rand(3, 24)
    torch.testing.assert_close(restored(inputs), system(inputs))


@pytest.mark.integration
@pytest.mark.parametrize("order", ["synchronous", "sequential"])
def test_refuses_a_foreign_data_module(quiet_trainer, order):
    class Foreign(pl.LightningDataModule):
        def train_dataloader(self):
            return torch.utils.data.DataLoader(
                torch.utils.data.TensorDataset(torch.rand(10, 24), torch.zeros(10))
            )

    with pytest.raises(ConfigError, match="lit_evoae data module"):
        quiet_trainer(max_epochs=1).fit(make_system(order), datamodule=Foreign())


def test_invalid_arguments_name_the_field():
    with pytest.raises(ConfigError, match="radius 2"):
        make_system(topology=Ring(size=4, radius=2))
    with pytest.raises(ConfigError, match="seeds"):
        make_system(seeds=[-1])
    with pytest.raises(ConfigError, match="at least one seed"):
        make_system(seeds=[])
    with pytest.raises(ConfigError, match="optimizer_state"):
        make_system(optimizer_state="sometimes")
    with pytest.raises(ConfigError, match="Topology"):
        make_system(topology={"class_path": "builtins.dict"})


@pytest.mark.integration
def test_batched_trials_report_each_trials_best(tiny_data, quiet_trainer):
    system = make_system(topology=Ring(size=3, radius=1), seeds=[7, 8])
    trainer = fit(system, tiny_data, quiet_trainer, 2)
    per_cell = system.val_l1.compute()
    for trial in range(2):
        logged = trainer.callback_metrics[f"val/l1/trial_{trial:02d}"]
        assert torch.isclose(logged, per_cell[trial * 3 : trial * 3 + 3].min())
    assert trainer.callback_metrics[keys.VAL_L1] == per_cell.min()


@pytest.mark.integration
@pytest.mark.parametrize(
    ("order", "evaluation"),
    [
        ("synchronous", "lipi_simple"),
        ("sequential", "lipi_simple"),
        ("sequential", "epoch_node"),
        ("synchronous", "all_vs_all"),
        ("sequential", "all_vs_all"),
    ],
)
def test_a_trial_batched_with_others_runs_as_it_runs_alone(
    tiny_data, quiet_trainer, order, evaluation
):
    """A pack of seeds [4, 5, 6]: trial 1 draws exactly what a lone run seeded 5 draws
    (weights, batch order, selection, mutation, pruning), so the two agree."""
    from lit_evoae.callbacks import Pruning
    from lit_evoae.pruning.operators import RandomPruning

    def run(topology, seeds):
        system = make_system(order, evaluation, topology=topology, seeds=seeds)
        pruning = Pruning(RandomPruning(0.2), probability=0.5)
        fit(system, tiny_data, quiet_trainer, 3, [pruning])
        return system

    ring = Ring(size=SIZE, radius=1)
    packed = run(ring, [4, 5, 6])
    alone = run(ring, [5])
    trial = slice(SIZE, 2 * SIZE)
    for key, value in alone.centers.state_dict().items():
        torch.testing.assert_close(
            packed.centers.state_dict()[key][trial], value, atol=1e-5, rtol=0, msg=key
        )
    assert torch.equal(packed.learning_rates[trial], alone.learning_rates)
    assert packed.centers.sparsity()[trial].max() > 0  # pruning happened, the same way
    assert not torch.equal(
        packed.centers.encoders[0].weight[:SIZE], packed.centers.encoders[0].weight[trial]
    )  # other trials differ


def test_a_population_too_large_for_memory_is_one_clear_error():
    huge = list(range(10**7))  # seeds: as many trials of a ring of 10
    with pytest.raises(
        ConfigError,
        match=r"a population of 100000000 cells needs about [0-9.]+ "
        r"GiB, but cpu has [0-9.]+ GiB free",
    ):
        CoevolutionaryAutoencoder(input_dim=1000, topology=Ring(size=10, radius=1), seeds=huge)


@pytest.mark.integration
def test_the_papers_metric_is_logged_when_training_ends(tiny_data, quiet_trainer):
    """final/train_l1_mean: every final center's L1 on the training split, averaged."""
    from lit_evoae.callbacks import Pruning
    from lit_evoae.pruning.operators import RandomPruning

    system = make_system(topology=Ring(size=SIZE, radius=1), seeds=[1, 2])
    pruning = Pruning(RandomPruning(0.3), probability=1.0, regrow=True)
    trainer = fit(system, tiny_data, quiet_trainer, 2, [pruning])
    metrics = trainer.callback_metrics
    train = tiny_data.splits["train"].tensors[0]
    with torch.no_grad():
        per_cell = (system.centers(train) - train).abs().mean(dim=(1, 2))
    assert metrics[keys.FINAL_TRAIN_L1_MEAN].item() == pytest.approx(
        per_cell.mean().item(), abs=1e-6
    )
    assert metrics["final/train_l1_best"].item() == pytest.approx(per_cell.min().item(), abs=1e-6)
    for trial in range(2):
        cells = per_cell[trial * SIZE : (trial + 1) * SIZE]
        logged = metrics[f"final/train_l1_mean/trial_{trial:02d}"].item()
        assert logged == pytest.approx(cells.mean().item(), abs=1e-6)
    assert 0 < metrics["final/test_l1_mean"].item() < 1
    # regrow: pruned weights grow back, so the capacity the last pruning left is lower. Each
    # tensor lost floor(30%) of its entries: 139 of 475 parameters (fewer if some were zero).
    assert 1 - 139 / 475 - 1e-6 <= metrics["final/capacity_at_last_prune"].item() < 0.76
    nonzero = 1 - system.centers.sparsity()
    assert metrics["final/capacity"].item() == pytest.approx(nonzero.mean().item(), abs=1e-6)


@pytest.mark.integration
@pytest.mark.parametrize("shuffle", [True, False])
def test_data_shuffle_false_trains_every_pass_in_the_stored_order(
    tiny_data, quiet_trainer, monkeypatch, shuffle
):
    """`data.shuffle: false` (the reference's --no_shuffle_data) reaches the passes."""
    import lit_evoae.systems.coevolution as coevolution

    seen = []

    def recording(*args, **kwargs):
        seen.append(original(*args, **kwargs))
        return seen[-1]

    original = coevolution.pass_orders
    monkeypatch.setattr(coevolution, "pass_orders", recording)
    tiny_data.shuffle = shuffle
    quiet_trainer(max_epochs=2).fit(make_system(), datamodule=tiny_data)
    stored = torch.arange(seen[0].shape[1])
    assert seen and all(torch.equal(order, stored) != shuffle for o in seen for order in o)


@pytest.mark.integration
@pytest.mark.parametrize("size", [1, 2])
@pytest.mark.parametrize("order", ["synchronous", "sequential"])
def test_wrapped_rings_of_one_and_two_cells_train(tiny_data, quiet_trainer, size, order):
    """The reference's population-size study runs populations of 1 and 2 on a radius-1 ring."""
    system = make_system(order, topology=Ring(size=size, radius=1, wrap=True))
    trainer = quiet_trainer(max_epochs=2)
    trainer.fit(system, datamodule=tiny_data)
    assert system.population_size == size and system.neighbourhood_size == 3
    assert torch.isfinite(trainer.callback_metrics[keys.VAL_L1])


class PairRecorder(PopulationCallback):
    """Records each all-vs-all round's pairs and, after it, both halves of every slot."""

    def __init__(self):
        self.rounds = []

    def on_pairs_trained(self, trainer, system, cells):
        slots = len(cells)
        self.rounds.append(
            (
                trainer.current_epoch,
                system._trainee_cells.tolist(),
                system.trainees.encoders[0].weight[:slots].clone(),
                system.trainees.decoders[0].weight[:slots].clone(),
            )
        )


@pytest.mark.integration
@pytest.mark.parametrize("order", ["synchronous", "sequential"])
def test_all_vs_all_trains_every_encoder_with_every_decoder_and_returns_each_half(
    tiny_data, quiet_trainer, monkeypatch, order
):
    system = make_system(order, "all_vs_all")
    taken = []
    take = system.take_pairs

    def spy(encoders, decoders):
        taken.append((encoders.tolist(), decoders.tolist()))
        take(encoders, decoders)

    monkeypatch.setattr(system, "take_pairs", spy)
    recorder = PairRecorder()
    trainer = fit(system, tiny_data, quiet_trainer, 2, [recorder])
    rounds = SIZE if order == "synchronous" else SIZE * SIZE
    assert len(taken) == 2 * rounds
    for generation in range(2):
        pairs = [
            pair
            for encoders, decoders in taken[generation * rounds : (generation + 1) * rounds]
            for pair in zip(encoders, decoders, strict=True)
        ]
        assert sorted(pairs) == [(e, d) for e in range(SIZE) for d in range(SIZE)]
    for encoders, decoders in taken:  # a round's pairs are disjoint
        assert len(set(encoders)) == len(encoders) and len(set(decoders)) == len(decoders)
    if order == "sequential":  # the reference's product(order, order): encoder by encoder
        encoders = [e for (e,), _ in taken[:rounds]]
        assert all(len(set(encoders[k : k + SIZE])) == 1 for k in range(0, rounds, SIZE))
    # each half of the last round's pairs is back in its own cell
    _, last_cells, trained_encoders, trained_decoders = recorder.rounds[-1]
    for slot, (encoder, decoder) in enumerate(zip(*taken[-1], strict=True)):
        assert last_cells[slot] == encoder
        assert torch.equal(system.centers.encoders[0].weight[encoder], trained_encoders[slot])
        assert torch.equal(system.centers.decoders[0].weight[decoder], trained_decoders[slot])
    rates = system.learning_rates
    assert torch.all(rates == rates[0]) and rates[0] != 1e-2  # one rate, mutated
    assert keys.GEN_BEST_LOSS not in trainer.callback_metrics  # nothing is selected


@pytest.mark.integration
def test_an_all_vs_all_pair_that_diverges_leaves_both_cells_as_they_were(
    tiny_data, quiet_trainer, monkeypatch
):
    system = make_system("sequential", "all_vs_all")
    give_back = system.return_pairs
    returned = []

    def poisoned(encoders, decoders):
        centers = system.centers.state_dict()
        before = {name: value.clone() for name, value in centers.items()}
        if not returned:  # the first pair of the run diverges
            with torch.no_grad():
                system.trainees.encoders[0].weight[0, 0, 0] = float("nan")
        give_back(encoders, decoders)
        returned.append(all(torch.equal(before[n], v) for n, v in centers.items()))

    monkeypatch.setattr(system, "return_pairs", poisoned)
    trainer = fit(system, tiny_data, quiet_trainer, 1)
    assert trainer.callback_metrics[keys.GEN_DIVERGED].item() == 1
    assert returned[0] and not any(returned[1:])  # dropped; every other pair came back
    assert torch.isfinite(system.centers.encoders[0].weight).all()
    assert torch.isfinite(system.val_l1.compute()).all()


@pytest.mark.integration
def test_prune_then_evaluate_trains_as_paired_and_scores_the_pruned_pairs(tiny_data, quiet_trainer):
    """lipi_simple_pte scores each trained pair after pruning, Paired(score_replacement)
    before it: both train the same, the scores differ by what pruning removed."""
    from lit_evoae.callbacks import Pruning
    from lit_evoae.population.cell_evaluation import Paired
    from lit_evoae.population.training import pass_orders
    from lit_evoae.pruning.operators import RandomPruning

    def run(evaluation, amount):
        system = make_system("synchronous", evaluation)
        pruning = Pruning(RandomPruning(amount), probability=1.0)
        trainer = fit(system, tiny_data, quiet_trainer, 1, [pruning])
        return system, trainer.callback_metrics[keys.GEN_REPLACEMENT_L1].item()

    after, scored_after = run("lipi_simple_pte", 0.5)
    before, scored_before = run(Paired(score_replacement=True), 0.5)
    _, unpruned = run(Paired(score_replacement=True), 0.0)
    for name, value in before.centers.state_dict().items():
        assert torch.equal(after.centers.state_dict()[name], value), name
    assert scored_before == pytest.approx(unpruned, abs=1e-7)  # scored before pruning
    data = tiny_data.splits["train"].tensors[0]
    order = pass_orders(after.pack.seeds, 0, 0, len(data), data.device, True)[0]
    first = data[order[: after.batch_size]]
    pruned = (after.centers(first) - first).abs().mean().item()
    assert scored_after == pytest.approx(pruned, abs=1e-6)  # the pruned centers' score
    assert scored_after != pytest.approx(scored_before, abs=1e-4)


def test_all_vs_all_refuses_ddp_in_one_line():
    from lit_evoae.systems.sharding import check_split

    strategy = CoevolutionStrategy(cell_evaluation="all_vs_all")
    with pytest.raises(ConfigError, match=r"AllVsAll .* cannot be split over 2 processes"):
        check_split(2, 4, strategy)
    check_split(1, 5, strategy)  # one process: fine


def test_an_all_vs_all_population_too_large_for_memory_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"a population of 10000000 cells needs about"):
        make_system(
            "synchronous", "all_vs_all", input_dim=1000, topology=Ring(size=10**7), seeds=None
        )
