import torch

from lit_evoae.nets import layer_sizes
from lit_evoae.population.packing import Pack
from lit_evoae.population.stacked import StackedAutoencoder
from lit_evoae.pruning.activations import ActivationMoments


def population_and_moments():
    torch.manual_seed(0)
    population = StackedAutoencoder(3, *layer_sizes(10, [6], 4))
    return population, ActivationMoments(population).attach()


def activations_of(population, inputs, individual):
    """Every layer's post-activation output of one individual, run as a plain module."""
    outputs, values = [], inputs
    plain = population.individual(individual)
    for part in (plain.encoder, plain.decoder):
        for layer in part:
            values = layer(values)
            if not isinstance(layer, torch.nn.Linear):
                outputs.append(values)
    return outputs


def test_running_moments_equal_the_moments_of_all_activations_seen():
    population, moments = population_and_moments()
    batches = [torch.rand(5, 10) for _ in range(7)]
    for batch in batches:
        population(batch)
    everything = torch.cat(batches)
    for individual in range(3):
        for layer, values in enumerate(activations_of(population, everything, individual)):
            torch.testing.assert_close(moments.mean[layer][individual], values.mean(0))
            torch.testing.assert_close(
                moments.variance(layer)[individual],
                values.var(0, unbiased=False),
                atol=1e-6,
                rtol=1e-4,
            )
    assert [count[0].item() for count in moments.count] == [35.0] * 4


def test_memory_does_not_grow_with_batches():
    population, moments = population_and_moments()
    population(torch.rand(5, 10))
    sizes = [tensor.numel() for tensor in moments.mean + moments.m2 + moments.count]
    for _ in range(20):
        population(torch.rand(5, 10))
    assert sizes == [tensor.numel() for tensor in moments.mean + moments.m2 + moments.count]


def test_only_the_individuals_that_ran_are_updated():
    population, moments = population_and_moments()
    population(torch.rand(5, 10), torch.tensor([1]))
    assert moments.count[0].tolist() == [0.0, 5.0, 0.0]
    assert moments.mean[0][0].abs().sum() == 0 and moments.mean[0][2].abs().sum() == 0


def test_evaluation_passes_and_detached_hooks_record_nothing():
    population, moments = population_and_moments()
    population.eval()
    population(torch.rand(5, 10))
    population.train()
    moments.detach()
    population(torch.rand(5, 10))
    assert all(count.sum() == 0 for count in moments.count)


def test_reset_and_state_round_trip():
    population, moments = population_and_moments()
    population(torch.rand(5, 10))
    state = {name: [t.clone() for t in tensors] for name, tensors in moments.state_dict().items()}
    moments.reset_(torch.tensor([0]))
    assert moments.count[2][0] == 0 and moments.count[2][1] == 5
    moments.load_state_dict(state)
    assert moments.count[2][0] == 5


def test_layer_activations_can_take_the_output_layers_logits():
    from lit_evoae.population.stacked import StackedAutoencoder
    from lit_evoae.pruning.activations import layer_activations

    torch.manual_seed(0)
    population = StackedAutoencoder(2, [6, 4, 2], [2, 4, 6])
    inputs = torch.rand(5, 6)
    after = layer_activations(population, inputs)
    logits = layer_activations(population, inputs, output_logits=True)
    assert all(torch.equal(a, b) for a, b in zip(after[:-1], logits[:-1], strict=True))
    torch.testing.assert_close(torch.sigmoid(logits[-1]), after[-1])
    assert bool((logits[-1] < 0).any())  # not squashed into (0, 1)


def test_recording_can_be_limited_to_some_rows_with_the_same_moments_there():
    torch.manual_seed(0)
    population = StackedAutoencoder(3, *layer_sizes(10, [6], 4))
    everyone = ActivationMoments(population).attach()
    some = ActivationMoments(population, recorded=lambda: torch.tensor([0, 2])).attach()
    for _ in range(4):
        population(torch.rand(5, 10))
    for layer in range(len(some.pairs)):
        assert some.count[layer].tolist() == [20.0, 0.0, 20.0]  # row 1 is not recorded
        for row in (0, 2):
            torch.testing.assert_close(some.mean[layer][row], everyone.mean[layer][row])
            torch.testing.assert_close(some.m2[layer][row], everyone.m2[layer][row])


def test_operators_sharing_a_population_share_one_recording_with_their_own_rows_in_it():
    torch.manual_seed(0)
    population = StackedAutoencoder(4, *layer_sizes(10, [6], 4))
    alone = [
        ActivationMoments(population, recorded=lambda: torch.tensor([0, 3])).attach(),
        ActivationMoments(population, recorded=lambda: torch.tensor([1])).attach(),
    ]
    pack = Pack([1, 2, 3, 4])
    first = ActivationMoments.shared(pack, population, lambda: torch.tensor([0, 3]))
    second = ActivationMoments.shared(pack, population, lambda: torch.tensor([1]))
    assert first is second  # one set of hooks, one update per layer and pass
    for _ in range(3):
        population(torch.rand(5, 10))
    for layer in range(len(first.pairs)):
        assert first.count[layer].tolist() == [15.0, 15.0, 0.0, 15.0]  # row 2: nobody's
        for moments, rows in zip(alone, ([0, 3], [1]), strict=True):
            assert torch.equal(first.mean[layer][rows], moments.mean[layer][rows])
            assert torch.equal(first.m2[layer][rows], moments.m2[layer][rows])
    assert pack.moments is first
    first.detach()
    assert ActivationMoments.shared(pack, population, lambda: None) is not first  # a new fit
    other = StackedAutoencoder(4, *layer_sizes(10, [6], 4))  # the trainees made anew
    assert ActivationMoments.shared(pack, other, lambda: None).population is other


def test_a_variational_populations_heads_are_recorded_before_any_activation():
    """Both heads' outputs (mu can be negative, as a logit can) are what the moments see."""
    torch.manual_seed(0)
    population = StackedAutoencoder(2, *layer_sizes(6, [5], 3), variational=True)
    moments = ActivationMoments(population).attach()
    inputs = torch.rand(40, 6)
    population(inputs)
    moments.detach()
    hidden = population.encoders(inputs.expand(2, -1, -1))
    for layer, head in ((1, population.means), (2, population.log_variances)):
        outputs = head(hidden)
        torch.testing.assert_close(moments.mean[layer], outputs.mean(1))
    assert bool((moments.mean[1] < 0).any())
