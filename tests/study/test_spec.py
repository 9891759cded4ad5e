import pytest
import yaml

from lit_evoae.errors import ConfigError
from lit_evoae.study.spec import derive_seed, load_study


def write(tmp_path, name, content):
    path = tmp_path / name
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path.write_text(text)
    return path


@pytest.fixture
def study_file(tmp_path):
    write(tmp_path, "base.yaml", "trainer: {max_epochs: 1}\n")
    write(tmp_path, "a.yaml", "pruning: {probability: 0.1}\n")
    write(tmp_path, "b.yaml", "pruning: {probability: 0.2}\n")
    return write(
        tmp_path,
        "study.yaml",
        {
            "name": "demo",
            "base": ["base.yaml"],
            "trials": 3,
            "grid": {
                "pruning": ["a.yaml", "b.yaml"],
                "data": {"small": {"data.init_args.dim": 20}, "large": {"data.init_args.dim": 40}},
            },
            "overrides": {"trainer.max_epochs": 2},
        },
    )


def test_grid_expands_to_variants_times_trials(study_file, tmp_path):
    study = load_study(study_file)
    runs = study.runs()
    assert len(runs) == 2 * 2 * 3
    assert sorted({run.variant for run in runs}) == ["a__large", "a__small", "b__large", "b__small"]
    run = next(r for r in runs if r.variant == "b__small" and r.trial == 2)
    arguments = run.arguments()
    assert arguments[:4] == [
        "--config",
        str(tmp_path / "base.yaml"),
        "--config",
        str(tmp_path / "b.yaml"),
    ]
    assert arguments[4:] == [
        "--trainer.max_epochs",
        "2",
        "--data.init_args.dim",
        "20",
        "--seed_everything",
        str(run.seed),
    ]
    assert run.folder(tmp_path / "out") == tmp_path / "out" / "b__small" / "trial_002"
    assert run.choices == (("pruning", "b"), ("data", "small"))
    assert len(study.runs(trials=1)) == 4


def test_seeds_depend_only_on_variant_and_trial(study_file):
    seeds = {(run.variant, run.trial): run.seed for run in load_study(study_file).runs()}
    assert len(set(seeds.values())) == len(seeds)
    assert seeds[("a__small", 0)] == derive_seed("a__small", 0) == derive_seed("a__small", 0)
    # more trials leave the existing seeds as they were
    more = {(r.variant, r.trial): r.seed for r in load_study(study_file).runs(trials=5)}
    assert all(more[key] == seed for key, seed in seeds.items())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"base": ["missing.yaml"]}, "base names .*missing.yaml, which does not exist"),
        ({"trials": 0}, "trials=0 must be a positive integer"),
        ({"grid": {"pruning": []}}, "grid.pruning must be a non-empty list"),
        ({"grd": {}}, r"unknown keys \['grd'\]"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_bad_study_files_name_the_file_and_key(tmp_path, content, message):
    path = write(tmp_path, "study.yaml", content)
    with pytest.raises(ConfigError, match=message):
        load_study(path)


def test_shipped_study_files_load():
    from pathlib import Path

    for path in (Path(__file__).resolve().parents[2] / "configs" / "studies").glob("*.yaml"):
        study = load_study(path)
        assert study.runs(), path


def test_string_overrides_pass_unquoted_and_others_as_yaml(tmp_path):
    from lit_evoae.study.spec import Run

    run = Run(
        "v",
        0,
        1,
        (),
        (
            ("model.class_path", "lit_evoae.systems.CoevolutionaryAutoencoder"),
            ("model.init_args.hidden_sizes", [8, 4]),
            ("trainer.enable_progress_bar", False),
        ),
    )
    assert run.arguments() == [
        "--model.class_path",
        "lit_evoae.systems.CoevolutionaryAutoencoder",
        "--model.init_args.hidden_sizes",
        "[8, 4]",
        "--trainer.enable_progress_bar",
        "false",
        "--seed_everything",
        "1",
    ]


def test_set_overrides_every_run_last_and_keeps_the_seeds(study_file):
    whole = load_study(study_file)
    narrowed = whole.narrowed(
        sets=[
            "trainer.max_epochs=7",
            "model.init_args.hidden_sizes=[8, 4]",
            "--data.init_args.data_dir=cache",
        ]
    )
    for run, original in zip(narrowed.runs(), whole.runs(), strict=True):
        assert run.seed == original.seed
        arguments = run.arguments()
        assert arguments[-8:-2] == [
            "--trainer.max_epochs",
            "7",
            "--model.init_args.hidden_sizes",
            "[8, 4]",
            "--data.init_args.data_dir",
            "cache",
        ]


def test_only_selects_variants_by_pattern_and_names_them_when_none_match(study_file):
    study = load_study(study_file)
    assert {run.variant for run in study.narrowed(only=["a__*"]).runs()} == {"a__large", "a__small"}
    assert {run.variant for run in study.narrowed(only=["*small", "b__large"]).runs()} == {
        "a__small",
        "b__small",
        "b__large",
    }
    with pytest.raises(ConfigError, match=r"--only c\* matches no variant .*a__small"):
        study.narrowed(only=["c*"])


@pytest.mark.parametrize("item", ["trainer.max_epochs", "=3"])
def test_a_set_without_key_or_equals_is_a_clear_error(study_file, item):
    with pytest.raises(ConfigError, match="--set .*dotted key, '=' and a value"):
        load_study(study_file).narrowed(sets=[item])
