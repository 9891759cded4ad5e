"""One pass over the training data for a stacked population, run inside one Lightning step.

A generation of the paper's setting is hundreds of minibatches of five examples: at that
size Lightning's per-batch machinery (hooks, logging, closures) costs as much as the
arithmetic. The systems therefore take the whole training split once per generation and
walk its minibatches here: forward, backward and one batched optimiser step per minibatch.
"""

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from lit_evoae.population.optim import StackedAdam
from lit_evoae.population.stacked import StackedAutoencoder


def pass_orders(
    seeds: Sequence[int],
    generation: int,
    pass_index: int,
    length: int,
    device=None,
    shuffle: bool = True,
) -> Tensor:
    """(trials, length): each trial's shuffle of the training set for one pass, or the stored
    order for all without `shuffle`.

    Drawn from (the trial's seed, generation, pass) alone, so a resumed run replays the same
    order, and a trial trained beside others draws what it would draw alone.
    """
    if not shuffle:
        return torch.arange(length, device=device).expand(len(seeds), length)
    orders = []
    for seed in seeds:
        mixed = ((seed * 1_000_003 + generation) * 10_007 + pass_index) % 2**63
        generator = torch.Generator().manual_seed(mixed)
        orders.append(torch.randperm(length, generator=generator))
    return torch.stack(orders).to(device)


def train_pass(
    population: StackedAutoencoder,
    adam: StackedAdam,
    learning_rates: Tensor,
    data: Tensor,
    orders: Tensor,
    batch_size: int,
    losses_of: Callable[[int, Tensor, Tensor], Tensor],
    masked: bool = True,
    corrupt: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """Train every individual of `population` over `data` (examples, features) once, in
    minibatches of `batch_size`; individual i takes the examples in the order `orders[i]`.

    `losses_of(step, inputs, targets)` gives the individuals' losses (n,) reconstructing
    `targets` (n, batch, features) from `inputs`: the same minibatch, or with `corrupt` (a
    denoising system's) a corrupted copy of it. Returns the losses of every step, (steps, n).
    """
    starts = range(0, orders.shape[1], batch_size)
    # One tensor for every step's losses, made once in the loss's own dtype: a small tensor
    # kept per step split the hole its step's freed temporaries left, so each step took
    # fresh heap (a pack of 128 trials: 7.6 GiB of heap, 2.1 GiB in use; issue 32).
    losses = None
    for step, start in enumerate(starts):
        targets = data[orders[:, start : start + batch_size]]
        inputs = targets if corrupt is None else corrupt(targets)
        step_losses = losses_of(step, inputs, targets)
        step_losses.sum().backward()
        adam.step_(population, learning_rates, masked)  # consumes the gradients
        if losses is None:
            losses = step_losses.new_empty((len(starts), *step_losses.shape))
        losses[step] = step_losses.detach()
    return losses


def steps_per_pass(examples: int, batch_size: int) -> int:
    return -(-examples // batch_size)
