"""The YAML of --config files, checked before anything heavy is imported."""

from pathlib import Path

import yaml

from lit_evoae.errors import ConfigError


def check_config_files(args: list[str]) -> None:
    """Each --config file that exists must be YAML: one line naming the file, the line and
    column and PyYAML's cause, where jsonargparse says only "<unicode string>"."""
    for index, argument in enumerate(args):
        if argument in ("--config", "-c") and index + 1 < len(args):
            path = Path(args[index + 1])
        elif argument.startswith("--config="):
            path = Path(argument.split("=", 1)[1])
        else:
            continue
        if not path.is_file():
            continue
        try:
            yaml.safe_load(path.read_text())
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            cause = getattr(error, "problem", None) or str(error).splitlines()[0]
            context = getattr(error, "context", None)
            raise ConfigError(
                f"config file {path}: invalid YAML{where}: {cause}"
                + (f" ({context})" if context else "")
            ) from error
