"""Tutorial 3: vectors of your own, as a file lit_evoae reads.

Writes `vectors.npy` (or the path given): 600 examples of 64 features, each a noisy
mixture of two of eight smooth "spectra", values in [0, 1]. Any (examples, features)
array works the same way: .npy, .npz, .pt or .csv.
"""

import sys

import numpy as np


def make_vectors(examples: int = 600, features: int = 64, seed: int = 0) -> np.ndarray:
    generator = np.random.default_rng(seed)
    grid = np.linspace(0, 1, features)
    centres = generator.uniform(0.1, 0.9, size=8)
    spectra = np.exp(-((grid[None, :] - centres[:, None]) ** 2) / 0.01)  # (8, features)
    picks = generator.integers(0, 8, size=(examples, 2))
    weights = generator.uniform(0.3, 1.0, size=(examples, 2, 1))
    vectors = (weights * spectra[picks]).sum(1) + generator.normal(0, 0.03, (examples, features))
    return np.clip(vectors / vectors.max(), 0, 1).astype(np.float32)


if __name__ == "__main__":
    np.save(sys.argv[1] if len(sys.argv) > 1 else "vectors.npy", make_vectors())
