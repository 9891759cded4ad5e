import pytest
import torch

from lit_evoae import keys
from lit_evoae.errors import ConfigError
from lit_evoae.systems import CanonicalAutoencoder


def make_model(**overrides):
    return CanonicalAutoencoder(
        **{"input_dim": 24, "hidden_sizes": (8,), "latent_dim": 3, "lr": 1e-2, **overrides}
    )


def test_it_is_a_population_of_one_with_the_configured_layers():
    model = make_model()
    assert model.population.population_size == 1
    assert model.population.encoder_sizes == [24, 8, 3]
    assert model.population.decoder_sizes == [3, 8, 24]
    inputs = torch.rand(5, 24)
    torch.testing.assert_close(model(inputs), model.autoencoder()(inputs))


@pytest.mark.integration
def test_training_lowers_the_validation_loss(tiny_data, quiet_trainer):
    torch.manual_seed(0)
    model = make_model()
    trainer = quiet_trainer(max_epochs=15)
    before = trainer.validate(model, datamodule=tiny_data, verbose=False)[0][keys.VAL_L1]
    trainer.fit(model, datamodule=tiny_data)
    after = trainer.callback_metrics[keys.VAL_L1].item()
    assert after < before - 0.05


@pytest.mark.integration
def test_logs_the_metric_names_later_tools_rely_on(tiny_data, quiet_trainer):
    model = make_model()
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, datamodule=tiny_data)
    logged = set(trainer.callback_metrics)
    assert {keys.TRAIN_LOSS, keys.VAL_L1, keys.MODEL_PARAMS, keys.MODEL_SPARSITY} <= logged
    assert trainer.callback_metrics[keys.MODEL_PARAMS].item() == sum(
        p.numel() for p in model.autoencoder().parameters()
    )
    (result,) = trainer.test(model, datamodule=tiny_data, verbose=False)
    sizes = {keys.MODEL_ENCODER_LIVE, keys.MODEL_DECODER_LIVE}
    assert set(result) == {keys.TEST_L1, keys.MODEL_PARAMS, keys.MODEL_SPARSITY, *sizes}
    halves = model.autoencoder().encoder, model.autoencoder().decoder
    assert [result[key] for key in sorted(sizes, reverse=True)] == [
        sum(int((p != 0).sum()) for p in half.parameters()) for half in halves
    ]


@pytest.mark.integration
def test_masked_weights_stay_zero_through_training(tiny_data, quiet_trainer):
    model = make_model()
    layer = model.population.encoders[0]
    layer.weight_mask[0, :, :5] = False
    layer.apply_masks_()
    quiet_trainer(max_epochs=2).fit(model, datamodule=tiny_data)
    assert bool((layer.weight[0, :, :5] == 0).all())
    assert layer.weight[0, :, 5:].abs().sum() > 0
    expected = 24 * 5 / model.population.parameters_per_individual()
    assert model.population.sparsity()[0].item() == pytest.approx(expected)


@pytest.mark.integration
@pytest.mark.parametrize(("max_epochs", "step_size"), [(400, 100), (8, 2), (3, 1)])
def test_step_lr_period_is_a_quarter_of_the_epochs(max_epochs, step_size, quiet_trainer):
    model = make_model()
    model.trainer = quiet_trainer(max_epochs=max_epochs)
    assert model.learning_rate(step_size - 1) == pytest.approx(1e-2)
    assert model.learning_rate(step_size) == pytest.approx(1e-3)
    assert model.learning_rate(2 * step_size) == pytest.approx(1e-4)
    assert model.adam.betas == (0.5, 0.999)


@pytest.mark.integration
def test_explicit_step_period_and_unbounded_epochs(quiet_trainer):
    model = make_model(lr_step_epochs=7)
    model.trainer = quiet_trainer(max_epochs=-1)
    assert model.learning_rate(6) == pytest.approx(1e-2)
    assert model.learning_rate(7) == pytest.approx(1e-3)
    model = make_model()
    model.trainer = quiet_trainer(max_epochs=-1)
    with pytest.raises(ConfigError, match="lr_step_epochs"):
        model.learning_rate(0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("input_dim", 0),
        ("latent_dim", -1),
        ("lr", 0.0),
        ("lr_gamma", 2.0),
        ("hidden_sizes", (8, 0)),
        ("betas", (0.5, 1.0)),
    ],
)
def test_out_of_range_arguments_name_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        make_model(**{field: value})


@pytest.mark.integration
def test_checkpoint_loads_with_weights_only(tiny_data, quiet_trainer, tmp_path):
    model = make_model()
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(model, datamodule=tiny_data)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    checkpoint = torch.load(tmp_path / "model.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["hidden_sizes"] == (8,)
    restored = CanonicalAutoencoder.load_from_checkpoint(tmp_path / "model.ckpt")
    inputs = torch.rand(3, 24)
    torch.testing.assert_close(restored(inputs), model(inputs))


@pytest.mark.integration
def test_data_shuffle_false_trains_in_the_stored_order(tiny_data, quiet_trainer, monkeypatch):
    import lit_evoae.systems.canonical as canonical

    seen = []
    original = canonical.train_pass
    monkeypatch.setattr(
        canonical, "train_pass", lambda *a, **k: (seen.append(a[4]), original(*a, **k))[1]
    )
    tiny_data.shuffle = False
    quiet_trainer(max_epochs=2).fit(make_model(), datamodule=tiny_data)
    assert len(seen) == 2 and all(torch.equal(o[0], torch.arange(len(o[0]))) for o in seen)
