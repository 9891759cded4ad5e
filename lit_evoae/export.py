"""Compaction export: a pruned individual as a smaller dense autoencoder.

A hidden unit whose incoming weights are all zero outputs a constant, ReLU(bias);
removing it and adding that constant, times its outgoing weights, to the next
layer's bias leaves every reconstruction unchanged. Decoder outputs and encoder
inputs are the model's interface and always stay, and so does a variational network's
code (its mean and log-variance heads keep their width; a hidden layer before them feeds
both).
"""

import importlib
import json
from pathlib import Path

import torch
from torch import nn

from lit_evoae.checkpoints import SYSTEM_KEY, read_checkpoint
from lit_evoae.export_options import export_options
from lit_evoae.nets import Autoencoder


@torch.no_grad()
def compact(autoencoder: Autoencoder) -> Autoencoder:
    """A copy of `autoencoder` without its dead hidden units (same outputs, fewer parameters)."""
    linears = autoencoder.linears()
    weights = [layer.weight.clone() for layer in linears]  # (out, in)
    biases = [layer.bias.clone() for layer in linears]
    heads = autoencoder.variational  # layers `code` and `code + 1` are the two heads
    code = len(autoencoder.encoder_sizes) - 2
    for index in range(len(linears) - 1):  # every layer but the decoder's output
        if heads and index in (code, code + 1):
            continue
        readers = [code, code + 1] if heads and index == code - 1 else [index + 1]
        dead = (weights[index] == 0).all(1)
        if bool(dead.all()):
            dead[0] = False  # keep one unit so the network stays connected
        constant = torch.relu(biases[index][dead])  # what each dead unit outputs
        for reader in readers:
            biases[reader] += weights[reader][:, dead] @ constant
            weights[reader] = weights[reader][:, ~dead]
        weights[index], biases[index] = weights[index][~dead], biases[index][~dead]
    widths = [weights[0].shape[1]] + [weight.shape[0] for weight in weights]
    if heads:
        del widths[code + 2]  # the log-variance head's width: the code's again
    split = len(autoencoder.encoder_sizes) - 1
    smaller = Autoencoder(widths[: split + 1], widths[split:], heads)
    for layer, weight, bias in zip(smaller.linears(), weights, biases, strict=True):
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return smaller


def parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


def export_checkpoint(checkpoint: str | Path, out: str | Path) -> dict:
    """Compact the best individual of a lit_evoae checkpoint into `out/` as a `torch.export`
    program (`autoencoder.pt2`, batch size free) and `autoencoder.json`; returns the summary."""
    checkpoint, out = Path(checkpoint), Path(out)
    module, _, name = read_checkpoint(checkpoint)[SYSTEM_KEY].rpartition(".")
    system_class = getattr(importlib.import_module(module), name)
    system = system_class.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True)
    original = system.autoencoder().eval()
    smaller = compact(original).eval()
    example = torch.rand(2, original.encoder_sizes[0])
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(smaller, (example,), dynamic_shapes=({0: batch},))
    out.mkdir(parents=True, exist_ok=True)
    torch.export.save(program, out / "autoencoder.pt2")
    summary = {
        "checkpoint": str(checkpoint),
        "encoder_sizes": smaller.encoder_sizes,
        "decoder_sizes": smaller.decoder_sizes,
        "parameters_before": parameter_count(original),
        "parameters_after": parameter_count(smaller),
    }
    (out / "autoencoder.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(args: list[str]) -> None:
    """`lit-evoae export CHECKPOINT --out DIR`."""
    options = export_options(args)
    summary = export_checkpoint(options.checkpoint, options.out)
    print(
        f"exported to {options.out}/autoencoder.pt2: encoder {summary['encoder_sizes']}, "
        f"decoder {summary['decoder_sizes']}, {summary['parameters_after']} parameters "
        f"(was {summary['parameters_before']})"
    )
