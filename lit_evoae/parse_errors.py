"""jsonargparse's parse errors, told on one screen.

jsonargparse reports a bad value deep in a config as a tree: every Union it tried, its
subtypes, internal values (`NestedArg(...)`), under the last part of the key only, and
the CLI prints it after some 75 lines of usage. `one_screen` walks that tree and says
what a user needs: the full dotted key, the bad value, what is allowed, and a "did you
mean" for a misspelt key or class.
"""

import difflib
import importlib
import inspect
import re

#: Lines of the tree that describe jsonargparse's search, not the problem.
_SEARCH_LINES = re.compile(
    r"^(Does not validate against any of the Union subtypes|Subtypes: |Errors:|"
    r"Given value type: |Given value: |Expected a <class 'NoneType'>|Expected a path but )"
)
_PARSER_KEY = re.compile(r'^Parser key "([^"]+)":\s*(.*)$')
_CLASS_PROBLEM = re.compile(r"^Problem with given class_path '([^']+)':")
_UNKNOWN_OPTION = re.compile(r"^Option '([^']+)' is not accepted")
_BAD_CLASS = re.compile(r"^Expected a dot import path string: (\S+)")
_RESTRICTION = re.compile(r"^Not of type \w+: (.+?) does not conform to restriction (.+)$")
_WRONG_TYPE = re.compile(r"^Not of type (\w+): (.+)$")
_LITERAL = re.compile(r"^Expected a typing\.Literal\[(.*)\]\. Got value: (.*)$")
_SUBTYPES = re.compile(r"Subtypes: \[<class '([\w.]+)'>")


def one_screen(message: str) -> str:
    """The first line of a lit-evoae parse error: `<full.key>: <what is wrong>`."""
    key: list[str] = []
    classes: list[str] = []
    bases: list[str] = []
    reason = None
    for raw in message.splitlines():
        line = raw.strip().removeprefix("- ").strip()
        if not line:
            continue
        if subtype := _SUBTYPES.search(line):
            bases.append(subtype.group(1))
        if _SEARCH_LINES.match(line):
            continue
        if match := _PARSER_KEY.match(line):
            key += ["init_args", match.group(1)] if classes and key else [match.group(1)]
            reason = match.group(2) or reason
        elif match := _CLASS_PROBLEM.match(line):
            classes.append(match.group(1))
        elif match := _UNKNOWN_OPTION.match(line):
            return _unknown_key(
                ".".join([*key, "init_args", match.group(1)]),
                match.group(1),
                classes[-1] if classes else None,
            )
        elif match := _BAD_CLASS.match(line):
            return _unknown_class(".".join(key), match.group(1), bases[-1] if bases else None)
        else:
            reason = line
    full_key = ".".join(key)
    if reason is None:
        return message.strip().splitlines()[0] if message.strip() else "invalid arguments"
    return f"{full_key}: {_plain_reason(reason)}" if full_key else _plain_reason(reason)


def _plain_reason(reason: str) -> str:
    if match := _RESTRICTION.match(reason):
        allowed = re.sub(r"\bv\s*", "", match.group(2))  # "v>=0 and v<=1" -> ">=0 and <=1"
        return f"got {match.group(1)}; allowed: {allowed}"
    if match := _WRONG_TYPE.match(reason):
        return f"expected a {match.group(1)} ({match.group(2)})"
    if match := _LITERAL.match(reason):
        choices = [choice.strip().strip("'\"") for choice in match.group(1).split(",")]
        suggestion = _did_you_mean(match.group(2), choices)
        return f"got {match.group(2)}; allowed: {', '.join(choices)}{suggestion}"
    return reason


def _unknown_key(full_key: str, option: str, class_path: str | None) -> str:
    accepted = _parameters(class_path)
    where = f" of {class_path.rsplit('.', 1)[-1]}" if class_path else ""
    listed = f"; its keys: {', '.join(accepted)}" if accepted else ""
    return f"{full_key}: unknown key{where}{_did_you_mean(option, accepted)}{listed}"


def _unknown_class(full_key: str, name: str, base_path: str | None) -> str:
    choices = _subclasses(base_path)
    listed = f"; valid classes: {', '.join(choices)}" if choices else ""
    return f"{full_key}: unknown class {name}{_did_you_mean(name, choices)}{listed}"


def _did_you_mean(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def _load(path: str | None):
    if not path or "." not in path:
        return None
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


def _parameters(class_path: str | None) -> list[str]:
    cls = _load(class_path)
    if cls is None:
        return []
    parameters = inspect.signature(cls.__init__).parameters.values()
    return [
        p.name
        for p in parameters
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _subclasses(base_path: str | None) -> list[str]:
    """The concrete subclasses of `base_path` that are loaded, lit_evoae's first."""
    base = _load(base_path)
    if base is None:
        return []
    found, stack = set(), [base]
    while stack:
        for cls in stack.pop().__subclasses__():
            stack.append(cls)
            if not cls.__name__.startswith("_") and not inspect.isabstract(cls):
                found.add(cls)
    ours = sorted(c.__name__ for c in found if c.__module__.startswith("lit_evoae"))
    return ours or sorted(c.__name__ for c in found)[:12]
