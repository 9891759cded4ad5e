"""Helpers for tests that write results by hand, as the runner would."""


def pruned_with(pruning: str) -> dict:
    """The operator and schedule a result records for the callbacks/ fragment `pruning`
    (`random_final_n`: random, final_n; `none`: none, none)."""
    if pruning == "none":
        return {"operator": "none", "schedule": "none"}
    operator, _, schedule = pruning.partition("_")
    return {"operator": operator, "schedule": schedule}
