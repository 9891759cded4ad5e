import math

import pytest

from lit_evoae.errors import ConfigError
from lit_evoae.pruning.schedules import (
    Decrease,
    Exponential,
    FinalN,
    Fixed,
    Increase,
    Population,
    PruneAfter,
)

T, P = 400, 0.5


@pytest.mark.parametrize(
    ("schedule", "generation", "expected"),
    [
        (Fixed(), 0, 0.5),
        (Fixed(), 399, 0.5),
        (Increase(), 0, 0.0),
        (Increase(), 200, 0.25),
        (Increase(), 300, 0.375),
        (Decrease(), 0, 1.0),
        (Decrease(), 200, 0.75),
        (Decrease(), 399, 1 - 0.5 * 399 / 400),
        (Population(), 200, 0.25 / 10),
        (Population(), 0, 0.0),
        (Exponential(), 0, 0.0),
        (Exponential(), 200, 0.5 * (1 - math.exp(-1.0))),
        (Exponential(steepness=4.0), 100, 0.5 * (1 - math.exp(-1.0))),
        (FinalN(), 299, 0.0),
        (FinalN(), 300, 0.5),
        (FinalN(), 399, 0.5),
        (FinalN(fraction=0.5), 199, 0.0),
        (FinalN(fraction=0.5), 200, 0.5),
        (PruneAfter(), 398, 0.0),
        (PruneAfter(), 399, 0.5),
    ],
)
def test_values_at_chosen_generations(schedule, generation, expected):
    assert schedule(generation, T, P, population_size=10) == pytest.approx(expected)


@pytest.mark.parametrize(
    "schedule",
    [Fixed(), Increase(), Decrease(), Population(), Exponential(), FinalN(), PruneAfter()],
)
@pytest.mark.parametrize("probability", [0.0, 0.3, 1.0])
def test_every_schedule_stays_in_the_unit_interval(schedule, probability):
    values = [schedule(g, 7, probability, population_size=3) for g in range(7)]
    assert all(0.0 <= value <= 1.0 for value in values)


def test_final_n_on_few_generations_still_prunes_at_the_end():
    assert [FinalN()(g, 3, 1.0) for g in range(3)] == [0.0, 0.0, 1.0]


@pytest.mark.parametrize(
    ("make", "named"),
    [
        (lambda: Exponential(steepness=0.0), "steepness"),
        (lambda: FinalN(fraction=1.5), "fraction"),
        (lambda: Fixed()(0, 10, 1.5), "probability"),
        (lambda: Fixed()(10, 10, 0.5), "generation 10"),
    ],
)
def test_bad_arguments_name_the_field(make, named):
    with pytest.raises(ConfigError, match=named):
        make()
