import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lit_evoae import cli_cache

pytestmark = pytest.mark.integration  # each test trains or starts a process

ROOT = Path(__file__).resolve().parents[1]

#: Runs the console command's entry in a fresh interpreter and reports whether torch came in.
PROBE = """
import sys
from lit_evoae import entry
sys.argv = ["lit-evoae", *sys.argv[1:]]
try:
    entry.main()
finally:
    print("torch imported:", "torch" in sys.modules, file=sys.stderr)
"""


@pytest.fixture
def environment(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "100")
    return dict(os.environ)


def probe(environment, *args):
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
    )


def fake_copy(help_text: str) -> None:
    """A stored copy as `cli_cache.store` writes it, small enough to read in a test."""
    answers = {
        "help": "top help\n",
        "prog": "lit-evoae",
        "subcommands": {
            "fit": {
                "help": help_text,
                "prog": "lit-evoae fit",
                "options": ["--help", "--trainer.max_epochs"],
                "nested": ["--model"],
            }
        },
    }
    path = cli_cache.cache_file("lit-evoae")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(answers))


def test_help_and_unknown_keys_are_answered_without_importing_torch(environment):
    fake_copy("fit help from the copy\n")
    shown = probe(environment, "fit", "--help")
    assert shown.returncode == 0 and shown.stdout == "fit help from the copy\n"
    assert "torch imported: False" in shown.stderr
    refused = probe(environment, "fit", "--trainer.max_epocs", "3")
    assert refused.returncode == 2, refused.stderr
    assert "--trainer.max_epocs (did you mean --trainer.max_epochs?)" in refused.stderr
    assert "torch imported: False" in refused.stderr


def test_a_yaml_error_is_one_line_without_importing_torch(environment, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("trainer:\n  max_epochs: [1, 2\n")
    shown = probe(environment, "fit", "--config", str(broken))
    assert shown.returncode == 2
    first = shown.stderr.splitlines()[0]
    assert first.startswith(f"lit-evoae: error: config file {broken}: invalid YAML at line")
    assert "torch imported: False" in shown.stderr


def test_export_help_and_a_missing_checkpoint_are_answered_without_importing_torch(environment):
    shown = probe(environment, "export", "--help")
    assert shown.returncode == 0 and "usage: lit-evoae export" in shown.stdout
    assert "torch imported: False" in shown.stderr
    missing = probe(environment, "export")
    assert missing.returncode == 2 and "required: checkpoint" in missing.stderr
    assert "torch imported: False" in missing.stderr
