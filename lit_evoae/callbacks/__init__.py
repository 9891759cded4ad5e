"""Lightning callbacks of lit_evoae."""

from lit_evoae.callbacks.preemption import Preempted, Preemption
from lit_evoae.callbacks.pruning import Pruning
from lit_evoae.callbacks.pruning_coverage import PruningCoverage
from lit_evoae.callbacks.wandb_media import WandbMedia

__all__ = ["Preempted", "Preemption", "Pruning", "PruningCoverage", "WandbMedia"]
