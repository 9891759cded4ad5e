"""Every metric key and file name a run writes, in one place.

The systems and callbacks log under these keys, the study tools read them back, and the
tests check them; a key spelt twice could drift apart without anyone noticing. Keys are
grouped with `/` and bounded: per-cell and per-trial keys exist only where a plot needs them.
"""

# --- logged every generation
TRAIN_LOSS = "train/loss"
VAL_L1 = "val/l1"  # the best cell's validation L1: what checkpoints monitor
VAL_L1_MEDIAN = "val/l1_median"
#: A variational network's KL divergence from N(0, 1) per validation example (the best's).
VAL_KL = "val/kl"
GEN_BEST_LOSS = "gen/best_loss"
GEN_MEDIAN_LOSS = "gen/median_loss"
GEN_WORST_LOSS = "gen/worst_loss"
GEN_DIVERGED = "gen/diverged"
#: The trained pairs' mean L1 on the pass's first batch, scored before or after pruning
#: (`Paired(score_replacement=true)`, PruneThenEvaluate): the reference's replacement loss.
GEN_REPLACEMENT_L1 = "gen/replacement_l1"
LR = "lr"  # the canonical run's decayed rate; coevolution logs `cell(LR, c)` per cell
MODEL_PARAMS = "model/params"
MODEL_SPARSITY = "model/sparsity"
#: Nonzero encoder / decoder parameters, the mean over a trial's final centers (cells): the
#: network size the paper plots over generations.
MODEL_ENCODER_LIVE = "model/encoder_live"
MODEL_DECODER_LIVE = "model/decoder_live"
PRUNE_EVENTS = "prune/events"
PRUNE_SPARSITY = "prune/sparsity"
PRUNE_REMOVED = "prune/removed_fraction"
PRUNE_LOSS_CHANGE = "prune/loss_change"
#: How the pruning covers the weights over a window of generations (`PruningCoverage`).
PRUNE_COVERAGE = "prune/coverage"
PRUNE_UNIFORMITY = "prune/uniformity"
PRUNE_DIVERSITY = "prune/diversity"
COVERAGE_KEYS = (PRUNE_COVERAGE, PRUNE_UNIFORMITY, PRUNE_DIVERSITY)

# --- logged once
TEST_L1 = "test/l1"
#: The paper's metric and its companions, logged when training ends (`final(name)`).
FINAL_NAMES = (
    "train_l1_mean",
    "test_l1_mean",
    "train_l1_best",
    "capacity",
    "capacity_at_last_prune",
)
FINAL_TRAIN_L1_MEAN = "final/train_l1_mean"
#: A study result's best validation L1 over the run (not logged: read from the val/l1 rows).
VAL_L1_BEST = "val/l1_best"

# --- files
METRICS_CSV = "metrics.csv"
BEST_AUTOENCODER = "best_autoencoder.pt"
RESULT = "result.json"  # a study run's record; written last, so it marks a finished run
PLAN = "study.json"  # a study's plan: every run, in order
PACK = "pack.json"  # a pack process's runs and folders
CLOCK_CHECKPOINT = "clock.ckpt"  # a long run's checkpoint on a clock (ClockCheckpoint)
LOG = "log.txt"  # a study run's or pack's output
REPORT_MD = "report.md"  # a study report: tables and verdicts
REPORT_CSV = "report.csv"  # the tables as CSV
CLAIMS_CSV = "claims.csv"  # a study report's verdicts


def final(name: str) -> str:
    """`final/<name>`, one of FINAL_NAMES."""
    return f"final/{name}"


def cell(key: str, cell: int) -> str:
    """`key` for one cell: `prune/sparsity/cell_03`."""
    return f"{key}/cell_{cell:02d}"


def run_mean(key: str) -> str:
    """A result's mean of `key` over the generations that logged it: `prune/coverage_mean`."""
    return f"{key}_mean"


def trial(key: str, trial: int | None) -> str:
    """`key` for one trial of a batched population (`val/l1/trial_02`); `key` when None."""
    return key if trial is None else f"{key}/trial_{trial:02d}"
