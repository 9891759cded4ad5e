"""Candidates for the population's batched Adam step, timed side by side in one process.

Setting: a population of N autoencoders D->30->10->30->D (the paper's network), one
gradient per individual, per-individual learning rates and step counts.
  broadcast: StackedAdam's broadcast kernel: plain tensor ops on the stacked tensors, the
             rates and bias corrections broadcast along the population dimension (what
             ships for CUDA);
  fused:     StackedAdam's CPU kernel: torch's fused Adam kernel (torch._fused_adam_,
             private) called once per individual on per-individual views (what ships for CPU);
  foreach:   torch._foreach_* over per-individual views, per-tensor scalar lists;
  compiled:  the broadcast step under torch.compile (only with --compile: minutes to build).

Under `reset_every_step` (the paper's dynamics: a fresh Adam at every step) every update is
Adam's first, lr * g / (|g| + eps); its candidates, timed per network for populations of
1, 8, 64 and 256 (`--first-step`):
  reset+fused:     zero the moments, then the fused kernel (what shipped before);
  reset+broadcast: zero the moments, then the broadcast kernel;
  first/tensor:    the first-step update directly, four ops per parameter tensor;
  first/foreach:   the same as torch._foreach_* over the tensors: a fixed number of
                   dispatches whatever the number of layers;
  first/flat:      the gradients concatenated into one (N, P) tensor, updated by four ops,
                   and added back with one _foreach_add_.

    python benchmarks/adam.py [--device cuda] [--population 10 32] [--threads 1]
    python benchmarks/adam.py --first-step [--device cuda] [--threads 1]
"""

import argparse
import time

import torch

from lit_evoae.nets import layer_sizes
from lit_evoae.population.optim import StackedAdam
from lit_evoae.population.stacked import StackedAutoencoder

D, BETAS, EPS, REPEATS = 1000, (0.5, 0.999), 1e-8, 200


def setup(population_size: int, device: str):
    torch.manual_seed(0)
    population = StackedAutoencoder(population_size, *layer_sizes(D, [30], 10)).to(device)
    for parameter in population.parameters():
        parameter.grad = torch.randn_like(parameter) * 1e-3
    rates = torch.full((population_size,), 1e-5, device=device)
    return population, rates


def _stepped(population, adam):
    """What StackedAdam.step_ hands its kernels: (parameter, gradient, moment, moment)."""
    groups, rows = adam._bind(population)
    return [(p.data, p.grad, m, v) for p, _, m, v in groups], rows


def broadcast(population, rates):
    adam = StackedAdam(population, BETAS).to(rates.device)
    stepped, _ = _stepped(population, adam)

    def step():
        adam.steps += 1
        adam._broadcast_step(stepped, rates)

    return step


def fused(population, rates):
    adam = StackedAdam(population, BETAS).to(rates.device)
    stepped, rows = _stepped(population, adam)

    def step():
        adam.steps += 1
        adam._fused_step(stepped, rows, rates)

    return step


def foreach(population, rates):
    adam = StackedAdam(population, BETAS).to(rates.device)
    flat = lambda tensors: [row for tensor in tensors for row in tensor.unbind(0)]  # noqa: E731
    params = flat([p.data for p in population.parameters()])
    grads = flat([p.grad for p in population.parameters()])
    exp_avgs = flat([m for m, _ in adam.moments()])
    exp_avg_sqs = flat([v for _, v in adam.moments()])
    tensors = len(list(population.parameters()))

    def step():
        adam.steps += 1
        steps = adam.steps.double()
        step_sizes = (rates.double() / (1 - BETAS[0] ** steps)).tolist() * tensors
        corrections = (1 - BETAS[1] ** steps).sqrt().tolist() * tensors
        torch._foreach_lerp_(exp_avgs, grads, 1 - BETAS[0])
        torch._foreach_mul_(exp_avg_sqs, BETAS[1])
        torch._foreach_addcmul_(exp_avg_sqs, grads, grads, 1 - BETAS[1])
        denoms = torch._foreach_sqrt(exp_avg_sqs)
        torch._foreach_div_(denoms, corrections)
        torch._foreach_add_(denoms, EPS)
        torch._foreach_addcdiv_(params, exp_avgs, denoms, [-s for s in step_sizes])

    return step


def compiled(population, rates):
    step = broadcast(population, rates)
    return torch.compile(step)


def reset_then(kernel):
    def make(population, rates):
        adam = StackedAdam(population, BETAS).to(rates.device)
        stepped, rows = _stepped(population, adam)

        def step():
            adam.reset_()
            adam.steps += 1
            if kernel == "fused":
                adam._fused_step(stepped, rows, rates)
            else:
                adam._broadcast_step(stepped, rates)

        return step

    return make


def _first_step_tensors(population, rates):
    parameters = [p.data for p in population.parameters()]
    gradients = [p.grad for p in population.parameters()]
    shaped = [rates.view(-1, *[1] * (p.dim() - 1)) for p in parameters]
    return parameters, gradients, shaped


def first_per_tensor(population, rates):
    parameters, gradients, shaped = _first_step_tensors(population, rates)

    def step():
        for parameter, gradient, rate in zip(parameters, gradients, shaped, strict=True):
            denominator = gradient.abs().add_(EPS)
            parameter.addcdiv_(gradient * rate, denominator, value=-1.0)

    return step


def first_foreach(population, rates):
    parameters, gradients, shaped = _first_step_tensors(population, rates)

    def step():
        denominators = torch._foreach_abs(gradients)
        torch._foreach_add_(denominators, EPS)
        updates = torch._foreach_mul(gradients, shaped)
        torch._foreach_addcdiv_(parameters, updates, denominators, value=-1.0)

    return step


def first_flat(population, rates):
    parameters, gradients, _ = _first_step_tensors(population, rates)
    sizes = [g[0].numel() for g in gradients]

    def step():
        flat = torch.cat([g.flatten(1) for g in gradients], 1)
        update = flat.abs().add_(EPS)
        torch.div(flat, update, out=update).mul_(rates.unsqueeze(1)).neg_()
        pieces = [
            piece.view_as(p) for piece, p in zip(update.split(sizes, 1), parameters, strict=True)
        ]
        torch._foreach_add_(parameters, pieces)

    return step


FIRST_STEP = {
    "reset+fused": reset_then("fused"),
    "reset+broadcast": reset_then("broadcast"),
    "first/tensor": first_per_tensor,
    "first/foreach": first_foreach,
    "first/flat": first_flat,
}


def first_step_table(device: str) -> None:
    """Per-network time of one update under reset_every_step, each candidate side by side."""
    for size in (1, 8, 64, 256):
        times = {}
        for name, make in FIRST_STEP.items():
            population, rates = setup(size, device)
            times[name] = seconds_per_step(make(population, rates), device) / size
        line = "  ".join(f"{name} {1e3 * t:7.4f}" for name, t in times.items())
        print(
            f"first step T={size:3d} (ms per network): {line}  fastest: {min(times, key=times.get)}"
        )


def seconds_per_step(step, device: str) -> float:
    for _ in range(10):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(REPEATS):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / REPEATS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--population", type=int, nargs="+", default=[1, 10, 32])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument(
        "--first-step", action="store_true", help="time the reset_every_step candidates instead"
    )
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    print(f"device={options.device} threads={torch.get_num_threads()} D={D} net 30/10")
    if options.first_step:
        first_step_table(options.device)
        return
    candidates = {"broadcast": broadcast, "fused": fused, "foreach": foreach}
    if options.compile:
        candidates["compiled"] = compiled
    for size in options.population:
        times = {}
        for name, make in candidates.items():
            population, rates = setup(size, options.device)
            times[name] = seconds_per_step(make(population, rates), options.device)
        line = "  ".join(f"{name} {1e3 * t:7.3f} ms" for name, t in times.items())
        best = min(times, key=times.get)
        print(f"N={size:4d}: {line}  fastest: {best}")


if __name__ == "__main__":
    main()
