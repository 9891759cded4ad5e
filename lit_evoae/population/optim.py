"""Adam over a stacked population: one step count, learning rate and moment set per individual.

torch.optim has no per-slice learning rate, and coevolution moves an individual's
optimiser state with its weights when a neighbour is selected. The moments are
therefore buffers shaped like the population's tensors (population first), so
`copy_individuals_` moves them and checkpoints hold them.

One `step_` updates the whole population. Two kernels give the same arithmetic, and
`benchmarks/adam.py` times them and two more candidates side by side:
- on CPU, torch's fused Adam kernel once per individual (one pass over each tensor);
  measured fastest there, about 4x the broadcast path and 2x a compiled one, because a
  CPU step is bound by memory traffic, not by the per-individual call;
- elsewhere (CUDA), plain tensor ops over the stacked tensors with the per-individual
  rates and bias corrections broadcast along the population dimension: a fixed number
  of kernel launches however large the population.

Under `reset_every_step` (a fresh Adam at every step, the paper's dynamics) there is no
state at all: every update is Adam's first, lr * g / (|g| + eps), computed directly as a
fixed number of `torch._foreach_*` calls over the tensors, whatever the number of layers
or individuals. No moments are kept, copied, zeroed or checkpointed (measured against
zeroing moments for the fused kernel: about 2x faster per network at 1 and 8 networks on
one CPU thread, and no slower at 64 and 256; `benchmarks/adam.py --first-step`). A study's
packs run the same update through `torch.compile` (`compile_first_step`): one pass over
each tensor instead of four, with bit-identical results.
"""

import warnings
from typing import Literal

import torch
from torch import Tensor, nn

from lit_evoae import compat
from lit_evoae.population.stacked import StackedAutoencoder

#: persistent: every individual keeps its moments and step count (Adam as usual);
#: reset_every_step: a fresh Adam at every step, as the reference implementation creates
#: one per training step (each update is Adam's first: about lr * sign(gradient)).
OptimizerState = Literal["persistent", "reset_every_step"]


class StackedAdam(nn.Module):
    """Adam (torch.optim.Adam's arithmetic) without weight decay or amsgrad.

    Pruned entries stay pruned: gradients are masked before the update, and
    `apply_masks_` zeroes the moments of newly pruned entries, so the update of a
    pruned weight is exactly 0 (0 / (0 + eps)). Whoever changes masks calls it.
    """

    def __init__(
        self,
        population: StackedAutoencoder,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        state: OptimizerState = "persistent",
    ) -> None:
        super().__init__()
        self.betas = betas
        self.eps = eps
        self.reset_every_step = state == "reset_every_step"
        self._moment_count = 0
        self._bound: tuple | None = None  # see _bind
        if self.reset_every_step:  # stateless: checkpoints of older versions still hold moments
            self.register_load_state_dict_pre_hook(_forget_saved_moments)
            return
        for number, (parameter, _) in enumerate(_parameters_and_masks(population)):
            self._moment_count += 1
            self.register_buffer(f"exp_avg_{number}", torch.zeros_like(parameter.data))
            self.register_buffer(f"exp_avg_sq_{number}", torch.zeros_like(parameter.data))
        self.register_buffer("steps", torch.zeros(population.population_size, dtype=torch.long))

    def moments(self) -> list[tuple[Tensor, Tensor]]:
        """(first, second) moment buffers, in the order of the population's parameters."""
        return [
            (getattr(self, f"exp_avg_{number}"), getattr(self, f"exp_avg_sq_{number}"))
            for number in range(self._moment_count)
        ]

    @torch.no_grad()
    def apply_masks_(
        self, population: StackedAutoencoder, rows: Tensor | slice = slice(None)
    ) -> None:
        """Zero both moments of individuals `rows` wherever `population` is pruned."""
        if self.reset_every_step:  # no moments
            return
        for (_, mask), (exp_avg, exp_avg_sq) in zip(
            _parameters_and_masks(population), self.moments(), strict=True
        ):
            exp_avg[rows] = exp_avg[rows] * mask[rows]
            exp_avg_sq[rows] = exp_avg_sq[rows] * mask[rows]

    def reset_(self, index: Tensor | slice = slice(None)) -> None:
        """Forget the moments and step counts of individuals `index`."""
        for buffer in self.buffers():
            buffer.data[index] = 0

    @torch.no_grad()
    def step_(
        self, population: StackedAutoencoder, learning_rates: Tensor, masked: bool = True
    ) -> None:
        """One Adam step of every individual of `population`, each with its own rate from
        `learning_rates` (population,); the step consumes the gradients (sets them to None).
        Parameters without a gradient are skipped.

        `masked=False` skips masking the gradients: only correct when no individual has a
        pruned entry (the caller knows; it saves a pass over every tensor).
        """
        if self.reset_every_step:
            self._first_step(population, learning_rates, masked)
            return
        self.steps += 1
        groups, rows = self._bind(population)
        stepped = []
        for parameter, mask, exp_avg, exp_avg_sq in groups:
            grad = parameter.grad
            if grad is not None:
                if masked:
                    grad.mul_(mask)
                stepped.append((parameter, grad, exp_avg, exp_avg_sq))
                parameter.grad = None
        if not stepped:
            return
        if compat.fused_adam_ is not None and stepped[0][1].device.type == "cpu":
            self._fused_step(stepped, rows, learning_rates)
        else:
            self._broadcast_step(stepped, learning_rates)

    def _first_step(
        self, population: StackedAutoencoder, learning_rates: Tensor, masked: bool
    ) -> None:
        """Adam's first step, lr * g / (|g| + eps), for every individual at once."""
        pairs = [(p, m) for p, m in _parameters_and_masks(population) if p.grad is not None]
        if not pairs:
            return
        parameters = [parameter.data for parameter, _ in pairs]
        gradients = [parameter.grad for parameter, _ in pairs]
        masks = [mask for _, mask in pairs] if masked else None
        rates = learning_rates.to(parameters[0].dtype)
        compiled = _COMPILED.get(parameters[0].device.type)
        if compiled is None or not _run_compiled(
            compiled, parameters, gradients, masks, rates, self.eps
        ):
            _first_step_foreach_(parameters, gradients, masks, rates, self.eps)
        for parameter, _ in pairs:
            parameter.grad = None

    def _bind(self, population: StackedAutoencoder) -> tuple[list, list]:
        """(parameter, mask, moment, moment) of every tensor, and per individual the views of
        its parameters and moments, built once per population and storage (a step is too
        short to walk the module tree each time)."""
        first = next(population.parameters())
        key = (id(population), first.data_ptr(), self.exp_avg_0.data_ptr())
        if self._bound is None or self._bound[0] != key:
            pairs = zip(_parameters_and_masks(population), self.moments(), strict=True)
            groups = [(*tensors, *moments) for tensors, moments in pairs]
            columns = list(zip(*groups, strict=True))  # parameters, masks, moments, moments
            rows = [
                tuple([tensor.data[row] for tensor in column] for column in columns)
                for row in range(population.population_size)
            ]
            self._bound = (key, groups, rows)
        return self._bound[1], self._bound[2]

    def _fused_step(self, stepped: list, rows: list, learning_rates: Tensor) -> None:
        """torch's fused Adam kernel, once per individual, on per-individual views."""
        steps = self.steps.to(stepped[0][0].dtype).unbind(0)
        everything = len(stepped) == len(rows[0][0])
        grads = [grad.unbind(0) for _, grad, _, _ in stepped]  # new tensors every step
        for row, rate in enumerate(learning_rates.tolist()):
            if everything:
                parameters, _, exp_avgs, exp_avg_sqs = rows[row]
            else:  # some parameter had no gradient
                parameters, exp_avgs, exp_avg_sqs = (
                    [tensor.data[row] for tensor in column]
                    for column in zip(*[(p, m, v) for p, _, m, v in stepped], strict=True)
                )
            compat.fused_adam_(
                parameters,
                [views[row] for views in grads],
                exp_avgs,
                exp_avg_sqs,
                [],
                [steps[row]] * len(parameters),
                lr=rate,
                beta1=self.betas[0],
                beta2=self.betas[1],
                weight_decay=0.0,
                eps=self.eps,
                amsgrad=False,
                maximize=False,
            )

    def _apply(self, fn, *args, **kwargs):
        # Moving to another device or dtype makes new storage; forget the old views.
        self._bound = None
        return super()._apply(fn, *args, **kwargs)

    def _broadcast_step(self, groups: list, learning_rates: Tensor) -> None:
        """The same update for all individuals at once, rates broadcast along the population."""
        beta1, beta2 = self.betas
        steps = self.steps.double()
        # Per individual: lr / (1 - beta1^t) and sqrt(1 - beta2^t), as torch.optim.Adam has them.
        step_size = (learning_rates.double() / (1 - beta1**steps)).float()
        correction2_sqrt = (1 - beta2**steps).sqrt().float()
        for parameter, grad, exp_avg, exp_avg_sq in groups:
            shape = (-1,) + (1,) * (grad.dim() - 1)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            # p -= step_size * m / (sqrt(v) / c2 + eps), torch.optim.Adam's order of operations
            denom = exp_avg_sq.sqrt().div_(correction2_sqrt.view(shape)).add_(self.eps)
            parameter.addcmul_(torch.div(exp_avg, denom, out=denom), -step_size.view(shape))


class PopulationStep(torch.optim.Optimizer):
    """A generation presented to Lightning as one optimiser step.

    Lightning counts optimiser steps into `global_step`, which `ModelCheckpoint` needs
    to move on (it skips a save at a global step it has already saved), and which
    logging intervals and `max_steps` read. The systems run a whole generation inside
    one training step and call `step` once with it, so `global_step` counts generations.
    """

    def __init__(self, parameters) -> None:
        super().__init__(parameters, defaults={})

    def step(self, closure):  # type: ignore[override]
        return closure()


def _first_step_foreach_(
    parameters: list[Tensor],
    gradients: list[Tensor],
    masks: list[Tensor] | None,
    rates: Tensor,
    eps: float,
) -> None:
    """parameter -= rate * g / (|g| + eps), g masked first where `masks` are given, in
    four `_foreach_*` calls over all the tensors (five with masks), so as many passes over
    memory (the gradients are overwritten)."""
    if masks is not None:
        torch._foreach_mul_(gradients, masks)
    shaped = [rates.view(-1, *[1] * (g.dim() - 1)) for g in gradients]
    denominators = torch._foreach_abs(gradients)
    torch._foreach_add_(denominators, eps)
    torch._foreach_mul_(gradients, shaped)
    torch._foreach_addcdiv_(parameters, gradients, denominators, value=-1.0)


def _first_step_per_tensor_(
    parameters: list[Tensor],
    gradients: list[Tensor],
    masks: list[Tensor] | None,
    rates: Tensor,
    eps: float,
) -> None:
    """The same arithmetic, in the same order, as one expression per tensor, the masking
    included: what `torch.compile` fuses into one pass over each tensor (the masked
    gradient is never written back, since the step consumes it)."""
    for index, (parameter, gradient) in enumerate(zip(parameters, gradients, strict=True)):
        if masks is not None:
            gradient = gradient * masks[index]
        rate = rates.view(-1, *[1] * (gradient.dim() - 1))
        parameter.addcdiv_(gradient * rate, gradient.abs() + eps, value=-1.0)


#: Set to 1, this environment variable keeps a study's packs on the eager step.
EAGER_STEP = "LIT_EVOAE_EAGER_STEP"
#: The device types whose stateless step is compiled in a process that asks. CPU only:
#: there it gained (below). On CUDA the foreach calls already run as a few multi-tensor
#: kernels over every tensor, compiling would need Triton, and no gain was measured, so
#: CUDA keeps the foreach form.
COMPILED_ON = ("cpu",)
#: Device type -> the compiled first step, for processes that asked (`compile_first_step`).
_COMPILED: dict[str, object] = {}


def compile_first_step() -> None:
    """Run the stateless update (reset_every_step) through `torch.compile` in this process.

    The foreach form reads and writes every gradient four times; the compiled one makes
    one pass, with bit-identical results (the same IEEE operations in the same order).
    On this project's CPU a 38-trial pack's update took 0.7 ms a step instead of 1.7-2.4.
    Compiling costs seconds (about 20 the first time on this CPU, less from torch's cache)
    and needs a C++ compiler, so only long-running processes (a study's packs) ask for it;
    where compiling fails, the foreach form runs, after one warning.
    """
    for device_type in COMPILED_ON:
        _COMPILED[device_type] = torch.compile(_first_step_per_tensor_, dynamic=False)


def _run_compiled(compiled, parameters, gradients, masks, rates, eps) -> bool:
    """Whether the compiled step ran. A failure to compile turns compiling off; it leaves
    every tensor as it was, since the graph is compiled before it runs."""
    try:
        compiled(parameters, gradients, masks, rates, eps)
        return True
    except Exception as error:  # noqa: BLE001 (no compiler, an unsupported platform: any)
        _COMPILED.pop(parameters[0].device.type, None)
        warnings.warn(
            f"the compiled optimiser step is off ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); the eager step runs",
            stacklevel=2,
        )
        return False


def _parameters_and_masks(population: StackedAutoencoder):
    for linear in population.linears():
        yield linear.weight, linear.weight_mask
        yield linear.bias, linear.bias_mask


def _forget_saved_moments(module, state_dict, prefix, *args) -> None:
    """A stateless StackedAdam loads a checkpoint written while moments were kept (before
    reset_every_step kept none): their buffers are dropped, as every step discarded them."""
    names = [
        key
        for key in state_dict
        if key.startswith(prefix) and key[len(prefix) :].split("_")[0] in ("exp", "steps")
    ]
    for key in names:
        del state_dict[key]
