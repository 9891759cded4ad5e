"""Adam over a stacked population: one step count, learning rate and moment set per individual.

torch.optim has no per-slice learning rate, and coevolution moves an individual's
optimiser state with its weights when a neighbour is selected. The moments are
therefore buffers shaped like the population's tensors (population first), so
`copy_individuals_` moves them and checkpoints hold them.
"""

import torch
from torch import Tensor, nn

from lit_evoae.population.stacked import StackedAutoencoder


class StackedAdam(nn.Module):
    """Adam (Kingma & Ba, torch.optim.Adam's arithmetic) without weight decay or amsgrad.

    Pruned entries stay pruned: after each step, weights and both moments are
    multiplied by the population's masks.
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

    def reset_(self, index: Tensor | slice = slice(None)) -> None:
        """Forget the moments and step counts of individuals `index`."""
        for buffer in self.buffers():
            buffer.data[index] = 0

    @torch.no_grad()
    def step_(
        self,
        population: StackedAutoencoder,
        learning_rates: Tensor,
        active: int | None = None,
    ) -> None:
        """One Adam step for every individual (or only individual `active`), each with its own
        rate from `learning_rates` (population,). Parameters without a gradient are skipped."""
        rows = slice(None) if active is None else slice(active, active + 1)
        beta1, beta2 = self.betas
        self.steps[rows] += 1
        steps = self.steps[rows].double()
        step_size = (learning_rates[rows].double() / (1 - beta1**steps)).float()
        correction2_sqrt = (1 - beta2**steps).sqrt().float()
        for number, (parameter, mask) in enumerate(_parameters_and_masks(population)):
            if parameter.grad is None:
                continue
            grad = parameter.grad[rows]
            exp_avg = getattr(self, f"exp_avg_{number}")[rows]
            exp_avg_sq = getattr(self, f"exp_avg_sq_{number}")[rows]
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            shape = (-1,) + (1,) * (grad.dim() - 1)
            denom = (exp_avg_sq.sqrt() / correction2_sqrt.view(shape)).add_(self.eps)
            parameter.data[rows] -= step_size.view(shape) * exp_avg / denom
            live = mask[rows]
            parameter.data[rows] *= live
            exp_avg.mul_(live)
            exp_avg_sq.mul_(live)


def _parameters_and_masks(population: StackedAutoencoder):
    for linear in population.linears():
        yield linear.weight, linear.weight_mask
        yield linear.bias, linear.bias_mask
