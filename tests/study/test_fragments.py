"""What a run prunes with comes from its fragment's content, never from the file's name."""

import copy
import csv
import shutil
from pathlib import Path

import pytest
import yaml
from hand_made import write_result

from lit_evoae import keys
from lit_evoae.study import grid_plots
from lit_evoae.study.cli import main
from lit_evoae.study.fragments import operator_and_schedule, shared_part
from lit_evoae.study.grid import cells, variant_at
from lit_evoae.study.results import by_group, load_results
from lit_evoae.study.runner import kinds_apart, packs
from lit_evoae.study.spec import Run

ROOT = Path(__file__).resolve().parents[2]
FRAGMENTS = sorted((ROOT / "callbacks").glob("*.yaml"))


def run_with(*configs: Path, overrides=(), variant="v") -> Run:
    return Run(variant, 0, 0, tuple(configs), tuple(overrides))


def write(path: Path, content: dict) -> Path:
    path.write_text(yaml.safe_dump(content))
    return path


@pytest.mark.parametrize("fragment", FRAGMENTS, ids=lambda path: path.stem)
def test_every_shipped_fragment_reads_as_the_classes_it_configures(fragment):
    operator, schedule = operator_and_schedule(run_with(fragment))
    expected = ("none", "none") if fragment.stem == "none" else tuple(fragment.stem.split("_", 1))
    assert (operator, schedule) == expected


def test_a_renamed_copy_reads_groups_and_packs_as_the_original(tmp_path):
    mine = tmp_path / "my_fancy_prune.yaml"
    shutil.copy(ROOT / "callbacks" / "random_fixed.yaml", mine)
    base = write(tmp_path / "base.yaml", {"trainer": {"max_epochs": 3}})
    original = run_with(base, ROOT / "callbacks" / "random_fixed.yaml", variant="random_fixed")
    copied = run_with(base, mine, variant="my_fancy_prune")
    assert operator_and_schedule(copied) == operator_and_schedule(original) == ("random", "fixed")
    assert shared_part(copied) == shared_part(original)
    assert len(packs([original, copied], 2)) == 1


def test_overrides_and_later_configs_decide_the_pruning(tmp_path):
    fragment = ROOT / "callbacks" / "variance_fixed.yaml"
    later = write(tmp_path / "later.yaml", {"pruning": {"schedule": {"class_path": "FinalN"}}})
    assert operator_and_schedule(run_with(fragment, later)) == ("variance", "final_n")
    switched_off = run_with(fragment, overrides=[("pruning.operator", None)])
    assert operator_and_schedule(switched_off) == ("none", "none")
    short = run_with(overrides=[("pruning.operator", "MagnitudePruning")])
    assert operator_and_schedule(short) == ("magnitude", "fixed")  # Pruning's default schedule


def test_classes_it_cannot_name_read_as_unknown_and_others_by_their_own_name(tmp_path):
    odd = write(
        tmp_path / "odd.yaml",
        {"pruning": {"operator": {"init_args": {"amount": 0.1}}, "schedule": {"class_path": 3}}},
    )
    assert operator_and_schedule(run_with(odd)) == ("unknown", "unknown")
    own = write(
        tmp_path / "own.yaml",
        {
            "pruning": {
                "operator": {"class_path": "my_lab.ops.TopKPruning"},
                "schedule": {"class_path": "my_lab.schedules.WarmRestart"},
            }
        },
    )
    assert operator_and_schedule(run_with(own)) == ("top_k", "warm_restart")
    # A schedule but no operator: Pruning's default, no pruning, which is what runs.
    schedule_only = write(tmp_path / "s.yaml", {"pruning": {"schedule": {"class_path": "Fixed"}}})
    assert operator_and_schedule(run_with(schedule_only)) == ("none", "none")


def test_fragments_that_also_set_the_network_pack_apart_and_the_log_says_why(tmp_path):
    small = write(
        tmp_path / "small.yaml",
        {"pruning": {"operator": None}, "model": {"init_args": {"hidden_sizes": [8]}}},
    )
    large = write(
        tmp_path / "large.yaml",
        {"pruning": {"operator": "RandomPruning"}, "model": {"init_args": {"hidden_sizes": [16]}}},
    )
    runs = [run_with(small, variant="small"), run_with(large, variant="large")]
    assert len(packs(runs, 2)) == 2
    (line,) = kinds_apart(runs)
    assert line == (
        "runs like large/trial_000 pack apart from runs like small/trial_000: they differ in "
        "model.init_args.hidden_sizes ([16] vs [8])"
    )
    assert kinds_apart(runs[:1] * 2) == []


@pytest.mark.integration
def test_a_report_row_over_an_unknown_pruning_says_unknown(tmp_path):
    for variant, pruned in (("none", ("none", "none")), ("odd", ("unknown", "unknown"))):
        for trial in range(2):
            record = {
                "choices": {"pruning": variant},
                "operator": pruned[0],
                "schedule": pruned[1],
                keys.TEST_L1: 0.3 + trial / 10,
                keys.MODEL_SPARSITY: 0.0,
            }
            folder = write_result(tmp_path, variant, trial, record)
            (folder / keys.METRICS_CSV).write_text(f"epoch,{keys.VAL_L1}\n0,0.3\n")
    main(["report", str(tmp_path)])
    with (tmp_path / "report" / keys.REPORT_CSV).open() as handle:
        rows = {row["variant"]: row for row in csv.DictReader(handle)}
    assert (rows["odd"]["operator"], rows["odd"]["schedule"]) == ("unknown", "unknown")
    assert rows["odd"]["p_vs_none_holm"] != ""  # still tested against no pruning


@pytest.mark.slow  # a subprocess, DDP or SLURM run
def test_a_study_of_a_renamed_fragment_packs_and_lands_in_the_right_heatmap_cell(
    tmp_path, tiny_coevolution, capsys
):
    mine = tmp_path / "my_fancy_prune.yaml"
    shutil.copy(ROOT / "callbacks" / "random_fixed.yaml", mine)
    tiny_coevolution["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    write(tmp_path / "base.yaml", copy.deepcopy(tiny_coevolution))
    study = {
        "name": "renamed",
        "base": ["base.yaml"],
        "trials": 2,
        "grid": {"pruning": [str(ROOT / "callbacks" / "none.yaml"), str(mine)]},
        "overrides": {"pruning.probability": 1.0},
    }
    write(tmp_path / "study.yaml", study)
    out = tmp_path / "runs"
    main(["run", "--study", str(tmp_path / "study.yaml"), "--out", str(out), "--pack", "4"])
    assert "pack 0: 4 runs of my_fancy_prune, none" in capsys.readouterr().out
    main(["report", str(out)])
    with (out / "report" / keys.REPORT_CSV).open() as handle:
        rows = {row["variant"]: row for row in csv.DictReader(handle)}
    assert (rows["my_fancy_prune"]["operator"], rows["my_fancy_prune"]["schedule"]) == (
        "random",
        "fixed",
    )
    ((_, variants),) = by_group(load_results(out))
    assert variant_at(cells(variants), ("random", "fixed")) == "my_fancy_prune"
    drawn, _ = grid_plots.heatmap_groups(by_group(load_results(out)))
    assert len(drawn) == 1


def pruning_settings(pruning) -> tuple:
    """What a Pruning callback was configured with, comparable across two parses."""

    def described(part):
        return None if part is None else (type(part).__name__, repr(sorted(vars(part).items())))

    return (
        described(pruning.operator),
        described(pruning.schedule),
        pruning.probability,
        pruning.regrow,
        pruning.seed,
    )


@pytest.mark.integration
def test_a_variants_pruning_parsed_alone_equals_the_full_command_lines(tmp_path, tiny_coevolution):
    from lit_evoae.callbacks import Pruning
    from lit_evoae.cli import build_cli
    from lit_evoae.study.fragments import pruning_callback
    from lit_evoae.study.pack import pack_arguments

    tiny_coevolution["data"]["init_args"]["data_dir"] = str(tmp_path / "data")
    tiny_coevolution["pruning"] = {"regrow": True, "probability": 0.3}  # a base's own part
    base = write(tmp_path / "base.yaml", tiny_coevolution)
    logging = write(tmp_path / "logging.yaml", {"trainer": {"logger": False}})
    overrides = (("pruning.probability", 1.0), ("pruning.seed", 7))
    for fragment in FRAGMENTS:
        run = run_with(base, fragment, overrides=overrides if "fixed" in fragment.stem else ())
        cli = build_cli(pack_arguments([run], tmp_path / "parse", logging), run=False)
        (full,) = [c for c in cli.trainer.callbacks if isinstance(c, Pruning)]
        assert pruning_settings(pruning_callback(run)) == pruning_settings(full), fragment.stem


def test_a_variant_whose_pruning_does_not_parse_is_one_line_naming_the_run(tmp_path):
    from lit_evoae.errors import ConfigError
    from lit_evoae.study.fragments import pruning_callback

    typo = write(tmp_path / "typo.yaml", {"pruning": {"operator": "RandomPrunning"}})
    with pytest.raises(ConfigError, match=r"run v/trial_000: pruning.operator: .*RandomPruning"):
        pruning_callback(run_with(typo))
