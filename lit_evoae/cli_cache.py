"""`--help`, misspelt keys and bad values answered in a tenth of a second, from a copy of
the parser.

Building LightningCLI's parser imports Lightning, and with it torch, torchmetrics and
torchvision: 6-8 s on a 2-core machine before a word is printed. The parser depends
only on the installed code, so a full start stores what the parser would say (its help
texts, its option names, the options that take nested keys, the types of its plain
options) in a small file keyed by that code. A later `--help`, an unknown `--key` or
subcommand, or a bad value of a plain option is answered from the file; everything else
goes to the full parser. A changed source file, another Lightning, jsonargparse or torch,
another program name or terminal width is another key, so a stale copy is never read.
"""

import difflib
import hashlib
import json
import os
import shutil
import sys
import types
import typing
from importlib import metadata
from pathlib import Path

from lit_evoae.io import atomic_write_text

#: What decides the parser besides lit_evoae's own source files.
_DISTRIBUTIONS = ("pytorch-lightning", "lightning", "jsonargparse", "torch", "typing-extensions")
_HELP = ("-h", "--help")
PACKAGE = Path(__file__).resolve().parent
_KEPT = 8  # cache files kept (one per installed code, program name and terminal width)


def cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lit_evoae"


def fingerprint(program: str, package: Path = PACKAGE) -> str:
    """A digest of everything the parser's answers depend on: `package`'s source files (by
    size and modification time), the versions beside it, the program name, the width."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path.relative_to(package)}:{stat.st_size}:{stat.st_mtime_ns};".encode())
    for name in _DISTRIBUTIONS:
        try:
            digest.update(f"{name}={metadata.version(name)};".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name}=-;".encode())
    columns = shutil.get_terminal_size().columns
    digest.update(f"{sys.version}|{sys.prefix}|{program}|{columns}".encode())
    for name, value in sorted(os.environ.items()):  # e.g. JSONARGPARSE_DEFAULT_ENV
        if name.startswith("JSONARGPARSE_"):
            digest.update(f"{name}={value};".encode())
    return digest.hexdigest()[:20]


def cache_file(program: str) -> Path:
    return cache_folder() / f"cli-{fingerprint(program)}.json"


def unrecognized(words: list[str], known: list[str]) -> str:
    """`unrecognized arguments`, with a "did you mean" for each misspelt --key of `words`."""
    hints = []
    for word in words:
        if word.startswith("--"):
            key = word.split("=", 1)[0]
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            hints += [f"{key} (did you mean {close[0]}?)"] if close else [key]
    listed = ", ".join(hints) or " ".join(words).strip()
    return f"unrecognized arguments: {listed}"


def store(parser, program: str) -> None:
    """Write what `parser` (LightningCLI's, with its subcommands) would answer, if this
    code's copy is missing. Best effort: a cache that cannot be written is skipped."""
    path = cache_file(program)
    if path.exists():
        return
    subcommands = parser._subcommands_action._name_parser_map
    answers = {
        "help": parser.format_help(),
        "prog": parser.prog,
        "subcommands": {
            name: {
                "help": sub.format_help(),
                "prog": sub.prog.replace(" [options]", ""),
                "options": [o for o in sub._option_string_actions if o.startswith("--")],
                "nested": _nested_options(sub),
                "plain": _plain_options(sub),
            }
            for name, sub in subcommands.items()
        },
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(answers))
        for old in sorted(path.parent.glob("cli-*.json"), key=os.path.getmtime)[:-_KEPT]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def answer(args: list[str], program: str) -> int | None:
    """Print the parser's answer to `args` and return the exit status, where the stored copy
    can give it; None where the full parser must decide."""
    path = cache_file(program)
    try:
        answers = json.loads(path.read_text())
    except OSError:
        return None
    except ValueError:  # damaged: the next full start writes it again
        path.unlink(missing_ok=True)
        return None
    try:
        return _answer(args, answers)
    except (KeyError, TypeError, AttributeError, IndexError):  # not what store() writes
        path.unlink(missing_ok=True)
        return None


def _answer(args: list[str], answers: dict) -> int | None:
    subcommands = answers["subcommands"]
    if "--" in args:
        return None
    if not args:
        names = ",".join(subcommands)
        _error(
            f'expected "subcommand" to be one of {{{names}}}, but it was not provided.',
            answers["prog"],
        )
        return 2
    if args == [args[0]] and args[0] in _HELP:
        sys.stdout.write(answers["help"])
        return 0
    if args[0].startswith("-"):
        return None
    if args[0] not in subcommands:
        choices = ", ".join(repr(name) for name in subcommands)
        _error(
            f"argument subcommand: invalid choice: {args[0]!r} (choose from {choices})",
            answers["prog"],
        )
        return 2
    sub = subcommands[args[0]]
    if len(args) == 2 and args[1] in _HELP:
        sys.stdout.write(sub["help"])
        return 0
    unknown = [word for word in args[1:] if _unknown_key(word, sub)]
    if unknown:
        _error(unrecognized(unknown, sub["options"]), sub["prog"])
        return 2
    refused = _refused_value(args[1:], sub["plain"])
    if refused:
        _error(refused, sub["prog"])
        return 2
    return None


def _error(text: str, prog: str) -> None:
    sys.stderr.write(f"lit-evoae: error: {text}\nEvery key and its allowed values: {prog} --help\n")


def _unknown_key(word: str, sub: dict) -> bool:
    """Whether `word` is a --key the parser certainly refuses: not one of its options, and
    not below an option whose value takes keys of its own (a class's init_args, a dict)."""
    if not word.startswith("--"):
        return False
    key = word.split("=", 1)[0].removesuffix("+")
    if key in sub["options"]:
        return False
    parts = key.split(".")
    return not any(".".join(parts[:end]) in sub["nested"] for end in range(1, len(parts)))


def _nested_options(parser) -> list[str]:
    """The options of `parser` below which jsonargparse accepts keys it does not list: every
    typed option whose type is more than plain numbers, strings and booleans."""
    nested = []
    for action in parser._actions:
        typehint = getattr(action, "_typehint", None)
        if typehint is not None and not _plain(typehint):
            nested += [o for o in action.option_strings if o.startswith("--")]
    return nested


def _plain(typehint) -> bool:
    arguments = typing.get_args(typehint)
    if typing.get_origin(typehint) is typing.Literal:
        return True
    if arguments:
        return all(_plain(argument) for argument in arguments)
    return typehint is type(None) or (
        isinstance(typehint, type) and issubclass(typehint, (bool, int, float, str))
    )


#: Modules whose types a stored typehint may name: light to import, unlike torch's.
_TYPE_MODULES = ("builtins", "typing", "jsonargparse.typing", "lit_evoae.arguments")


def _plain_options(parser) -> dict[str, object]:
    """Each option with a plain typehint, as data that `_typehint` reads back (those whose
    types live elsewhere, or that do not read back to the same type, are left out)."""
    plain = {}
    for action in parser._actions:
        typehint = getattr(action, "_typehint", None)
        options = [o for o in action.option_strings if o.startswith("--")]
        if typehint is None or not options or not _plain(typehint):
            continue
        try:
            stored = _typehint_data(typehint)
            if _typehint(stored) == typehint:
                plain[options[0]] = stored
        except (ValueError, TypeError):
            continue
    return plain


def _typehint_data(typehint):
    """`typehint` as JSON data: {"literal": [...]}, {"union": [...]}, {"generic": [module,
    name], "of": [...]}, [module, name] for a type, or None for NoneType."""
    origin, arguments = typing.get_origin(typehint), typing.get_args(typehint)
    if origin is typing.Literal:
        if not all(isinstance(a, (str, int, float, bool, type(None))) for a in arguments):
            raise ValueError(f"{typehint} has values JSON does not keep")
        return {"literal": list(arguments)}
    inner = [_typehint_data(argument) for argument in arguments]
    if origin in (typing.Union, types.UnionType):
        return {"union": inner}
    if origin is not None:
        return {"generic": _type_name(origin), "of": inner}
    return None if typehint is type(None) else _type_name(typehint)


def _type_name(kind: type) -> list[str]:
    if kind.__module__ not in _TYPE_MODULES:
        raise ValueError(f"{kind} is not from a light module")
    return [kind.__module__, kind.__qualname__]


def _typehint(data):
    """The typehint `_typehint_data` stored. Only data is read: a name resolves to a class of
    one of _TYPE_MODULES or the file is refused (ValueError); nothing in it is executed."""
    if data is None:
        return type(None)
    if isinstance(data, list):
        return _stored_type(data)
    if not isinstance(data, dict) or len(data) not in (1, 2):
        raise ValueError(f"not a stored typehint: {data!r}")
    if "literal" in data and isinstance(data["literal"], list):
        values = data["literal"]
        if not all(isinstance(v, (str, int, float, bool, type(None))) for v in values):
            raise ValueError(f"not a stored literal: {values!r}")
        return typing.Literal[tuple(values)]
    if "union" in data and isinstance(data["union"], list):
        return typing.Union[tuple(_typehint(item) for item in data["union"])]  # noqa: UP007
    if "generic" in data and isinstance(data.get("of"), list):
        return _stored_type(data["generic"])[tuple(_typehint(item) for item in data["of"])]
    raise ValueError(f"not a stored typehint: {data!r}")


def _stored_type(name) -> type:
    import importlib

    if not (isinstance(name, list) and len(name) == 2 and name[0] in _TYPE_MODULES):
        raise ValueError(f"not a type of a light module: {name!r}")
    found = importlib.import_module(name[0])
    for part in str(name[1]).split("."):
        if part.startswith("_") and part != "NoneType":
            raise ValueError(f"not a public type: {name!r}")
        found = getattr(found, part, None)
    if not isinstance(found, type):
        raise ValueError(f"not a type: {name!r}")
    return found


def _refused_value(words: list[str], plain: dict[str, object]) -> str | None:
    """The parse error of the first `--key value` of `words` whose plain-typed value
    jsonargparse refuses, as the full parser words it; None if there is none."""
    from jsonargparse import ArgumentParser

    from lit_evoae.parse_errors import one_screen

    for index, word in enumerate(words):
        key, equals, value = word.partition("=")
        if key not in plain:
            continue
        if not equals:
            if index + 1 >= len(words) or words[index + 1].startswith("--"):
                continue  # no value: the full parser says so
            value = words[index + 1]
        try:
            typehint = _typehint(plain[key])
        except (ValueError, TypeError):
            return None  # not what this code stores: the full parser decides
        parser = ArgumentParser(exit_on_error=False)
        parser.add_argument(key, type=typehint)
        try:
            parser.parse_args([f"{key}={value}"])
        except Exception as error:  # jsonargparse's ArgumentError
            return one_screen(str(error))
    return None
