"""Every private torch or Lightning call lit_evoae makes still exists (see lit_evoae/compat.py).

These fail loudly, naming the call, when an upgrade removes one."""

import inspect

import pytest
import pytorch_lightning as pl
import torch

from lit_evoae import compat


def test_torch_still_has_its_fused_adam_kernel():
    assert compat.fused_adam_ is not None, "torch._fused_adam_ is gone: StackedAdam falls back"
    assert callable(compat.fused_adam_)


@pytest.mark.integration
def test_lightning_still_has_the_attributes_lit_evoae_sets(tmp_path):
    trainer = pl.Trainer(
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    )
    connector = trainer._accelerator_connector
    assert hasattr(connector, "use_distributed_sampler"), "use_distributed_sampler is gone"
    compat.keep_whole_training_set_per_rank(trainer)
    assert trainer._accelerator_connector.use_distributed_sampler is False
    path = compat.hpc_save_path(trainer, str(tmp_path))
    assert path.endswith("hpc_ckpt_1.ckpt"), "Trainer._checkpoint_connector.hpc_save_path changed"
    assert callable(trainer._checkpoint_connector.dump_checkpoint), "dump_checkpoint is gone"


@pytest.mark.integration
def test_a_dumped_checkpoint_is_what_save_checkpoint_writes(tmp_path, tiny_data):
    from lit_evoae.systems import CanonicalAutoencoder

    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_checkpointing=False,
        enable_model_summary=False,
    )
    trainer.fit(CanonicalAutoencoder(24, (6,), 3), datamodule=tiny_data)
    dumped = compat.dump_checkpoint(trainer)
    trainer.save_checkpoint(tmp_path / "saved.ckpt")
    saved = torch.load(tmp_path / "saved.ckpt", weights_only=True)
    assert dumped["epoch"] == saved["epoch"] and dumped.keys() == saved.keys()
    for name, tensor in saved["state_dict"].items():
        assert torch.equal(dumped["state_dict"][name], tensor), name


def test_lightning_ddp_strategy_still_keeps_its_wrapper_options():
    from pytorch_lightning.strategies import DDPStrategy

    strategy = DDPStrategy(find_unused_parameters=False)
    options = compat.ddp_options(strategy)
    assert options == {"find_unused_parameters": False}, "DDPStrategy._ddp_kwargs is gone"
    assert (
        "broadcast_buffers"
        in inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
    )


@pytest.mark.integration
def test_lightning_still_has_what_lit_evoae_subclasses_override(tmp_path):
    from pytorch_lightning.cli import LightningCLI
    from pytorch_lightning.loggers.csv_logs import ExperimentWriter

    from lit_evoae.systems import CanonicalAutoencoder

    assert callable(getattr(LightningCLI, "_parse_ckpt_path", None)), "_parse_ckpt_path is gone"
    assert callable(getattr(ExperimentWriter, "_check_log_dir_exists", None))
    assert callable(getattr(torch.nn.Module, "_apply", None))
    model = CanonicalAutoencoder(input_dim=4, hidden_sizes=(3,), latent_dim=2)
    assert compat.attached_trainer(model) is None
    trainer = pl.Trainer(accelerator="cpu", logger=False, default_root_dir=tmp_path)
    model.trainer = trainer
    assert compat.attached_trainer(model) is trainer, "LightningModule._trainer is gone"


#: Private names Python itself gives a class (abc.ABCMeta's cache).
PYTHON_SETS = {"_abc_impl"}


def private_names_outside_compat() -> dict[str, set[str]]:
    """Private (single-underscore) names that a module of lit_evoae other than compat.py
    reads from another package, or overrides from a base class of another package: each
    with the files it appears in. A name lit_evoae defines or assigns itself is its own."""
    import ast
    import importlib
    from pathlib import Path

    package = Path(compat.__file__).parent
    trees = {path: ast.parse(path.read_text()) for path in sorted(package.rglob("*.py"))}
    own = set()
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
                own.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                own.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.arg):
                own.add(node.arg)
    found: dict[str, set[str]] = {}

    def private(name: str) -> bool:
        return name.startswith("_") and not name.startswith("__")

    for path, tree in trees.items():
        if path.name == "compat.py":
            continue
        where = str(path.relative_to(package))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Attribute):
                names = [node.attr]
            elif isinstance(node, ast.ImportFrom) and not (node.module or "").startswith("lit_"):
                names = (node.module or "").split(".") + [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [part for alias in node.names for part in alias.name.split(".")]
            for name in names:
                if private(name) and name not in own:
                    found.setdefault(name, set()).add(where)
        # Overrides: a method of a lit_evoae class that a base from another package has.
        module = importlib.import_module(
            "lit_evoae." + ".".join(path.relative_to(package).with_suffix("").parts)
        )
        for value in vars(module).values():
            if not (isinstance(value, type) and value.__module__ == module.__name__):
                continue
            foreign = [b for b in value.__mro__[1:] if not b.__module__.startswith("lit_evoae")]
            for name in set(vars(value)) - PYTHON_SETS:
                if private(name) and any(hasattr(base, name) for base in foreign):
                    found.setdefault(name, set()).add(where)
    return found


def test_every_private_name_of_another_package_is_listed_in_compat():
    found = private_names_outside_compat()
    unlisted = {
        name: sorted(where) for name, where in found.items() if name not in compat.ELSEWHERE
    }
    assert unlisted == {}, f"private names of other packages, not in compat.ELSEWHERE: {unlisted}"
    stale = sorted(set(compat.ELSEWHERE) - set(found))
    assert stale == [], f"compat.ELSEWHERE lists names no module uses any more: {stale}"
