import contextlib
import difflib
import io
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from lit_evoae import cli_cache
from lit_evoae.cli import build_cli

ROOT = Path(__file__).resolve().parents[1]
CANONICAL = str(ROOT / "configs" / "canonical.yaml")
PROGRAM = "lit-evoae"

#: Answered from the copy: the full parser's answer must be the same, word for word.
ANSWERED = [
    ["--help"],
    ["fit", "--help"],
    ["test", "-h"],
    [],
    ["fitt", "--trainer.max_epochs", "3"],
    ["fit", "--trainer.max_epocs", "3"],
    ["fit", "--config", CANONICAL, "--trainer.max_epocs=3", "--pruning.probabilty", "0.2"],
    ["validate", "--config", CANONICAL, "--no_such_key", "1"],
    ["fit", "--trainer.max_epochs", "abc"],
    ["fit", "--config", CANONICAL, "--pruning.probability=2"],
    ["fit", "--checkpoint.save_last", "maybe"],
    ["fit", "--preemption.signals", "[SIGFOO]"],
    ["test", "--trainer.precision", "17"],
    ["fit", "--trainer.max_epochs", "3", "--pruning.seed", "-1"],
]

#: Left to the full parser: what a copy of the option names cannot judge.
DEFERRED = [
    ["fit", "--trainer.max_epochs", "3"],
    ["fit", "--trainer.max_epochs=null", "--pruning.probability", "0.5", "--seed_everything", "7"],
    ["fit", "--preemption.signals", "[SIGTERM]", "--trainer.precision", "bf16-mixed"],
    ["fit", "--trainer.barebones", "--trainer.max_epochs", "3"],
    ["fit", "--model.init_args.hidden_sizes", "[4]"],
    ["fit", "--model.hidden_sizes", "[4]"],
    ["fit", "--trainer.callbacks+=EarlyStopping"],
    ["fit", "--trainer.logger.init_args.save_dir", "x"],
    ["fit", "--pruning.operator.init_args.amount", "0.5"],
    ["fit", "--config", CANONICAL, "--help"],
    ["fit", "--", "--trainer.max_epocs"],
    ["--print_config"],
]


#: Lightning wraps a Trainer's optimizer in a class it makes then (`LightningPopulationStep`),
#: which lives on in this pytest process after an earlier test's fit, until it is collected;
#: the help lists the live subclasses of torch's optimizers, so whether it appears depends on
#: when. A user's command, a fresh process, has none: both answers are compared without it.
WRAPPERS = re.compile(r",\s*pytorch_lightning\.core\.optimizer\.Lightning\w+")


def without_wrappers(answer: tuple) -> tuple:
    return tuple(WRAPPERS.sub("", part) if isinstance(part, str) else part for part in answer)


def full_answer(args: list[str]) -> tuple[int, str, str]:
    """What the full LightningCLI parser says to `args` (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        with pytest.raises(SystemExit) as exit_:
            build_cli(args, cache_as=PROGRAM)
    return exit_.value.code, out.getvalue(), err.getvalue()


def quick_answer(args: list[str]) -> tuple[int | None, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli_cache.answer(args, PROGRAM)
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def stored(monkeypatch, tmp_path):
    """A fresh cache folder and a fixed width, with the copy written by one full start."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "100")
    assert not cli_cache.cache_file(PROGRAM).exists()
    full_answer(["--help"])
    assert cli_cache.cache_file(PROGRAM).exists()


@pytest.mark.integration
def test_the_copy_answers_as_the_full_parser_does(stored):
    for args in ANSWERED:
        status, out, err = without_wrappers(quick_answer(args))
        assert status is not None, args
        full = without_wrappers(full_answer(args))
        differ = difflib.unified_diff((out + err).splitlines(), (full[1] + full[2]).splitlines())
        assert (status, out, err) == full, (args, "\n".join(differ))
    assert "did you mean --trainer.max_epochs?" in quick_answer(ANSWERED[5])[2]
    assert "pruning.probability: got 2; allowed: >=0 and <=1" in quick_answer(ANSWERED[9])[2]


def test_every_plain_option_is_kept_with_its_type(stored):
    """Every option of a plain type (numbers, strings, booleans, choices) reads back."""
    answers = json.loads(cli_cache.cache_file(PROGRAM).read_text())
    plain = answers["subcommands"]["fit"]["plain"]
    assert {"--trainer.max_epochs", "--pruning.probability", "--preemption.signals"} <= set(plain)
    assert len(plain) >= 40


def test_what_the_copy_cannot_judge_is_left_to_the_full_parser(stored):
    for args in DEFERRED:
        assert quick_answer(args) == (None, "", ""), args


def flattened(tree: dict, prefix: str = "--") -> dict[str, object]:
    keys = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            keys |= flattened(value, f"{prefix}{key}.")
        else:
            keys[f"{prefix}{key}"] = value
    return keys


def test_no_key_or_value_of_a_shipped_config_is_refused(stored):
    files = [*ROOT.glob("configs/**/*.yaml"), *ROOT.glob("callbacks/*.yaml")]
    given = {}
    for path in files:
        given |= flattened(yaml.safe_load(path.read_text()) or {})
    sections = ("--model", "--data", "--trainer", "--pruning", "--checkpoint", "--preemption")
    given = {key: value for key, value in given.items() if key.split(".")[0] in sections}
    assert {"--model.init_args.hidden_sizes", "--pruning.operator.init_args.amount"} <= set(given)
    assert "--trainer.max_epochs" in given
    for key, value in sorted(given.items()):
        text = value if isinstance(value, str) else json.dumps(value)
        assert quick_answer(["fit", key, text]) == (None, "", ""), (key, text)


def test_without_a_copy_or_with_a_damaged_one_nothing_is_answered(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert quick_answer(["fit", "--help"]) == (None, "", "")
    path = cli_cache.cache_file(PROGRAM)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert quick_answer(["fit", "--help"]) == (None, "", "")
    assert not path.exists()  # removed: the next full start writes it again


def test_other_code_or_versions_or_width_are_another_copy(monkeypatch, tmp_path):
    package = tmp_path / "package"
    package.mkdir()
    shutil.copy(cli_cache.PACKAGE / "cli_cache.py", package / "cli_cache.py")
    before = cli_cache.fingerprint(PROGRAM, package)
    assert cli_cache.fingerprint(PROGRAM, package) == before
    (package / "cli_cache.py").write_text("# edited\n")
    edited = cli_cache.fingerprint(PROGRAM, package)
    assert edited != before
    monkeypatch.setattr(cli_cache.metadata, "version", lambda name: "99.0")
    assert cli_cache.fingerprint(PROGRAM, package) != edited
    monkeypatch.setenv("COLUMNS", "37")
    assert cli_cache.fingerprint(PROGRAM, package) != cli_cache.fingerprint(PROGRAM + "x", package)


def test_an_unwritable_cache_folder_is_skipped(monkeypatch, tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))  # a file: no folder can be made in it
    status, out, _ = full_answer(["--help"])
    assert status == 0 and "fit" in out
