"""The README's results come with what made them: every section that shows measured
numbers (a table of decimals) or a figure names the commit and the command behind them,
and the paper it compares against is cited."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()

HEADING = re.compile(r"^#{2,3} ", re.MULTILINE)
MEASURED_ROW = re.compile(r"^\|.*\d+\.\d{2,}.*\|\s*$", re.MULTILINE)  # a table row of decimals
FIGURE = re.compile(r"!\[[^\]]*\]\(([^)]+\.png)\)")
COMMIT = re.compile(r"\bcommits?\s+([0-9a-f]{7,40})\b")
COMMAND = re.compile(r"`(lit-evoae|lit-evoae-study|python benchmarks/|pytest|\.ci/run)[^`]*`")


def sections() -> list[tuple[str, str]]:
    parts = HEADING.split(README)
    return [(part.splitlines()[0], part) for part in parts[1:]]


RESULTS = [
    (title, text) for title, text in sections() if MEASURED_ROW.search(text) or FIGURE.search(text)
]


def test_there_are_results_sections_to_check():
    assert len(RESULTS) >= 3, [title for title, _ in RESULTS]


@pytest.mark.parametrize(("title", "text"), RESULTS, ids=[title for title, _ in RESULTS])
def test_each_results_section_names_its_commit_and_command(title, text):
    assert COMMIT.search(text), f"section '{title}' shows results without 'commit <hash>'"
    assert COMMAND.search(text) or "```bash" in text, f"section '{title}' names no command"


@pytest.mark.integration
def test_every_commit_the_readme_names_exists():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for commit in sorted({match.group(1) for match in COMMIT.finditer(README)}):
        found = subprocess.run(
            ["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], check=False
        )
        assert found.returncode == 0, f"the README names commit {commit}, which git does not know"


def test_every_figure_the_readme_shows_is_committed():
    for path in FIGURE.findall(README):
        assert (ROOT / path).is_file(), path


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


def layout_paths() -> list[Path]:
    """Every file and folder the README's Layout block names: the name column of each line
    (`study/report.py, claims.py` names two files in study/), and benchmarks' scripts."""
    block = README.split("## Layout", 1)[1].split("```")[1]
    paths, parent = [], ROOT
    for line in block.splitlines():
        names = re.match(r"[\w./-]*(?:, [\w./-]+)*", line.strip()).group()
        if not line.strip() or line.startswith(" " * 10):
            names = ""  # a description carried over to the next line
        elif not line.startswith(" "):
            parent = ROOT
        folder = None
        for name in filter(None, (part.strip() for part in names.split(","))):
            if folder is None:
                path = (parent if line.startswith(" ") else ROOT) / name
                folder = path.parent
            else:
                path = folder / name
            paths.append(path)
        if not line.startswith(" ") and names.endswith("/"):
            parent = ROOT / names
    scripts = re.findall(r"([a-z_]+\.py) \(", block.split("benchmarks/", 1)[1].split("tests/")[0])
    return paths + [ROOT / "benchmarks" / script for script in scripts]


def test_every_module_the_layout_names_exists():
    named = layout_paths()
    assert len(named) >= 50 and ROOT / "lit_evoae" / "study" / "locks.py" in named
    missing = [str(path.relative_to(ROOT)) for path in named if not path.exists()]
    assert missing == [], f"README Layout names what does not exist: {missing}"
