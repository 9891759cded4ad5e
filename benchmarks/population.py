"""One generation of the paper's coevolution setting: batched population vs a loop of modules.

Setting: N=10 cells on a ring (radius 1), D=1000, batch 5, 200 training steps.
  batched: CoevolutionaryAutoencoder.generation in synchronous order (one scoring call,
           stacked forward/backward, StackedAdam), as the Lightning step runs it;
  loop:    N plain nn.Module autoencoders, each with torch.optim.Adam, scored pair by pair
           and stepped one after another: the same arithmetic, one individual at a time.
Each path runs in its own process so the peak resident memory is its own.

    python benchmarks/population.py [--device cuda] [--generations 3]
"""

import argparse
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import torch

N, D, BATCH, STEPS = 10, 1000, 5, 200


def batches(device: str) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    data = (torch.rand(STEPS * BATCH, D, generator=generator) < 0.5).float()
    return [chunk.to(device) for chunk in data.split(BATCH)]


def batched_generation(device: str, generations: int) -> float:
    from lit_evoae.systems import CoevolutionaryAutoencoder

    torch.manual_seed(0)
    system = CoevolutionaryAutoencoder(D, lr=1e-5).to(device)
    return time_generations(system, torch.cat(batches(device)), generations, device)


def time_generations(system, data: torch.Tensor, generations: int, device: str) -> float:
    """Seconds per generation of `system` over the training set `data` (examples, D)."""
    system.batch_size = BATCH
    start = time.perf_counter()
    for generation in range(generations):
        system.generation(data, generation)
    _sync(device)
    return (time.perf_counter() - start) / generations


def loop_generation(device: str, generations: int) -> float:
    from lit_evoae.nets import Autoencoder, layer_sizes

    torch.manual_seed(0)
    sizes = layer_sizes(D, [30], 10)
    centers = [Autoencoder(*sizes).to(device) for _ in range(N)]
    data = batches(device)
    neighbours = [[cell, (cell - 1) % N, (cell + 1) % N] for cell in range(N)]
    start = time.perf_counter()
    for _ in range(generations):
        with torch.no_grad():  # score every pairing of every neighbourhood, one at a time
            for row in neighbours:
                for encoder in row:
                    for decoder in row:
                        recon = centers[decoder].decoder(centers[encoder].encoder(data[0]))
                        (recon - data[0]).abs().mean().item()
        trainees = [Autoencoder(*sizes).to(device) for _ in range(N)]
        for trainee, center in zip(trainees, centers, strict=True):
            trainee.load_state_dict(center.state_dict())
        optimisers = [
            torch.optim.Adam(t.parameters(), lr=1e-5, betas=(0.5, 0.999)) for t in trainees
        ]
        for inputs in data:
            for trainee, optimiser in zip(trainees, optimisers, strict=True):
                optimiser.zero_grad()
                (trainee(inputs) - inputs).abs().mean().backward()
                optimiser.step()
        centers = trainees
    _sync(device)
    return (time.perf_counter() - start) / generations


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _measure(path: str, device: str, generations: int, threads: int) -> tuple:
    run = batched_generation if path == "batched" else loop_generation
    torch.set_num_threads(threads)
    run(device, 1)  # warm-up (allocator, kernels)
    seconds = run(device, generations)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else 0.0
    return seconds, peak_mb, gpu_mb


def measure(path: str, device: str, generations: int, threads: int) -> tuple:
    """Run one path in a fresh process (its own peak memory); its errors surface here."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(_measure, path, device, generations, threads).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"N={N} D={D} batch={BATCH} steps/generation={STEPS} device={args.device} "
        f"threads={torch.get_num_threads()}"
    )
    results = {
        path: measure(path, args.device, args.generations, args.threads)
        for path in ("batched", "loop")
    }
    for path, (seconds, peak_mb, gpu_mb) in results.items():
        gpu = f"  peak GPU {gpu_mb:8.1f} MiB" if gpu_mb else ""
        print(f"{path:8s} {seconds:8.3f} s/generation  peak RSS {peak_mb:8.1f} MiB{gpu}")
    ratio = results["loop"][0] / results["batched"][0]
    print(f"speed-up batched vs loop: {ratio:.2f}x  (target >= 5x)")
    print(f"400 generations, batched compute only: {400 * results['batched'][0] / 60:.1f} min")


if __name__ == "__main__":
    main()
