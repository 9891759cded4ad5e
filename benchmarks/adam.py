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

    python benchmarks/adam.py [--device cuda] [--population 10 32] [--threads 1]
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
    options = parser.parse_args()
    torch.set_num_threads(options.threads)
    print(f"device={options.device} threads={torch.get_num_threads()} D={D} net 30/10")
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
