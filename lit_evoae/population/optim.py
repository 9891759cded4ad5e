"""Adam over a stacked population: one step count, learning rate and moment set per individual.

torch.optim has no per-slice learning rate, and coevolution moves an individual's
optimiser state with its weights when a neighbour is selected. The moments are
therefore buffers shaped like the population's tensors (population first), so
`copy_individuals_` moves them and checkpoints hold them.
"""

import torch
from torch import Tensor, nn

from lit_evoae.population.stacked import StackedAutoencoder

#: torch's fused Adam kernel (CPU since torch 2.4); private, so a plain fallback stays.
FUSED = hasattr(torch, "_fused_adam_")


class StackedAdam(nn.Module):
    """Adam (Kingma & Ba, torch.optim.Adam's arithmetic) without weight decay or amsgrad.

    Pruned entries stay pruned: gradients are masked before the update, and
    `apply_masks_` zeroes the moments of newly pruned entries, so the update of a
    pruned weight is exactly 0 (0 / (0 + eps)). Whoever changes masks calls it.
    """

    def __init__(
        self,
        population: StackedAutoencoder,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        self.betas = betas
        self.eps = eps
        for number, (parameter, _) in enumerate(_parameters_and_masks(population)):
            self.register_buffer(f"exp_avg_{number}", torch.zeros_like(parameter.data))
            self.register_buffer(f"exp_avg_sq_{number}", torch.zeros_like(parameter.data))
        self.register_buffer("steps", torch.zeros(population.population_size, dtype=torch.long))
        self._row_views: dict[tuple, tuple[Tensor, ...]] = {}

    @torch.no_grad()
    def apply_masks_(self, population: StackedAutoencoder) -> None:
        """Zero both moments wherever `population` is pruned."""
        for number, (_, mask) in enumerate(_parameters_and_masks(population)):
            getattr(self, f"exp_avg_{number}").masked_fill_(~mask, 0)
            getattr(self, f"exp_avg_sq_{number}").masked_fill_(~mask, 0)

    def reset_(self, index: Tensor | slice = slice(None)) -> None:
        """Forget the moments and step counts of individuals `index`."""
        for buffer in self.buffers():
            buffer.data[index] = 0

    @torch.no_grad()
    def step_(
        self,
        population: StackedAutoencoder,
        learning_rates: Tensor,
        active: int | slice | None = None,
        masked: bool = True,
    ) -> None:
        """One Adam step for every individual (or only individual `active`, or the contiguous
        block `active` of a rank), each with its own rate from `learning_rates` (population,).
        Parameters without a gradient are skipped.

        `masked=False` skips masking the gradients: only correct when no stepped individual
        has a pruned entry (the caller knows; it saves a pass over every tensor).
        """
        if isinstance(active, slice):
            rows = active
        else:
            rows = slice(None) if active is None else slice(active, active + 1)
        groups = []
        for number, (parameter, mask) in enumerate(_parameters_and_masks(population)):
            if parameter.grad is not None:
                grad = parameter.grad[rows]
                if masked:
                    grad.masked_fill_(~mask[rows], 0)
                exp_avg = getattr(self, f"exp_avg_{number}")[rows]
                exp_avg_sq = getattr(self, f"exp_avg_sq_{number}")[rows]
                groups.append((parameter.data[rows], grad, exp_avg, exp_avg_sq))
        self.steps[rows] += 1
        if FUSED:
            self._fused_step(groups, self.steps[rows], learning_rates[rows])
        else:
            self._elementwise_step(groups, self.steps[rows], learning_rates[rows])

    def _fused_step(self, groups: list, steps: Tensor, learning_rates: Tensor) -> None:
        """torch's fused Adam kernel (what `Adam(fused=True)` runs), once per individual."""
        steps = steps.to(groups[0][0].dtype).unbind(0)
        parameters, grads, exp_avgs, exp_avg_sqs = zip(*groups, strict=True)
        parameters, exp_avgs, exp_avg_sqs = (
            [self._rows(tensor) for tensor in column]
            for column in (parameters, exp_avgs, exp_avg_sqs)
        )
        grads = [grad.unbind(0) for grad in grads]  # new tensors every step
        for row, rate in enumerate(learning_rates.tolist()):
            torch._fused_adam_(
                [views[row] for views in parameters],
                [views[row] for views in grads],
                [views[row] for views in exp_avgs],
                [views[row] for views in exp_avg_sqs],
                [],
                [steps[row]] * len(parameters),
                lr=rate, beta1=self.betas[0], beta2=self.betas[1], weight_decay=0.0,
                eps=self.eps, amsgrad=False, maximize=False,
            )  # fmt: skip

    def _rows(self, tensor: Tensor) -> tuple[Tensor, ...]:
        """Per-individual views of a weight or moment tensor, built once: their storage
        persists between steps (every write to it is in place). Not for gradients."""
        key = (tensor.data_ptr(), tensor.shape, tensor.stride())
        if key not in self._row_views:
            self._row_views[key] = tensor.unbind(0)
        return self._row_views[key]

    def _apply(self, fn, *args, **kwargs):
        # Moving to another device or dtype makes new storage; forget the old views.
        self._row_views.clear()
        return super()._apply(fn, *args, **kwargs)

    def _elementwise_step(self, groups: list, steps: Tensor, learning_rates: Tensor) -> None:
        """The same update in plain tensor ops, for torch builds without the fused kernel."""
        beta1, beta2 = self.betas
        steps = steps.double()
        step_size = (learning_rates.double() / (1 - beta1**steps)).float()
        correction2_sqrt = (1 - beta2**steps).sqrt().float()
        for parameter, grad, exp_avg, exp_avg_sq in groups:
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            shape = (-1,) + (1,) * (grad.dim() - 1)
            # p -= step_size * m / (sqrt(v) / c2 + eps), torch.optim.Adam's order of operations
            denom = exp_avg_sq.sqrt().div_(correction2_sqrt.view(shape)).add_(self.eps)
            parameter.addcdiv_(exp_avg, denom.div_(step_size.view(shape)), value=-1)


class PopulationStep(torch.optim.Optimizer):
    """The population's update presented to Lightning as an optimiser.

    Lightning counts optimiser steps into `global_step`, which drives checkpointing,
    logging intervals and `max_steps`; the update itself (a `StackedAdam.step_` with
    per-individual rates) is passed in as the closure, so this class holds no state.
    """

    def __init__(self, parameters) -> None:
        super().__init__(parameters, defaults={})

    def step(self, closure):  # type: ignore[override]
        return closure()


def _parameters_and_masks(population: StackedAutoencoder):
    for linear in population.linears():
        yield linear.weight, linear.weight_mask
        yield linear.bias, linear.bias_mask
