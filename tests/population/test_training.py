import torch

from lit_evoae.nets import layer_sizes
from lit_evoae.population.optim import StackedAdam
from lit_evoae.population.stacked import StackedAutoencoder, reconstruction_l1
from lit_evoae.population.training import pass_orders, steps_per_pass, train_pass


def test_a_trials_shuffle_depends_on_its_seed_generation_and_pass_only():
    orders = pass_orders([3, 4], generation=2, pass_index=1, length=9)
    assert orders.shape == (2, 9)
    assert all(sorted(row.tolist()) == list(range(9)) for row in orders)
    alone = pass_orders([4], generation=2, pass_index=1, length=9)
    assert torch.equal(orders[1], alone[0])  # the same beside another trial
    assert not torch.equal(orders[1], pass_orders([4], 3, 1, 9)[0])
    assert not torch.equal(orders[1], pass_orders([4], 2, 0, 9)[0])


def test_without_shuffle_every_trial_takes_the_stored_order_and_draws_nothing():
    state = torch.random.get_rng_state()
    orders = pass_orders([3, 4], generation=2, pass_index=1, length=5, shuffle=False)
    assert orders.tolist() == [[0, 1, 2, 3, 4]] * 2
    assert torch.equal(torch.random.get_rng_state(), state)


def test_steps_per_pass_counts_a_last_short_minibatch():
    assert steps_per_pass(10, 5) == 2 and steps_per_pass(11, 5) == 3


def test_a_pass_takes_every_minibatch_in_each_rows_order_and_lowers_the_loss():
    torch.manual_seed(0)
    population = StackedAutoencoder(2, *layer_sizes(6, [4], 2))
    adam = StackedAdam(population)
    data = torch.rand(7, 6).round()
    orders = torch.stack([torch.arange(7), torch.arange(7).flip(0)])
    seen = []

    def losses_of(step, inputs, targets):
        assert inputs is targets  # no corruption: the minibatch itself
        seen.append(inputs.clone())
        return reconstruction_l1(population(inputs), inputs)

    first = train_pass(
        population, adam, torch.full((2,), 0.05, dtype=torch.float64), data, orders, 3, losses_of
    )
    assert first.shape == (3, 2)  # 3 steps (3 + 3 + 1 examples), two individuals
    assert torch.equal(seen[0][0], data[:3]) and torch.equal(seen[0][1], data[[6, 5, 4]])
    assert seen[2].shape == (2, 1, 6)
    assert int(adam.steps[0]) == 3
    for _ in range(30):
        last = train_pass(
            population,
            adam,
            torch.full((2,), 0.05, dtype=torch.float64),
            data,
            orders,
            3,
            losses_of,
        )
    assert bool((last.mean(0) < first.mean(0)).all())


def test_a_pass_returns_each_steps_losses_in_the_losses_own_dtype():
    torch.manual_seed(0)
    population = StackedAutoencoder(2, *layer_sizes(6, [4], 2)).double()
    adam = StackedAdam(population)
    data = torch.rand(5, 6, dtype=torch.float64).round()
    orders = torch.stack([torch.arange(5), torch.arange(5).flip(0)])
    returned = []

    def losses_of(step, inputs, targets):
        losses = reconstruction_l1(population(inputs), inputs)
        returned.append(losses.detach().clone())
        return losses

    rates = torch.full((2,), 0.05, dtype=torch.float64)
    losses = train_pass(population, adam, rates, data, orders, 2, losses_of)
    assert losses.dtype == torch.float64  # a float64 population's losses are not rounded
    assert torch.equal(losses, torch.stack(returned))
