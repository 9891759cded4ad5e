"""Lightning callbacks of lit_evoae."""

from lit_evoae.callbacks.pruning import Pruning

__all__ = ["Pruning"]
