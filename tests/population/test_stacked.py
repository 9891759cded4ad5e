import pytest
import torch

from lit_evoae.nets import Autoencoder, layer_sizes, load_autoencoder, save_autoencoder
from lit_evoae.population.stacked import StackedAutoencoder, reconstruction_l1

SIZES = layer_sizes(12, [6], 3)


@pytest.fixture
def population():
    torch.manual_seed(0)
    return StackedAutoencoder(4, *SIZES)


def test_batched_forward_equals_each_individual_as_a_plain_module(population):
    inputs = torch.rand(5, 12)
    stacked = population(inputs)
    assert stacked.shape == (4, 5, 12)
    for index in range(4):
        torch.testing.assert_close(stacked[index], population.individual(index)(inputs))


def test_individuals_are_initialised_independently(population):
    first = population.encoders[0].weight
    assert not torch.equal(first[0], first[1])
    bound = 1 / 12**0.5
    assert bool((first.abs() <= bound).all())


def test_per_individual_inputs_are_routed_to_their_individual(population):
    inputs = torch.rand(4, 5, 12)
    out = population(inputs)
    torch.testing.assert_close(out[2], population.individual(2)(inputs[2]))


def test_individual_is_an_independent_copy(population):
    plain = population.individual(1)
    with torch.no_grad():
        for parameter in plain.parameters():
            parameter.add_(1.0)
    assert not torch.equal(population.individual(1).encoder[0].weight, plain.encoder[0].weight)


def test_load_individual_replaces_only_that_slot(population):
    before = [population.individual(index) for index in range(4)]
    replacement = Autoencoder(*SIZES)
    population.load_individual_(2, replacement)
    inputs = torch.rand(3, 12)
    torch.testing.assert_close(population.individual(2)(inputs), replacement(inputs))
    for index in (0, 1, 3):
        torch.testing.assert_close(population.individual(index)(inputs), before[index](inputs))


def test_load_individual_of_another_shape_is_refused(population):
    with pytest.raises(ValueError, match="do not match"):
        population.load_individual_(0, Autoencoder(*layer_sizes(12, [7], 3)))


def test_gradients_do_not_cross_individuals(population):
    population(torch.rand(5, 12))[1].sum().backward()
    grad = population.encoders[0].weight.grad
    assert grad[1].abs().sum() > 0
    assert grad[[0, 2, 3]].abs().sum() == 0


def test_masks_zero_weights_and_count_as_sparsity(population):
    assert torch.equal(population.sparsity(), torch.zeros(4))
    layer = population.decoders[0]
    layer.weight_mask[3, :, :2] = False  # incoming weights of units 0, 1: 3 * 2 = 6
    layer.bias_mask[3, 0] = False
    population.apply_masks_()
    assert bool((layer.weight[3, :, :2] == 0).all()) and layer.bias[3, 0] == 0
    plain = population.individual(3).decoder[0]
    assert bool((plain.weight[:2] == 0).all())  # rows of nn.Linear's (out, in) weight
    assert population.pruned() and population.pruned(3) and not population.pruned(slice(0, 3))
    expected = 7 / population.parameters_per_individual()
    torch.testing.assert_close(population.sparsity(), torch.tensor([0, 0, 0, expected]))


def test_live_parameters_count_each_half_s_nonzero_entries(population):
    plain = population.individual(0)
    full = [sum(p.numel() for p in half.parameters()) for half in (plain.encoder, plain.decoder)]
    population.encoders[0].weight_mask[1, :, :2] = False  # units 0, 1: 12 inputs each
    list(population.decoders.linears())[1].bias_mask[2, :4] = False
    population.apply_masks_()
    encoder, decoder = population.live_parameters()
    assert encoder.tolist() == [full[0], full[0] - 24, full[0], full[0]]
    assert decoder.tolist() == [full[1], full[1], full[1] - 4, full[1]]


def test_parameter_count_matches_the_plain_module(population):
    plain = population.individual(0)
    assert population.parameters_per_individual() == sum(p.numel() for p in plain.parameters())


def test_masks_travel_in_the_state_dict(population):
    population.encoders[0].weight_mask[0, 0, 0] = False
    copy = StackedAutoencoder(4, *SIZES)
    copy.load_state_dict(population.state_dict())
    assert not copy.encoders[0].weight_mask[0, 0, 0]


def test_index_runs_the_chosen_individuals(population):
    inputs = torch.rand(5, 12)
    chosen = torch.tensor([3, 3, 0])
    out = population(inputs, chosen)
    assert out.shape == (3, 5, 12)
    torch.testing.assert_close(out[0], population.individual(3)(inputs))
    torch.testing.assert_close(out[2], population.individual(0)(inputs))


def test_copy_individuals_moves_weights_and_masks_together(population):
    from lit_evoae.population.stacked import copy_individuals_

    source = StackedAutoencoder(4, *SIZES)
    source.decoders[0].weight_mask[2] = False
    copy_individuals_(population, source, torch.tensor([0, 1]), torch.tensor([2, 2]))
    inputs = torch.rand(3, 12)
    for slot in (0, 1):
        torch.testing.assert_close(
            population.individual(slot)(inputs), source.individual(2)(inputs)
        )
        assert not population.decoders[0].weight_mask[slot].any()
    assert population.decoders[0].weight_mask[2].all()


def variational_population():
    torch.manual_seed(0)
    return StackedAutoencoder(3, *layer_sizes(6, [5], 2), variational=True)


def test_a_variational_population_has_two_heads_numbered_after_the_trunk():
    population = variational_population()
    shapes = [(linear.in_features, linear.out_features) for linear in population.linears()]
    assert shapes == [(6, 5), (5, 2), (5, 2), (2, 5), (5, 6)]  # trunk, mu, log var, decoder
    plain = population.individual(1)
    assert [tuple(layer.weight.shape) for layer in plain.linears()] == [
        (5, 6),
        (2, 5),
        (2, 5),
        (5, 2),
        (6, 5),
    ]
    inputs = torch.rand(4, 6)
    torch.testing.assert_close(plain(inputs), population(inputs)[1])  # reconstructs from mu


def test_a_variational_code_is_sampled_and_scored_as_the_reference_scores_it():
    """z = mu + exp(log var / 2) * eps; loss = BCE summed over the elements + KL, where
    KL = -1/2 sum(1 + log var - mu^2 - exp(log var)), written out for one network."""
    population = variational_population()
    inputs, noise = torch.rand(4, 6), torch.randn(3, 4, 2)
    code, divergence = population.latent(inputs, noise=noise)
    targets = torch.rand(4, 6).round()
    losses = population.losses(population.decode(code), targets, divergence)
    net = population.individual(2)
    hidden = net.encoder(inputs)
    mean, log_variance = net.means(hidden), net.log_variances(hidden)
    z = mean + torch.exp(0.5 * log_variance) * noise[2]
    entropy = torch.nn.functional.binary_cross_entropy(net.decoder(z), targets, reduction="sum")
    kl = -0.5 * torch.sum(1 + log_variance - mean.pow(2) - log_variance.exp())
    torch.testing.assert_close(losses[2], entropy + kl)
    torch.testing.assert_close(divergence[2], kl)
    code_at_mean, _ = population.latent(inputs)  # no noise: the code is mu
    torch.testing.assert_close(code_at_mean[2], mean)


def test_a_plain_populations_loss_is_the_mean_l1_and_it_has_no_divergence():
    torch.manual_seed(0)
    population = StackedAutoencoder(2, *layer_sizes(6, [5], 2))
    inputs = torch.rand(4, 6)
    code, divergence = population.latent(inputs, noise=torch.randn(2, 4, 2))
    assert divergence is None and torch.equal(code, population.encode(inputs))
    reconstructions = population.decode(code)
    expected = (reconstructions - inputs).abs().mean(dim=(1, 2))
    torch.testing.assert_close(population.losses(reconstructions, inputs, None), expected)


def test_a_variational_network_saves_and_loads_as_itself(tmp_path):
    net = variational_population().individual(0)
    save_autoencoder(net, tmp_path / "vae.pt")
    loaded = load_autoencoder(tmp_path / "vae.pt")
    inputs = torch.rand(4, 6)
    assert loaded.variational
    torch.testing.assert_close(loaded(inputs), net(inputs))


def test_reconstruction_l1_is_the_mean_per_individual():
    reconstructions = torch.zeros(2, 3, 4)
    inputs = torch.ones(3, 4)
    inputs_per_row = torch.stack([inputs, 2 * inputs])
    assert reconstruction_l1(reconstructions, inputs).tolist() == [1.0, 1.0]
    assert reconstruction_l1(reconstructions, inputs_per_row).tolist() == [1.0, 2.0]
