import contextlib
import io
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
]

#: Left to the full parser: what a copy of the option names cannot judge.
DEFERRED = [
    ["fit", "--trainer.max_epochs", "3"],
    ["fit", "--model.init_args.hidden_sizes", "[4]"],
    ["fit", "--model.hidden_sizes", "[4]"],
    ["fit", "--trainer.callbacks+=EarlyStopping"],
    ["fit", "--trainer.logger.init_args.save_dir", "x"],
    ["fit", "--pruning.operator.init_args.amount", "0.5"],
    ["fit", "--config", CANONICAL, "--help"],
    ["fit", "--", "--trainer.max_epocs"],
    ["--print_config"],
]


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


def test_the_copy_answers_as_the_full_parser_does(stored):
    for args in ANSWERED:
        status, out, err = quick_answer(args)
        assert status is not None, args
        assert (status, out, err) == full_answer(args), args
    assert "did you mean --trainer.max_epochs?" in quick_answer(ANSWERED[5])[2]


def test_what_the_copy_cannot_judge_is_left_to_the_full_parser(stored):
    for args in DEFERRED:
        assert quick_answer(args) == (None, "", ""), args


def flattened(tree: dict, prefix: str = "--") -> list[str]:
    keys = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            keys += flattened(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def test_no_key_of_a_shipped_config_is_called_unknown(stored):
    files = [*ROOT.glob("configs/**/*.yaml"), *ROOT.glob("callbacks/*.yaml")]
    keys = {key for path in files for key in flattened(yaml.safe_load(path.read_text()) or {})}
    keys = {key for key in keys if not key.startswith(("--grid", "--claims", "--variants"))}
    assert {"--model.init_args.hidden_sizes", "--pruning.operator.init_args.amount"} <= keys
    for key in sorted(keys):
        if key.split(".")[0] in ("--model", "--data", "--trainer", "--pruning", "--checkpoint"):
            assert quick_answer(["fit", key, "1"])[0] is None, key


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
