"""Cell evaluations: the loss a cell's trained pair minimises at each step of its pass.

Chosen in a config by class_path (`strategy.cell_evaluation`); the reference's names
`lipi_simple` (Paired), `lipi_simple_pte` (PruneThenEvaluate), `epoch_node` (Cooperative)
and `all_vs_all` (AllVsAll) are accepted as aliases. Each gives
`losses_of(step, inputs, targets)` for `train_pass`: the trainees' losses (n,) reconstructing
`targets` from `inputs` (n, batch, features; a corrupted copy for a denoising system), row
i being cell i's pair. A variational population's code is sampled with `sample(shape)`'s
noise, and its loss is its own (`StackedAutoencoder.losses`).
"""

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import Tensor

from lit_evoae.population.stacked import StackedAutoencoder

Losses = Callable[[int, Tensor, Tensor], Tensor]


class CellEvaluation(ABC):
    """Base: the training loss of a group of trainees for one pass of `steps` minibatches."""

    #: When the trained pairs are scored on the pass's first batch (`gen/replacement_l1`,
    #: the reference's min_replacement_loss): None (not scored), "before_pruning" or
    #: "after_pruning".
    replacement_scored: str | None = None

    @abstractmethod
    def losses(
        self,
        trainees: StackedAutoencoder,
        centers: StackedAutoencoder,
        neighbourhoods: Tensor,
        streams: Sequence[tuple[torch.Generator, Tensor]],
        steps: int,
        sample: Callable[[tuple], Tensor] | None = None,
    ) -> Losses:
        """`losses_of` for the trainees; row i trains for the cell whose neighbourhood is row
        i of `neighbourhoods` (cells, k). `streams` lists (a generator, the rows drawing from
        it): `Pack.streams`. `sample`: a variational population's latent noise."""


def latent_noise(sample, population: StackedAutoencoder, inputs: Tensor) -> Tensor | None:
    """Noise for the codes of `inputs` (n, batch, features), if `sample` gives any."""
    if sample is None:
        return None
    return sample((inputs.shape[0], inputs.shape[1], population.encoder_sizes[-1]))


def own_losses(population: StackedAutoencoder, sample=None) -> Losses:
    """`losses_of` for individuals trained with their own encoder and decoder (a pair, or a
    canonical network)."""

    def losses_of(step: int, inputs: Tensor, targets: Tensor) -> Tensor:
        code, divergence = population.latent(inputs, noise=latent_noise(sample, population, inputs))
        return population.losses(population.decode(code), targets, divergence)

    return losses_of


class Paired(CellEvaluation):
    """The selected encoder and decoder trained together (the paper's `lipi_simple`).

    Args:
        score_replacement: also score each trained pair on the pass's first batch before
            pruning, as the reference does, and log the best as `gen/replacement_l1` (one
            forward of each pair more per pass).
    """

    def __init__(self, score_replacement: bool = False) -> None:
        self.score_replacement = bool(score_replacement)
        self.replacement_scored = "before_pruning" if score_replacement else None

    def losses(self, trainees, centers, neighbourhoods, streams, steps, sample=None):
        return own_losses(trainees, sample)


class PruneThenEvaluate(Paired):
    """Paired, with each trained pair scored after pruning instead of before (the
    reference's `lipi_simple_pte`, "prune then evaluate"), logged as `gen/replacement_l1`.

    The score decides nothing in the reference or here: the trained pair replaces its
    center either way. In the reference the order also changed what pruning saw, because
    its activation hooks kept only the last forward pass (the evaluation batch in
    `lipi_simple`, the last training batch here); lit_evoae's operators read statistics
    gathered over the whole training pass (`pruning/activations.py`), so both train
    identically and differ only in the score logged.
    """

    replacement_scored = "after_pruning"

    def __init__(self) -> None:
        self.score_replacement = True


class Cooperative(CellEvaluation):
    """Each trainee encoder against a random neighbour's decoder and each trainee decoder
    against a random neighbour's encoder, drawn anew at every step, the neighbours' centers
    held fixed (the paper's `epoch_node`)."""

    def losses(self, trainees, centers, neighbourhoods, streams, steps, sample=None):
        partners = draw_partners(neighbourhoods, streams, steps).to(
            trainees.encoders[0].weight.device
        )

        def losses_of(step: int, inputs: Tensor, targets: Tensor) -> Tensor:
            decoders, encoders = partners[step, :, 0], partners[step, :, 1]
            noise = latent_noise(sample, trainees, inputs)
            code, divergence = trainees.latent(inputs, noise=noise)
            encoder_side = trainees.losses(centers.decode(code, decoders), targets, divergence)
            noise = latent_noise(sample, trainees, inputs)
            code, divergence = centers.latent(inputs, encoders, noise=noise)
            decoder_side = trainees.losses(trainees.decode(code), targets, divergence)
            return (encoder_side + decoder_side) / 2

        return losses_of


class AllVsAll(CellEvaluation):
    """Every encoder trains with every decoder once a generation: N^2 pair trainings over
    the whole pass each, in a shuffled order, with no grid and no selection; the population
    then holds the trained encoders and decoders, cell i's center pairing encoder i with
    decoder i (the reference's `all_vs_all` keeps only the last pair it trained). Every
    pair trains at its trial's one learning rate, mutated once a generation, as the
    reference's; the topology gives only the number of cells.

    The update order says how the N^2 pairs are ordered:
    - Synchronous: N rounds of N disjoint pairs, each round trained at once (in round r of
      a shuffled order o, encoder o[k] with decoder o[(k + s_r) mod N], the shifts s a
      shuffled 0..N-1), so each encoder meets each decoder once;
    - Sequential: one pair at a time, encoder by encoder over every decoder, as the
      reference's product(order, order): N^2 passes of one pair a generation.
    """

    def losses(self, trainees, centers, neighbourhoods, streams, steps, sample=None):
        return own_losses(trainees, sample)

    @staticmethod
    def rounds(pack, one_pair_at_a_time: bool) -> list[tuple[Tensor, Tensor]]:
        """The generation's (encoder cells, decoder cells) per round, the pairs of every
        trial of `pack` in each, each trial's order drawn from its own generator."""
        cells = pack.cells
        offsets = torch.arange(len(pack)).unsqueeze(1) * cells
        orders = torch.stack([torch.randperm(cells, generator=g) for g in pack.generators])
        if one_pair_at_a_time:
            return [
                (orders[:, e] + offsets[:, 0], orders[:, d] + offsets[:, 0])
                for e in range(cells)
                for d in range(cells)
            ]
        shifts = torch.stack([torch.randperm(cells, generator=g) for g in pack.generators])
        positions = torch.arange(cells)
        rounds = []
        for r in range(cells):
            partner = (positions + shifts[:, r : r + 1]) % cells  # (trials, cells)
            encoders = (orders + offsets).flatten()
            decoders = (orders.gather(1, partner) + offsets).flatten()
            rounds.append((encoders, decoders))
        return rounds


def draw_partners(
    neighbourhoods: Tensor, streams: Sequence[tuple[torch.Generator, Tensor]], steps: int
) -> Tensor:
    """Partner cells (steps, cells, 2), a decoder's and an encoder's per step and row, drawn
    from each row's neighbourhood with its stream's generator."""
    picks = torch.empty(steps, len(neighbourhoods), 2, dtype=torch.long)
    for generator, rows in streams:
        picks[:, rows] = torch.randint(
            neighbourhoods.shape[1], (steps, len(rows), 2), generator=generator
        )
    return neighbourhoods.expand(steps, -1, -1).gather(2, picks)


#: The paper's names, kept so that configs written with them still parse.
ALIASES: dict[str, type[CellEvaluation]] = {
    "lipi_simple": Paired,
    "lipi_simple_pte": PruneThenEvaluate,
    "epoch_node": Cooperative,
    "all_vs_all": AllVsAll,
}
CellEvaluationAlias = Literal[tuple(ALIASES)]  # type: ignore[valid-type]
