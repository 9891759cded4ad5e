"""Swappable components (topology, strategy) as plain class_path/init_args dicts and back.

Checkpoints keep hyperparameters as plain values (they load with `weights_only=True`), so a
component is stored as the dict LightningCLI would read, and rebuilt from it on load.
"""

import importlib
from typing import Any

from lit_evoae.errors import ConfigError


def describe(component: Any) -> dict[str, Any]:
    """A component as a plain class_path/init_args dict, the form LightningCLI reads back."""
    cls = type(component)
    return {"class_path": f"{cls.__module__}.{cls.__qualname__}", "init_args": component.describe()}


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
