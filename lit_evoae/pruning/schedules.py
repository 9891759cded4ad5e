"""Schedules: the probability that an individual is pruned at a given generation.

Each schedule is a small callable object `schedule(generation, max_generations,
probability, population_size) -> float in [0, 1]`, where `generation` counts from
0 and `probability` is the base probability P. Choose one in the config by
class_path; its own parameters are typed and checked.
"""

import math
from abc import ABC, abstractmethod
from fractions import Fraction

from lit_evoae.arguments import ClosedUnitInterval, PositiveFloat, check
from lit_evoae.errors import ConfigError


class Schedule(ABC):
    def __call__(
        self, generation: int, max_generations: int, probability: float, population_size: int = 1
    ) -> float:
        if max_generations < 1 or not 0 <= generation < max_generations:
            raise ConfigError(
                f"schedule: generation {generation} is outside 0..{max_generations - 1}"
            )
        check("probability", probability, ClosedUnitInterval)
        value = self.value(
            generation / max_generations, generation, max_generations, probability, population_size
        )
        return min(1.0, max(0.0, value))

    @abstractmethod
    def value(
        self,
        progress: float,
        generation: int,
        max_generations: int,
        probability: float,
        population_size: int,
    ) -> float:
        """The raw probability; `progress` is generation / max_generations, in [0, 1)."""


class Fixed(Schedule):
    """P at every generation."""

    def value(self, progress, generation, max_generations, probability, population_size):
        return probability


class Increase(Schedule):
    """P * t/T: rises linearly from 0."""

    def value(self, progress, generation, max_generations, probability, population_size):
        return probability * progress


class Decrease(Schedule):
    """1 - P * t/T: falls linearly from 1 (the reference's formula)."""

    def value(self, progress, generation, max_generations, probability, population_size):
        return 1.0 - probability * progress


class Population(Schedule):
    """P * t / (T * n): rises linearly, divided among the n individuals a cell sees (its
    neighbourhood, 2r + 1 = 3 on the paper's ring, as the reference computes it)."""

    def value(self, progress, generation, max_generations, probability, population_size):
        return probability * progress / max(1, population_size)


class Exponential(Schedule):
    """P * (1 - exp(-steepness * t/T)): rises quickly, then saturates (steepness 2 in the paper)."""

    def __init__(self, steepness: PositiveFloat = 2.0) -> None:
        self.steepness = check("schedule.steepness", steepness, PositiveFloat)

    def value(self, progress, generation, max_generations, probability, population_size):
        return probability * (1.0 - math.exp(-self.steepness * progress))


class FinalN(Schedule):
    """P during the last `fraction` of the generations (the paper: the last 25%), else 0."""

    def __init__(self, fraction: ClosedUnitInterval = 0.25) -> None:
        self.fraction = check("schedule.fraction", fraction, ClosedUnitInterval)

    def value(self, progress, generation, max_generations, probability, population_size):
        # the fraction as written, exactly: 0.07 * 100 is 7.000000000000001 in floats, and its
        # ceiling would prune for 8 generations instead of 7
        window = math.ceil(Fraction(repr(self.fraction)) * max_generations)
        first = max_generations - window
        return probability if generation >= first else 0.0


class PruneAfter(Schedule):
    """P at the last generation only, else 0."""

    def value(self, progress, generation, max_generations, probability, population_size):
        return probability if generation == max_generations - 1 else 0.0
