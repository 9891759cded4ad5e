"""Every private torch or Lightning call lit_evoae makes, in one place.

Each of these has no public twin that does the same job; `ELSEWHERE` (at the end) lists
the private names other modules touch, each with its reason. `tests/test_compat.py`
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


#: The private names of other packages that lit_evoae's modules other than this one read,
#: call or override, each where and why (no public twin does the job). tests/test_compat.py
#: scans the package and fails on one that is not listed here, and on a listed one no
#: longer used.
ELSEWHERE = {
    "_parse_ckpt_path": "cli.py overrides LightningCLI's: a checkpoint that does not fit the "
    "config is refused before Lightning loads it",
    "_run_subcommand": "cli.py overrides LightningCLI's: a fit that fails before its first "
    "generation leaves no folder",
    "_option_string_actions": "argparse, in cli.py and cli_cache.py: the parser's option names, "
    "for 'did you mean' and the stored copy of --help",
    "_actions": "argparse, in cli_cache.py: the parser's options, for the stored copy",
    "_subcommands_action": "argparse, in cli_cache.py: the subcommands' parsers",
    "_name_parser_map": "argparse, in cli_cache.py: the subcommands' parsers by name",
    "_check_log_dir_exists": "loggers.py overrides CSVLogger's ExperimentWriter's: a resumed "
    "run appends to its metrics.csv",
    "_fs": "loggers.py: CSVLogger's file system, for the appending writer that it puts in "
    "CSVLogger's `_experiment` (an attribute lit_evoae assigns, so the scan counts it as ours)",
    "_apply": "population/optim.py overrides nn.Module's: a move to another device forgets "
    "the views bound to the old storage",
    "_generate_state_key": "callbacks/pruning.py: Lightning's callback state key, with the "
    "variant's trials in it, so a pack's Pruning callbacks do not collide",
    "_foreach_abs": "population/optim.py: torch's multi-tensor ops, one call for every tensor",
    "_foreach_add_": "population/optim.py: as _foreach_abs",
    "_foreach_addcdiv_": "population/optim.py: as _foreach_abs",
    "_foreach_mul_": "population/optim.py: as _foreach_abs",
}
