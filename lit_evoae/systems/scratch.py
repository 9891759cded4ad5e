"""Trainee slots as scratch space: part of the module, not of its state.

The pairs a generation trains live in slots sized by the update order and the number of
ranks (a rank's block, or one cell per trial). They are empty between generations, where
checkpoints fall, so the state leaves them out: a checkpoint then resumes under any
update order and any number of ranks.
"""

from torch import nn

SCRATCH = ("trainees", "trainee_adam")


def leave_out_scratch(module: nn.Module) -> None:
    """Make `module.state_dict()` omit its scratch submodules."""
    module.register_state_dict_post_hook(_without_scratch)


def with_own_scratch(module: nn.Module, state_dict) -> dict:
    """`state_dict` completed with `module`'s own scratch tensors, for a strict load."""
    state = dict(state_dict)
    for name in SCRATCH:
        for key, value in getattr(module, name).state_dict(keep_vars=True).items():
            state[f"{name}.{key}"] = value
    return state


def _without_scratch(module, state_dict: dict, prefix: str, local_metadata) -> None:
    scratch = tuple(f"{prefix}{name}." for name in SCRATCH)
    for key in [key for key in state_dict if key.startswith(scratch)]:
        del state_dict[key]
