"""The names users see: dashboards, scripts and old study folders read these spellings, so a
change to one is a breaking change and must be made here on purpose."""

from lit_evoae import keys


def test_the_public_metric_keys_keep_their_spelling():
    assert (keys.VAL_L1, keys.TEST_L1, keys.TRAIN_LOSS) == ("val/l1", "test/l1", "train/loss")
    assert (keys.MODEL_PARAMS, keys.MODEL_SPARSITY) == ("model/params", "model/sparsity")
    assert (keys.MODEL_ENCODER_LIVE, keys.MODEL_DECODER_LIVE) == (
        "model/encoder_live",
        "model/decoder_live",
    )
    assert (keys.PRUNE_EVENTS, keys.PRUNE_SPARSITY) == ("prune/events", "prune/sparsity")
    assert keys.FINAL_TRAIN_L1_MEAN == keys.final("train_l1_mean") == "final/train_l1_mean"
    assert keys.cell(keys.PRUNE_SPARSITY, 3) == "prune/sparsity/cell_03"
    assert keys.trial(keys.VAL_L1, 12) == "val/l1/trial_12" and keys.trial("x", None) == "x"


def test_the_files_a_run_leaves_keep_their_names():
    names = (keys.METRICS_CSV, keys.BEST_AUTOENCODER, keys.RESULT, keys.PLAN)
    assert names == ("metrics.csv", "best_autoencoder.pt", "result.json", "study.json")
