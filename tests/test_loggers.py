import csv

from lit_evoae import keys
from lit_evoae.loggers import ResumableCSVLogger


def rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_resumed_logger_keeps_the_earlier_metrics(tmp_path):
    first = ResumableCSVLogger(tmp_path, name="", version="")
    first.log_metrics({keys.VAL_L1: 0.5}, step=0)
    first.log_metrics({keys.VAL_L1: 0.4}, step=1)
    first.save()
    (tmp_path / "log.txt").write_text("the folder is not empty")  # Lightning's trigger
    resumed = ResumableCSVLogger(tmp_path, name="", version="")
    resumed.log_metrics({keys.VAL_L1: 0.3}, step=2)
    resumed.log_metrics({keys.TEST_L1: 0.35}, step=3)  # a new column rewrites the header
    resumed.save()
    logged = rows(tmp_path / keys.METRICS_CSV)
    assert [row["step"] for row in logged] == ["0", "1", "2", "3"]
    assert [row[keys.VAL_L1] for row in logged] == ["0.5", "0.4", "0.3", ""]
    assert logged[3][keys.TEST_L1] == "0.35"


def test_a_fresh_folder_starts_a_fresh_file(tmp_path):
    logger = ResumableCSVLogger(tmp_path, name="run", version=0)
    logger.log_metrics({"a": 1.0}, step=0)
    logger.save()
    assert rows(tmp_path / "run" / "version_0" / keys.METRICS_CSV) == [{"a": "1.0", "step": "0"}]
