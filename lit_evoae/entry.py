"""The `lit-evoae` command: what can be answered without torch is answered before importing it.

A YAML error in a --config file, `--help`, an unknown key or subcommand, a bad plain value
(from the copy of the parser that `cli_cache` keeps) and export's options are answered at
once; everything else starts the full LightningCLI.
"""

import os
import sys

from lit_evoae import cli_cache
from lit_evoae.config_files import check_config_files
from lit_evoae.errors import ConfigError
from lit_evoae.export_options import export_options


def main() -> None:
    args = sys.argv[1:]
    program = os.path.basename(sys.argv[0])
    if args[:1] == ["export"]:
        export_options(args[1:])  # --help or a missing argument: answered here
    else:
        try:
            check_config_files(args)
        except ConfigError as error:
            print(f"lit-evoae: error: {error}", file=sys.stderr)
            sys.exit(2)
        status = cli_cache.answer(args, program)
        if status is not None:
            sys.exit(status)
    from lit_evoae.cli import main as full  # Lightning, torch: seconds

    full(cache_as=program)


if __name__ == "__main__":
    main()
