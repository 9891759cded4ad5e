"""The reference's studies (configs/studies/reference/): each plans, and one run of each kind
of run they hold trains a generation on tiny data."""

from pathlib import Path

import pytest
import yaml

from lit_evoae import keys
from lit_evoae.cli import build_cli
from lit_evoae.study.fragments import shared_part
from lit_evoae.study.plan import plan_study
from lit_evoae.study.runner import fit_arguments, logging_config
from lit_evoae.study.spec import load_study

ROOT = Path(__file__).resolve().parents[2]
STUDIES = sorted((ROOT / "configs" / "studies" / "reference").glob("*.yaml"))
#: The script's 16 studies (rq_sensitivities), each a file under its name.
NAMES = {
    "capacity", "cell_evaluations", "population_size", "environment", "dataset_name",
    "base_pruning", "activation_sched", "best_base_activation", "lexi_prob", "prune_after",
    "lipi_small_4000", "lexi_threshold", "act_pop_small", "lex_final_n_small",
    "prune_after_base", "no_shuffle_data",
}  # fmt: skip
TINY = [
    "data.init_args.num_clusters=3",
    "data.init_args.dim=20",
    "data.init_args.examples_per_cluster=10",
    "data.init_args.batch_size=10",
    "trainer.max_epochs=1",
]


def test_every_study_of_the_script_has_its_file():
    assert {path.stem for path in STUDIES} == NAMES


@pytest.mark.parametrize("path", STUDIES, ids=lambda path: path.stem)
def test_the_study_plans(path, capsys):
    study = load_study(path)
    assert study.name == path.stem
    kinds, _, _ = plan_study(study, None, 1, 1, calibrate=False, out=None)
    assert sum(len(kind.runs) for kind in kinds) == len(study.runs())


def kinds_of_every_study():
    """The first run of each kind of run (what may share a pack), over every study once."""
    seen = {}
    for path in STUDIES:
        for run in load_study(path).narrowed(sets=TINY).runs(1):
            seen.setdefault(shared_part(run), (path.stem, run))
    return list(seen.values())


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.parametrize(
    "name, run", kinds_of_every_study(), ids=lambda v: v if isinstance(v, str) else v.key
)
def test_one_run_of_each_kind_trains_a_generation(name, run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the paper presets' data_dir is relative: tiny data lands here
    folder = run.folder(tmp_path / "out")
    folder.mkdir(parents=True)
    logging = folder / "logging.yaml"
    logging.write_text(yaml.safe_dump(logging_config(run, folder, None)))
    cli = build_cli(["fit", *fit_arguments(run, folder, logging)])
    assert cli.trainer.current_epoch == 1, name
    assert keys.TEST_L1 in cli.trainer.callback_metrics, name
