"""Swappable components (topology, strategy, its parts) as class_path/init_args dicts and back.

Checkpoints keep hyperparameters as plain values (they load with `weights_only=True`), so a
component is stored as the dict LightningCLI would read, and rebuilt from it on load. The
dict is read off the constructor's signature: every argument must be kept as an attribute
of the same name, so an argument cannot be left out of a checkpoint without an error.
"""

import importlib
import inspect
from typing import Any

from lit_evoae.errors import ConfigError

_PLAIN = (bool, int, float, str, type(None))


def describe(component: Any) -> dict[str, Any]:
    """A component as a plain class_path/init_args dict, the form LightningCLI reads back."""
    cls = type(component)
    init_args = {}
    for name, parameter in inspect.signature(cls.__init__).parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if not hasattr(component, name):
            raise TypeError(
                f"{cls.__name__} cannot be saved: it keeps no attribute {name!r} "
                f"for its argument {name!r}"
            )
        init_args[name] = _plain(getattr(component, name))
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": init_args}


def _plain(value: Any) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return describe(value)  # a component inside a component


def build(component: Any, base: type) -> Any:
    """Accept an instance or the dict `describe` wrote (load_from_checkpoint passes dicts)."""
    if isinstance(component, base):
        return component
    if isinstance(component, dict) and "class_path" in component:
        module, _, name = component["class_path"].rpartition(".")
        cls = getattr(importlib.import_module(module), name)
        if isinstance(cls, type) and issubclass(cls, base):
            return cls(**component.get("init_args", {}))
    raise ConfigError(f"expected a {base.__name__} or its class_path/init_args, got {component!r}")
