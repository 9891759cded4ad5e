"""Checkpoint files: written atomically beside their final name, read with a clear error.

Lightning's own "atomic" save writes to a temporary file in the system's temp folder and
moves it into place; where that folder is on another file system (a node's /tmp and a
cluster's shared disk) the move is a copy, and a kill during it leaves half a checkpoint.
Here the temporary file sits beside the target and is renamed over it, so a kill at any
moment leaves the previous good file. Loading uses `weights_only=True`: lit_evoae's
checkpoints hold only tensors and plain values, so anything else is refused.
"""

from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from lit_evoae.errors import ConfigError, DataError
from lit_evoae.io import atomic_save

#: The entry every lit_evoae checkpoint carries (see AutoencoderSystem.on_save_checkpoint).
SYSTEM_KEY = "lit_evoae_system"


def read_checkpoint(path: str | Path, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a lit_evoae checkpoint; a missing, truncated or foreign file is a DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint {path} does not exist")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # zip/pickle/EOF errors of a damaged or non-torch file
        detail = (str(error).strip().splitlines() or [""])[0]
        reason = f"{type(error).__name__}: {detail[:100]}{'…' if len(detail) > 100 else ''}"
        raise DataError(
            f"checkpoint {path} cannot be read: it is truncated, damaged or not a "
            f"safe PyTorch checkpoint ({reason}); use another checkpoint, e.g. "
            "last.ckpt or an earlier one"
        ) from error
    if not isinstance(checkpoint, dict) or SYSTEM_KEY not in checkpoint:
        raise DataError(
            f"checkpoint {path} was not written by lit_evoae (it has no '{SYSTEM_KEY}' entry)"
        )
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO with the atomic local save and checked load above."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)  # remote stores
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_save(checkpoint, path)

    def load_checkpoint(self, path, map_location=None, weights_only=None) -> dict[str, Any]:
        if "://" in str(path) or weights_only is False:
            return super().load_checkpoint(path, map_location, weights_only)
        return read_checkpoint(path, map_location if map_location is not None else "cpu")


#: Hyperparameters that fix the networks' shapes: a checkpoint and a config must agree.
SHAPE_KEYS = ("hidden_sizes", "latent_dim", "topology")
USE_ITS_CONFIG = "use the config it was trained with (config.yaml in its run folder)"


def refuse_mismatch(path: str | Path, checkpoint: dict[str, Any], model, data) -> None:
    """A ConfigError when `checkpoint` cannot be what the config (`model`, `data`: its
    parsed `model` and `data` sections) describes: another system class, other network
    sizes or another data width. Lightning would otherwise let the checkpoint's
    hyperparameters replace the config's without a word."""
    saved = checkpoint.get("hyper_parameters") or {}
    saved_class = str(saved.get("_class_path", ""))
    wanted_class = str(_get(model, "class_path") or "")
    if saved_class and wanted_class and _short(saved_class) != _short(wanted_class):
        raise ConfigError(
            f"checkpoint {path} holds a {_short(saved_class)}, but the config's "
            f"model.class_path is {_short(wanted_class)}; {USE_ITS_CONFIG}"
        )
    wanted = _get(model, "init_args") or {}
    saved_data = checkpoint.get("datamodule_hyper_parameters") or {}
    differences = [
        f"{key} {_describe(saved[key])} (config: {_describe(_get(wanted, key))})"
        for key in SHAPE_KEYS
        if key in saved
        and _get(wanted, key) is not None
        and _plain(saved[key]) != _plain(_get(wanted, key))
    ]
    wanted_dim = _get(_get(data, "init_args") or {}, "dim")
    if "dim" in saved_data and wanted_dim is not None and saved_data["dim"] != wanted_dim:
        differences.append(f"data dim {saved_data['dim']} (config: {wanted_dim})")
    if differences:
        raise ConfigError(
            f"checkpoint {path} was trained with {'; '.join(differences)}: its "
            f"networks cannot be loaded into this config; {USE_ITS_CONFIG}"
        )


def _short(class_path: str) -> str:
    return class_path.rsplit(".", 1)[-1]


def _describe(value) -> str:
    """`Ring(size=10, radius=1)` for a class_path/init_args pair; the plain value otherwise."""
    value = _plain(value)
    if isinstance(value, dict) and "class_path" in value:
        arguments = ", ".join(f"{k}={v}" for k, v in (value.get("init_args") or {}).items())
        return f"{_short(value['class_path'])}({arguments})"
    return str(value)


def _get(section, key: str):
    if section is None:
        return None
    return section.get(key) if hasattr(section, "get") else getattr(section, key, None)


def _plain(value):
    """Namespaces and tuples as dicts and lists, so a parsed config compares with a checkpoint."""
    if hasattr(value, "as_dict"):
        value = value.as_dict()
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
