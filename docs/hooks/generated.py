"""MkDocs hook: pages that the code writes, so that they cannot drift from it.

A page holding one of the markers below gets, in its place:
- `<!-- metric-keys -->`: every key and file name of `lit_evoae/keys.py` with its comment;
- `<!-- study-cli -->`: the help of `lit-evoae-study` and of each of its commands;
- `<!-- fit-help -->`: `lit-evoae fit --help`, as the installed LightningCLI prints it.
"""

import ast
import io
import os
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def on_page_markdown(markdown: str, page, config, files) -> str:
    for marker, make in (
        ("<!-- metric-keys -->", metric_keys),
        ("<!-- study-cli -->", study_cli),
        ("<!-- fit-help -->", fit_help),
    ):
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown


def metric_keys() -> str:
    """A table of keys.py's string constants, each with the comments written beside it."""
    source = (ROOT / "lit_evoae" / "keys.py").read_text()
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#:").strip()
    rows = ["| name | value | meaning |", "| --- | --- | --- |"]
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
            continue
        if not isinstance(node.value.value, str):
            continue
        line = node.lineno
        above, before = [], line - 1
        while before in comments and source.splitlines()[before - 1].lstrip().startswith("#:"):
            above.insert(0, comments[before])
            before -= 1
        meaning = " ".join(above + [comments.get(line, "")]).strip().replace("|", "\\|")
        name = node.targets[0].id
        rows.append(f"| `{name}` | `{node.value.value}` | {meaning} |")
    return "\n".join(rows)


def study_cli() -> str:
    from lit_evoae.study.cli import _parser

    parser = _parser()
    os.environ["COLUMNS"] = "100"
    blocks = [("lit-evoae-study", parser.format_help())]
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, command in commands.choices.items():
        blocks.append((f"lit-evoae-study {name}", command.format_help()))
    return "\n\n".join(f"### `{title}`\n\n```text\n{text.rstrip()}\n```" for title, text in blocks)


def fit_help() -> str:
    program = "import sys; sys.argv = ['lit-evoae', 'fit', '--help']; "
    program += "from lit_evoae.entry import main; main()"
    done = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        check=True,
    )
    return f"```text\n{done.stdout.rstrip()}\n```"
