"""The README is the front page: short, without measurement history, every command in it
runs as written, and every page it links exists."""

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.DOTALL)
COMMANDS = [
    line.split("  #")[0].strip()
    for block in BLOCKS
    for line in block.replace("\\\n", " ").splitlines()
    if line.strip()
]


def test_the_readme_is_a_front_page_without_history():
    assert len(README.splitlines()) <= 200
    assert not re.search(r"\bcommits?\s+[0-9a-f]{7,40}\b", README), "a commit hash"
    assert not re.search(r"\d{2}:\d{2} UTC", README), "a timestamp"


def test_the_paper_is_cited_and_citation_cff_is_valid_yaml():
    head = README[:3000]
    assert "arXiv:2505.05138" in head and "Guiding Evolutionary AutoEncoder Training" in head
    assert "@misc{jorgensen2025guiding" in README and "eprint        = {2505.05138}" in README
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    paper = citation["preferred-citation"]
    assert {"type": "other", "value": "arXiv:2505.05138"} in paper["identifiers"]
    assert [a["family-names"] for a in paper["authors"]] == [
        "Jorgensen",
        "Hemberg",
        "Toutouh",
        "O'Reilly",
    ]


def test_every_link_and_figure_of_the_readme_exists():
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    local = [t for t in targets if not t.startswith("http")]
    assert "docs/getting-started.md" in local and "docs/reproduction.md" in local
    for target in local:
        assert (ROOT / target).exists(), target


def test_the_readme_has_its_commands():
    assert 'pip install -e ".[dev]"' in COMMANDS[0] and COMMANDS[1].startswith("pytest")
    assert "lit-evoae fit --config configs/canonical.yaml" in COMMANDS  # the main job


def test_every_install_extra_the_readme_names_exists():
    project = (ROOT / "pyproject.toml").read_text()
    section = project.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    extras = re.findall(r"^(\w+) = \[", section, re.MULTILINE)
    assert {"dev", "docs"} <= set(extras)
    for command in COMMANDS:
        for named in re.findall(r'"\.\[(\w+)\]"', command):
            assert named in extras, command


@pytest.mark.integration
@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("lit-evoae ")])
def test_every_lit_evoae_command_parses_as_written(command, tmp_path, monkeypatch):
    from lit_evoae.cli import build_cli

    monkeypatch.chdir(ROOT)
    words = shlex.split(command)[1:]
    words += ["--trainer.default_root_dir", str(tmp_path)]
    cli = build_cli(words[1:] if words[0] == "fit" else words, run=False)
    assert cli.model is not None and cli.datamodule is not None


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("lit-evoae-study ")])
def test_every_study_command_parses_as_written(command):
    from lit_evoae.study.cli import _parser
    from lit_evoae.study.spec import load_study

    options = _parser().parse_args(shlex.split(command)[1:])
    if getattr(options, "study", None):
        load_study(ROOT / options.study)
