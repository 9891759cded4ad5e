"""Every private torch or Lightning call lit_evoae makes, in one place.

Each of these has no public twin that does the same job. `tests/test_compat.py`
fails loudly, naming the call, when a torch or Lightning upgrade removes one; it also
checks the private methods lit_evoae's subclasses override (`LightningCLI._parse_ckpt_path`
in cli.py, CSVLogger's `ExperimentWriter._check_log_dir_exists` and `_experiment` in
loggers.py, `nn.Module._apply` in population/optim.py).
"""

import torch

#: torch's fused Adam kernel (what `Adam(fused=True)` runs; CPU since torch 2.4).
fused_adam_ = getattr(torch, "_fused_adam_", None)


def hpc_save_path(trainer, folder: str) -> str:
    """The next free `hpc_ckpt_N.ckpt` in `folder`: the name Lightning resumes a requeued
    SLURM job from by itself."""
    return trainer._checkpoint_connector.hpc_save_path(folder)


def dump_checkpoint(trainer) -> dict:
    """What `trainer.save_checkpoint` would write now, as a dict (to write it later)."""
    return trainer._checkpoint_connector.dump_checkpoint(weights_only=False)


def keep_whole_training_set_per_rank(trainer) -> None:
    """Under DDP every rank trains its cells on the whole training set: no
    DistributedSampler may split the training loader."""
    trainer._accelerator_connector.use_distributed_sampler = False


def ddp_options(strategy) -> dict | None:
    """The keyword arguments Lightning's DDP strategy passes to DistributedDataParallel
    (mutable until the model is wrapped); None for other strategies."""
    return getattr(strategy, "_ddp_kwargs", None)


def attached_trainer(module):
    """The Trainer `module` (a LightningModule) is attached to, or None: `module.trainer`
    raises when there is none, and the systems also run without one (benchmarks)."""
    return module._trainer
