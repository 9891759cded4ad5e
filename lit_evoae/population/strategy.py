"""The coevolution strategy: how cells score pairings, select, train and mutate.

A plain object the coevolution system calls; swap it (or subclass it) from the
config under `model.init_args.strategy`.
"""

from typing import Literal

import torch
from torch import Tensor

from lit_evoae.arguments import (
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    check,
    check_choice,
    check_each,
)
from lit_evoae.errors import ConfigError
from lit_evoae.population.selection import (
    SolutionConcept,
    encoder_fitness,
    mutate_learning_rates,
    tournament,
)
from lit_evoae.population.stacked import StackedAutoencoder

CellEvaluation = Literal["lipi_simple", "epoch_node"]
UpdateOrder = Literal["synchronous", "sequential"]


class PairingPlan:
    """Which encoder x decoder pairings the neighbourhoods need, laid out for one batched call.

    Decoder j is run on the latents of `partners[j]`: every encoder that shares a
    neighbourhood with j (padded by repeating j). `lookup[c, a, b]` says where the
    loss of (encoder n[c, a], decoder n[c, b]) sits in decoder n[c, b]'s row.
    """

    def __init__(self, neighbourhoods: Tensor) -> None:
        self.neighbourhoods = neighbourhoods
        size = len(neighbourhoods)
        sharing: list[set[int]] = [{decoder} for decoder in range(size)]
        for row in neighbourhoods.tolist():
            for decoder in row:
                sharing[decoder].update(row)
        width = max(len(encoders) for encoders in sharing)
        ordered = [sorted(encoders) for encoders in sharing]
        self.partners = torch.tensor(
            [
                encoders + [decoder] * (width - len(encoders))
                for decoder, encoders in enumerate(ordered)
            ]
        )
        position = [{encoder: at for at, encoder in enumerate(encoders)} for encoders in ordered]
        self.lookup = torch.tensor(
            [
                [[position[decoder][encoder] for decoder in row] for encoder in row]
                for row in neighbourhoods.tolist()
            ]
        )

    def losses(self, population: StackedAutoencoder, inputs: Tensor) -> Tensor:
        """Mean L1 of every needed pairing: (cells, k, k) with [c, a, b] the loss of encoder
        n[c, a] with decoder n[c, b]. `inputs` is one batch (batch, features) for all cells,
        or (cells, batch, features), cell c's batch in row c (an encoder is scored on its own
        cell's batch: the cells of a neighbourhood, one trial's, share one)."""
        partners = self.partners.to(inputs.device)
        size, width = partners.shape
        if inputs.dim() == 2:
            inputs = inputs.expand(size, *inputs.shape)
        latents = population.encode(inputs)  # (size, batch, latent)
        batch = inputs.shape[1]
        paired = latents[partners].reshape(size, width * batch, -1)
        reconstructions = population.decode(paired).reshape(size, width, batch, -1)
        targets = inputs[partners]  # each encoder's own batch
        per_pairing = (reconstructions - targets).abs().mean(dim=(2, 3))  # (decoder, partner)
        neighbourhoods = self.neighbourhoods.to(inputs.device)
        decoders = neighbourhoods.unsqueeze(1).expand(-1, neighbourhoods.shape[1], -1)
        return per_pairing[decoders, self.lookup.to(inputs.device)]


class CoevolutionStrategy:
    """Lipizzaner-style coevolution of encoders and decoders on a spatial grid.

    Args:
        solution_concept: how an encoder's losses against its neighbourhood's decoders
            become one fitness: best_case (min), worst_case (max) or mean.
        tournament_size: entrants per tournament (drawn with replacement).
        lr_mutation_sigma: standard deviation of the Gaussian step of each cell's learning rate.
        lr_bounds: the learning rate is clamped to [low, high] after each step.
        cell_evaluation: lipi_simple trains the selected pair together (the paper's);
            epoch_node trains the selected encoder against a random neighbour decoder and
            the selected decoder against a random neighbour encoder, batch by batch.
        update_order: synchronous cells all read the previous generation's centers and train
            at once; sequential cells go one at a time in a shuffled order, each seeing the
            centers its predecessors already replaced (the reference implementation's).
    """

    def __init__(
        self,
        solution_concept: SolutionConcept = "best_case",
        tournament_size: PositiveInt = 2,
        lr_mutation_sigma: NonNegativeFloat = 1e-5,
        lr_bounds: tuple[PositiveFloat, PositiveFloat] = (1e-9, 10.0),
        cell_evaluation: CellEvaluation = "lipi_simple",
        update_order: UpdateOrder = "synchronous",
    ) -> None:
        check_choice("strategy.solution_concept", solution_concept, SolutionConcept)
        check_choice("strategy.cell_evaluation", cell_evaluation, CellEvaluation)
        check_choice("strategy.update_order", update_order, UpdateOrder)
        self.solution_concept = solution_concept
        self.tournament_size = check("strategy.tournament_size", tournament_size, PositiveInt)
        self.lr_mutation_sigma = check(
            "strategy.lr_mutation_sigma", lr_mutation_sigma, NonNegativeFloat
        )
        low, high = check_each("strategy.lr_bounds", lr_bounds, PositiveFloat)
        if low > high:
            raise ConfigError(f"strategy.lr_bounds={list(lr_bounds)} is invalid: low exceeds high")
        self.lr_bounds = (low, high)
        self.cell_evaluation = cell_evaluation
        self.update_order = update_order

    def select(self, pairing_losses: Tensor, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """Tournament over each neighbourhood: (winning positions (cells,), their fitness)."""
        fitness = encoder_fitness(pairing_losses, self.solution_concept)
        winners = tournament(fitness, self.tournament_size, generator)
        return winners, fitness.gather(1, winners.unsqueeze(1)).squeeze(1)

    def mutate(self, learning_rates: Tensor, generator: torch.Generator) -> Tensor:
        return mutate_learning_rates(
            learning_rates, self.lr_mutation_sigma, self.lr_bounds, generator
        )

    def describe(self) -> dict:
        """Constructor arguments, as plain values (for checkpoints' hyperparameters)."""
        return {
            "solution_concept": self.solution_concept,
            "tournament_size": self.tournament_size,
            "lr_mutation_sigma": self.lr_mutation_sigma,
            "lr_bounds": list(self.lr_bounds),
            "cell_evaluation": self.cell_evaluation,
            "update_order": self.update_order,
        }

