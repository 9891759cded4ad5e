"""Nothing read from disk executes: every cache and state file the package reads, edited into
a payload that would create a marker file, is read by the commands that read it, and no
marker appears (a damaged file is refused or ignored, never run)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lit_evoae import cli_cache, keys
from lit_evoae.cli import build_cli
from lit_evoae.study.cli import main as study_main

ROOT = Path(__file__).resolve().parents[1]
CANONICAL = str(ROOT / "configs" / "canonical.yaml")


def payloads(marker: Path) -> list[str]:
    """Texts that run code when passed to eval, exec, a YAML loader or a shell."""
    return [
        f"builtins.__import__('os').system('touch {marker}')",
        f"__import__('os').system('touch {marker}')",
        f"__import__('pathlib').Path('{marker}').touch()",
        f"!!python/object/apply:os.system ['touch {marker}']",
        f"$(touch {marker})",
        f"; touch {marker}",
    ]


def poisoned(value, payload: str):
    """`value` with every string in it (keys kept) replaced by `payload`."""
    if isinstance(value, str):
        return payload
    if isinstance(value, list):
        return [poisoned(item, payload) for item in value]
    if isinstance(value, dict):
        return {key: poisoned(item, payload) for key, item in value.items()}
    return value


def test_an_edited_parser_cache_runs_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit):
        build_cli(["--help"], cache_as="lit-evoae")
    path = cli_cache.cache_file("lit-evoae")
    stored = json.loads(path.read_text())
    marker = tmp_path / "ran"
    for payload in payloads(marker):
        edited = json.loads(json.dumps(stored))
        for sub in edited["subcommands"].values():
            sub["plain"] = {option: payload for option in sub["plain"]}
        path.write_text(json.dumps(edited))
        for args in (
            ["fit", "--trainer.max_epochs", "abc"],
            ["fit", "--config", CANONICAL, "--pruning.probability=2"],
            ["fit", "--trainer.max_epochs", "3"],
        ):
            cli_cache.answer(args, "lit-evoae")
        path.write_text(json.dumps(poisoned(stored, payload)))
        cli_cache.answer(["fit", "--trainer.max_epochs", "abc"], "lit-evoae")
        assert not marker.exists(), payload


@pytest.mark.slow  # three starts of the console command
def test_the_console_command_over_an_edited_cache_runs_nothing(tmp_path):
    """The issue's report: a valid --print_config and a bad value, over an edited cache."""
    environment = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "COLUMNS": "100", "PATH": ""}
    environment["HOME"] = str(tmp_path)
    command = [sys.executable, "-m", "lit_evoae.entry"]
    subprocess.run([*command, "--help"], env=environment, capture_output=True, timeout=300)
    (path,) = (tmp_path / "cache" / "lit_evoae").glob("cli-*.json")
    marker = tmp_path / "ran"
    stored = json.loads(path.read_text())
    for sub in stored["subcommands"].values():
        sub["plain"] = {option: payloads(marker)[0] for option in sub["plain"]}
    path.write_text(json.dumps(stored))
    for args in (
        ["fit", "--config", CANONICAL, "--print_config"],
        ["fit", "--config", CANONICAL, "--trainer.max_epochs", "abc"],
    ):
        subprocess.run([*command, *args], env=environment, capture_output=True, timeout=300)
    assert not marker.exists()


def state_files(out: Path) -> dict[str, Path]:
    """A study folder holding each state file the study commands read, in its real shape."""
    run = {
        "variant": "none",
        "trial": 0,
        "seed": 1,
        "choices": {"pruning": "none"},
        "configs": [CANONICAL],
        "overrides": [["trainer.max_epochs", 1]],
    }
    plan = {"name": "s", "out": str(out), "runs": [run], "packs": [["none/trial_000"]]}
    plan |= {"claims": [], "set": [], "only": [], "history": [{"set": [], "only": []}]}
    folder = out / "none" / "trial_000"
    folder.mkdir(parents=True)
    pack = out / "packs" / "none__trial_000+0"
    pack.mkdir(parents=True)
    files = {
        "study": out / keys.PLAN,
        "result": folder / keys.RESULT,
        "pack": pack / keys.PACK,
        "slurm": out / "slurm" / "plan.json",
    }
    files["slurm"].parent.mkdir()
    record = {"variant": "none", "trial": 0, "seed": 1, "epochs": 1, keys.TEST_L1: 0.1}
    texts = {
        "study": plan,
        "result": record | {"choices": {"pruning": "none"}, keys.MODEL_SPARSITY: 0.0},
        "pack": {"runs": [run], "out": str(out), "folder": str(pack), "logging": "x"},
        "slurm": plan,
    }
    for name, path in files.items():
        path.write_text(json.dumps(texts[name]))
    (folder / keys.METRICS_CSV).write_text("epoch,train/loss\n0,0.5\n")
    return files


@pytest.mark.slow  # a subprocess per payload
@pytest.mark.parametrize("payload_index", range(6))
def test_edited_study_files_run_nothing(tmp_path, payload_index):
    out = tmp_path / "out"
    files = state_files(out)
    marker = tmp_path / "ran"
    payload = payloads(marker)[payload_index]
    for path in files.values():
        path.write_text(json.dumps(poisoned(json.loads(path.read_text()), payload)))
    for args in (["report", str(out)], ["status", "--out", str(out)]):
        try:
            study_main(args)
        except SystemExit:
            pass
    try:
        study_main(["task", "--plan", str(files["slurm"]), "--index", "0"])
    except SystemExit:
        pass
    pack = subprocess.run(
        [sys.executable, "-m", "lit_evoae.study.pack", str(files["pack"])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pack.returncode != 0
    assert not marker.exists()
