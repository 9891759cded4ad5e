import shutil

import pytest
import torch

from lit_evoae import compat
from lit_evoae.nets import layer_sizes
from lit_evoae.population import optim
from lit_evoae.population.optim import StackedAdam
from lit_evoae.population.stacked import StackedAutoencoder

SIZES = layer_sizes(16, [6], 3)
BETAS = (0.5, 0.999)


def loss_of(output, inputs):
    return (output - inputs).abs().mean()


@pytest.fixture(params=["fused", "broadcast"])
def kernel(request, monkeypatch):
    """Run each test with torch's fused kernel (CPU) and with the broadcast path (elsewhere)."""
    if request.param == "fused" and compat.fused_adam_ is None:
        pytest.skip("this torch has no fused Adam kernel")
    if request.param == "broadcast":
        monkeypatch.setattr(compat, "fused_adam_", None)
    return request.param


@pytest.mark.integration
@pytest.mark.parametrize("population_size", [1, 3])
def test_matches_torch_adam_step_for_step(population_size, kernel):
    torch.manual_seed(0)
    population = StackedAutoencoder(population_size, *SIZES)
    references = [population.individual(index) for index in range(population_size)]
    rates = torch.tensor([1e-2, 3e-3, 5e-2][:population_size])
    optimisers = [
        torch.optim.Adam(ref.parameters(), lr=rate.item(), betas=BETAS)
        for ref, rate in zip(references, rates, strict=True)
    ]
    adam = StackedAdam(population, betas=BETAS)
    for _ in range(25):
        inputs = torch.rand(5, 16)
        population.zero_grad()
        outputs = population(inputs)
        sum(loss_of(outputs[i], inputs) for i in range(population_size)).backward()
        adam.step_(population, rates)
        for reference, optimiser in zip(references, optimisers, strict=True):
            optimiser.zero_grad()
            loss_of(reference(inputs), inputs).backward()
            optimiser.step()
    for index, reference in enumerate(references):
        for mine, theirs in zip(
            population.individual(index).parameters(), reference.parameters(), strict=True
        ):
            torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("population_size", [1, 3])
def test_reset_every_step_matches_a_fresh_torch_adam_at_every_step(population_size, kernel):
    """The reference implementation creates torch.optim.Adam anew at every training step."""
    torch.manual_seed(1)
    population = StackedAutoencoder(population_size, *SIZES)
    references = [population.individual(index) for index in range(population_size)]
    rates = torch.tensor([1e-2, 3e-3, 5e-2][:population_size], dtype=torch.float64)
    adam = StackedAdam(population, betas=BETAS, state="reset_every_step")
    for _ in range(20):
        inputs = torch.rand(5, 16)
        population.zero_grad()
        outputs = population(inputs)
        sum(loss_of(outputs[i], inputs) for i in range(population_size)).backward()
        # The same gradients for both (a sign-like update amplifies any forward rounding).
        for index, reference in enumerate(references):
            for mine, theirs in zip(population.linears(), reference.linears(), strict=True):
                theirs.weight.grad = mine.weight.grad[index].T.clone()
                theirs.bias.grad = mine.bias.grad[index].clone()
        adam.step_(population, rates)
        for reference, rate in zip(references, rates.tolist(), strict=True):
            torch.optim.Adam(reference.parameters(), lr=rate, betas=BETAS).step()
    assert list(adam.buffers()) == []  # no moments kept, copied or checkpointed
    for index, reference in enumerate(references):
        for mine, theirs in zip(
            population.individual(index).parameters(), reference.parameters(), strict=True
        ):
            torch.testing.assert_close(mine, theirs, atol=1e-6, rtol=0)


def test_masked_entries_stay_zero_with_zero_moments(kernel):
    torch.manual_seed(2)
    population = StackedAutoencoder(2, *SIZES)
    layer = population.encoders[0]
    layer.weight_mask[1, 0, :] = False
    population.apply_masks_()
    adam = StackedAdam(population)
    for _ in range(3):
        population.zero_grad()
        population(torch.rand(4, 16)).sum().backward()
        adam.step_(population, torch.full((2,), 0.1))
    assert bool((layer.weight[1, 0] == 0).all())
    assert bool((adam.exp_avg_0[1, 0] == 0).all()) and bool((adam.exp_avg_sq_0[1, 0] == 0).all())
    assert bool((layer.weight[0, 0] != 0).all())


def test_reset_forgets_one_individual():
    population = StackedAutoencoder(2, *SIZES)
    adam = StackedAdam(population)
    population(torch.rand(4, 16)).sum().backward()
    adam.step_(population, torch.full((2,), 0.1))
    adam.reset_(torch.tensor([0]))
    assert adam.steps.tolist() == [0, 1]
    # buffer 7: the output layer's bias, which always has a gradient through the sigmoid
    assert adam.exp_avg_7[0].abs().sum() == 0 and adam.exp_avg_7[1].abs().sum() > 0


def test_view_cache_stays_bounded_and_follows_a_move(kernel):
    torch.manual_seed(3)
    population = StackedAutoencoder(2, *SIZES)
    adam = StackedAdam(population)
    for _ in range(5):
        population.zero_grad(set_to_none=True)
        population(torch.rand(4, 16)).sum().backward()
        adam.step_(population, torch.full((2,), 0.1))
    assert len(adam._bound[2]) == 2  # one set of views per individual, built once
    population.double()
    adam.double()
    before = population.decoders[-2].bias.detach().clone()
    population.zero_grad(set_to_none=True)
    population(torch.rand(4, 16, dtype=torch.float64)).sum().backward()
    adam.step_(population, torch.full((2,), 0.1))
    assert not torch.equal(population.decoders[-2].bias, before)  # the live tensors moved


def train_stateless(steps: int = 6, population_size: int = 4) -> list[torch.Tensor]:
    """A few reset_every_step steps of a small population (masked on the last ones, about
    a third of the weights pruned)."""
    torch.manual_seed(2)
    population = StackedAutoencoder(population_size, *SIZES)
    for linear in population.linears():
        linear.weight_mask.copy_(torch.rand(linear.weight_mask.shape) < 0.7)
    adam = StackedAdam(population, betas=BETAS, state="reset_every_step")
    rates = torch.tensor([1e-2, 3e-3, 5e-2, 7e-4][:population_size], dtype=torch.float64)
    for step in range(steps):
        inputs = torch.rand(5, 16)
        outputs = population(inputs)
        sum(loss_of(outputs[i], inputs) for i in range(population_size)).backward()
        adam.step_(population, rates, masked=step >= steps // 2)
    return [tensor.detach().clone() for tensor in population.parameters()]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("c++") is None, reason="torch.compile on CPU needs a C++ compiler")
def test_the_compiled_stateless_step_is_bit_identical_to_the_eager_one(monkeypatch):
    eager = train_stateless()
    monkeypatch.setattr(optim, "_COMPILED", {})
    optim.compile_first_step()
    compiled = train_stateless()
    assert "cpu" in optim._COMPILED  # it ran compiled, and did not fall back
    for mine, theirs in zip(compiled, eager, strict=True):
        assert torch.equal(mine, theirs)


def test_a_step_that_fails_to_compile_falls_back_with_one_warning(monkeypatch):
    eager = train_stateless()

    def no_compiler(*args):
        raise RuntimeError("no working C++ compiler found\nmore")

    monkeypatch.setattr(optim, "_COMPILED", {"cpu": no_compiler})
    with pytest.warns(UserWarning, match="compiled optimiser step is off .*no working C"):
        fallen_back = train_stateless()
    assert optim._COMPILED == {}  # the eager step from then on
    for mine, theirs in zip(fallen_back, eager, strict=True):
        assert torch.equal(mine, theirs)
