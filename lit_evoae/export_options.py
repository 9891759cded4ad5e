"""The options of `lit-evoae export`, apart from the export itself: `--help` and a missing
argument are answered before torch is imported."""

import argparse


def export_options(args: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="lit-evoae export",
        description="Compact a checkpoint's best individual (dead units removed) and save it "
        "as a torch.export program plus a JSON of its layer sizes.",
    )
    parser.add_argument("checkpoint", help="a .ckpt written by lit-evoae fit")
    parser.add_argument("--out", default="exported", help="output folder (default: exported)")
    return parser.parse_args(args)
