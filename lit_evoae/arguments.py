"""Typed, range-checked argument types shared by every configurable class.

The CLI validates these annotations at parse time (naming the config key);
`check` gives Python callers the same check with the argument's name in the message.
"""

from collections.abc import Sequence
from typing import Any

from jsonargparse.typing import (
    ClosedUnitInterval,
    NonNegativeFloat,
    NonNegativeInt,
    OpenUnitInterval,
    PositiveFloat,
    PositiveInt,
    restricted_number_type,
)

from lit_evoae.errors import ConfigError

#: [0, 1): Adam's betas; a fraction to prune (1 would empty a layer).
HalfOpenUnitInterval = restricted_number_type(
    "HalfOpenUnitInterval", float, [(">=", 0.0), ("<", 1.0)]
)
Beta = HalfOpenUnitInterval

__all__ = [
    "Beta",
    "ClosedUnitInterval",
    "HalfOpenUnitInterval",
    "NonNegativeFloat",
    "NonNegativeInt",
    "OpenUnitInterval",
    "PositiveFloat",
    "PositiveInt",
    "check",
    "check_choice",
    "check_each",
    "restricted_number_type",
]


def check(name: str, value: Any, kind: type) -> Any:
    """`value` as a plain int/float if it satisfies the restricted type `kind`, else raise naming
    `name`. Plain builtins matter: checkpoints store hyperparameters and must load with
    `torch.load(weights_only=True)`, which refuses jsonargparse's restricted-type instances."""
    try:
        kind(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name}={value!r} is invalid: {error}") from None
    return float(value) if issubclass(kind, float) else int(value)


def check_each(name: str, values: Sequence[Any], kind: type) -> tuple:
    """`check` applied to every element, naming the failing one as `name[i]`."""
    return tuple(check(f"{name}[{index}]", value, kind) for index, value in enumerate(values))


def check_choice(name: str, value: Any, choices: Any) -> Any:
    """`value` if it is one of the `Literal` type `choices`, else raise naming `name`."""
    allowed = choices.__args__
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is invalid: choose one of {', '.join(allowed)}")
    return value
