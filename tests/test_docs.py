"""The documentation cannot rot silently: results say what made them, and every module,
class, file, study flag and config key a page names exists."""

import importlib
import inspect
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(
    p for p in DOCS.rglob("*.md") if "code" not in p.parts and p.parent != DOCS / "reproduction"
)
TEXT = {page: page.read_text() for page in PAGES}

HEADING = re.compile(r"^#{1,3} ", re.MULTILINE)
MEASURED_ROW = re.compile(r"^\|.*\d+\.\d{2,}.*\|\s*$", re.MULTILINE)  # a table row of decimals
FIGURE = re.compile(r"!\[[^\]]*\]\(([^)]+\.png)\)")
COMMIT = re.compile(r"\bcommits?\s+([0-9a-f]{7,40})\b")
COMMAND = re.compile(r"`(lit-evoae|lit-evoae-study|python benchmarks/|pytest|\.ci/run)[^`]*`")
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
MACHINE = re.compile(r"machine|CPU|GPU|H100|H200|core", re.IGNORECASE)
N = re.compile(r"\bn\s*=\s*\d|\bn\b \||\d+ (trials|runs)\b|\| n \||\bn=\d")


def sections() -> list[tuple[str, str]]:
    """(page: heading, text) of every section, headings inside code blocks left alone."""
    found = []
    for page, text in TEXT.items():
        current, lines, fenced = None, [], False
        for line in text.splitlines():
            fenced = fenced != line.startswith("```")
            if not fenced and HEADING.match(line):
                if current:
                    found.append((current, "\n".join(lines)))
                current, lines = f"{page.relative_to(DOCS)}: {line.lstrip('# ')}", []
            lines.append(line)
        if current:
            found.append((current, "\n".join(lines)))
    return found


RESULTS = [
    (title, text) for title, text in sections() if MEASURED_ROW.search(text) or FIGURE.search(text)
]
# Figures that illustrate rather than report (the front page's, the tutorials').
ILLUSTRATIONS = ("index.md", "tutorials/")


def test_there_are_results_sections_to_check():
    assert len(RESULTS) >= 5, [title for title, _ in RESULTS]


@pytest.mark.parametrize(("title", "text"), RESULTS, ids=[title for title, _ in RESULTS])
def test_each_result_has_its_provenance_line(title, text):
    if title.startswith(ILLUSTRATIONS):
        pytest.skip("an illustration: the page it comes from holds its provenance")
    assert COMMIT.search(text), f"'{title}' shows results without 'commit <hash>'"
    assert COMMAND.search(text) or "```bash" in text, f"'{title}' names no command"
    assert DATE.search(text), f"'{title}' shows results without the date they were made"
    assert MACHINE.search(text), f"'{title}' does not say which machine made its results"
    assert N.search(text), f"'{title}' does not state n"


@pytest.mark.integration
def test_every_commit_the_docs_name_exists():
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    named = {match.group(1) for text in TEXT.values() for match in COMMIT.finditer(text)}
    for commit in sorted(named):
        found = subprocess.run(
            ["git", "-C", str(ROOT), "cat-file", "-e", f"{commit}^{{commit}}"], check=False
        )
        assert found.returncode == 0, f"the docs name commit {commit}, which git does not know"


def test_every_figure_the_docs_show_is_committed():
    for page, text in TEXT.items():
        for path in FIGURE.findall(text):
            assert (page.parent / path).resolve().is_file(), f"{page.name}: {path}"


# ---------------------------------------------------------------- names that must exist
DOTTED = re.compile(r"`(lit_evoae(?:\.\w+)+)")
PATH = re.compile(
    r"`((?:configs|callbacks|docs|benchmarks|lit_evoae|tests|slurm)/[\w./*{},-]+?)[`\s:]"
)


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(found, name):
                return False
            found = getattr(found, name)
        return True
    return False


def test_every_module_and_class_a_page_names_exists():
    missing = sorted(
        f"{page.relative_to(DOCS)}: {name}"
        for page, text in TEXT.items()
        for name in set(DOTTED.findall(text))
        if not _resolves(name.rstrip("."))
    )
    assert missing == []


def test_every_file_a_page_names_exists():
    missing = []
    for page, text in TEXT.items():
        for name in set(PATH.findall(text)):
            if any(mark in name for mark in "*{}") or name.endswith("/"):
                exists = bool(
                    list(ROOT.glob(name.replace("{", "*").replace("}", "*").split(",")[0]))
                )
            else:
                exists = (ROOT / name).exists()
            if not exists and "runs/" not in name:
                missing.append(f"{page.relative_to(DOCS)}: {name}")
    assert not missing, sorted(missing)


def _study_options() -> dict[str, set[str]]:
    from lit_evoae.study.cli import _parser

    parser = _parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {
        name: {flag for action in command._actions for flag in action.option_strings}
        for name, command in commands.choices.items()
    }


def test_every_study_flag_a_page_uses_exists():
    options = _study_options()
    wrong = []
    for page, text in TEXT.items():
        commands = re.findall(
            r"(?:^|`)(?:PYTHONPATH=\S+ )?lit-evoae-study (\w+)((?: [^`\n]*)?)", text, re.MULTILINE
        )
        for command, rest in commands:
            if command not in options:
                wrong.append(f"{page.relative_to(DOCS)}: lit-evoae-study {command}")
                continue
            for flag in re.findall(r"(?<![\w-])(--[a-z][\w-]*)", rest):
                if flag not in options[command]:
                    wrong.append(f"{page.relative_to(DOCS)}: lit-evoae-study {command} {flag}")
    assert not wrong, sorted(set(wrong))


#: Misspelt on purpose: the troubleshooting page shows the error a typo gets.
DELIBERATE_MISTAKES = {"latnt_dim"}


def _parameters(*classes) -> set[str]:
    return {name for cls in classes for name in inspect.signature(cls.__init__).parameters}


def test_every_config_key_a_page_names_exists():
    from lit_evoae.callbacks import Pruning
    from lit_evoae.data import ArrayDataModule, BinaryClusteringDataModule, ImageDataModule
    from lit_evoae.population.strategy import CoevolutionStrategy
    from lit_evoae.population.topology import Ring, Torus
    from lit_evoae.systems import CanonicalAutoencoder, CoevolutionaryAutoencoder

    known = {
        "model.init_args": _parameters(CanonicalAutoencoder, CoevolutionaryAutoencoder),
        "data.init_args": _parameters(BinaryClusteringDataModule, ImageDataModule, ArrayDataModule),
        "strategy.init_args": _parameters(CoevolutionStrategy),
        "topology.init_args": _parameters(Ring, Torus),
        "pruning": _parameters(Pruning),
    }
    wrong = []
    for page, text in TEXT.items():
        for section, key in re.findall(
            r"(model\.init_args|data\.init_args|strategy\.init_args|topology\.init_args|"
            r"(?<![\w.])pruning)\.(\w+)",
            text,
        ):
            if key in ("py", "yaml", "md") or key in DELIBERATE_MISTAKES:
                continue
            if key not in known[section] and key != "init_args":
                wrong.append(f"{page.relative_to(DOCS)}: {section}.{key}")
    assert not wrong, sorted(set(wrong))


# ---------------------------------------------------------------- the layout page
def layout_paths() -> list[Path]:
    """Every file and folder the Layout block names: the name column of each line
    (`study/report.py, claims.py` names two files in study/), and benchmarks' scripts."""
    block = (DOCS / "development.md").read_text().split("## Layout", 1)[1].split("```")[1]
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
    assert missing == [], f"the Layout names what does not exist: {missing}"


def test_every_module_is_in_the_layout():
    named = set(layout_paths())
    modules = [
        path
        for path in (ROOT / "lit_evoae").rglob("*.py")
        if path.name != "__init__.py" and path not in named
    ]
    assert not modules, [str(p.relative_to(ROOT)) for p in modules]


# ---------------------------------------------------------------- the site builds
@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    if shutil.which("mkdocs") is None:
        pytest.skip('mkdocs is not installed (pip install -e ".[docs]")')
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin", **_python_env()},
    )
    assert built.returncode == 0, built.stderr[-3000:]
    assert (tmp_path / "reference" / "config" / "index.html").is_file()


def _python_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k.startswith(("PYTHON", "HOME", "PATH"))}


# ---------------------------------------------------------------- troubleshooting
def _message_patterns() -> list[list[str]]:
    """The literal parts of every string and f-string in lit_evoae's modules and in the
    libraries whose messages it passes on (argparse, jsonargparse, Lightning)."""
    import argparse
    import ast
    import errno
    import os

    import jsonargparse
    import lightning_fabric
    import pytorch_lightning

    files = list((ROOT / "lit_evoae").rglob("*.py")) + [Path(argparse.__file__)]
    for package in (jsonargparse, pytorch_lightning, lightning_fabric):
        files += Path(package.__file__).parent.rglob("*.py")
    patterns = [[os.strerror(code)] for code in errno.errorcode]  # the OS's own words
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(errors="ignore"))):
            if isinstance(node, ast.JoinedStr):
                parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                parts = [node.value]
            else:
                continue
            parts = [part.strip() for part in parts if len(part.strip()) >= 4]
            if sum(len(part) for part in parts) >= 15:
                patterns.append(parts)
    return patterns


#: What stands beside an elision without being the code's words: brackets, quotes, stops.
STRAY = " .;:`'\"[]()"


def _given(message: str, patterns: list[list[str]]) -> bool:
    """Whether some string of the code, its values filled in, reads as `message` does:
    every literal part of it appears in the message, in order; or, where the message
    elides (…), a stretch of it of at least 12 characters lies inside one literal part."""
    stretches = [s.strip(STRAY) for s in re.split(r"…|\d+", message) if len(s.strip(STRAY)) >= 12]
    if any(stretch in part for stretch in stretches for parts in patterns for part in parts):
        return True
    for parts in patterns:
        position = 0
        for part in parts:
            position = message.find(part, position)
            if position < 0:
                break
            position += len(part)
        else:
            return True
    return False


@pytest.mark.integration
def test_every_troubleshooting_message_is_one_the_code_still_gives():
    text = (DOCS / "troubleshooting.md").read_text().split("## Bad input")[0]
    patterns = _message_patterns()
    rows = re.findall(r"^\| `([^|]+?)`(?: \([^|]*?\))? \|", text, re.MULTILINE)
    assert len(rows) >= 20
    messages = [part for row in rows for part in row.split("` / `")]
    stale = [message for message in messages if not _given(message, patterns)]
    assert not stale, stale
