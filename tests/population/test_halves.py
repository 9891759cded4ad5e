import pytest
import torch

from lit_evoae.nets import layer_sizes
from lit_evoae.population.halves import copy_half_, decoder_names
from lit_evoae.population.optim import StackedAdam
from lit_evoae.population.stacked import StackedAutoencoder


def numbered(population: StackedAutoencoder, adam: StackedAdam, offset: float) -> None:
    """Every tensor of individual i filled with offset + i; masks closed in individual 2
    of the centers (offset 10) only."""
    with torch.no_grad():
        for module in (population, adam):
            for tensor in module.state_dict(keep_vars=True).values():
                for row in range(len(tensor)):
                    closed = offset == 10 and row == 2
                    value = not closed if tensor.dtype == torch.bool else offset + row
                    tensor.data[row] = value


@pytest.mark.parametrize("variational", [False, True])
def test_a_half_moves_its_weights_masks_and_adam_moments_and_nothing_else(variational):
    sizes = layer_sizes(6, [5], 3)
    centers = StackedAutoencoder(3, *sizes, variational)
    slots = StackedAutoencoder(2, *sizes, variational)
    center_adam, slot_adam = StackedAdam(centers), StackedAdam(slots)
    numbered(centers, center_adam, 10)
    numbered(slots, slot_adam, 100)
    slot, cell = torch.tensor([1]), torch.tensor([2])
    for destination, source in ((slots, centers), (slot_adam, center_adam)):
        copy_half_(destination, source, slot, cell, centers, "decoder")
    decoder = decoder_names(slots, centers) | decoder_names(slot_adam, centers)
    moved = decoder | {"steps", "zeroed_at_last_prune"}
    for module in (slots, slot_adam):
        for name, tensor in module.state_dict().items():
            expected = 12 if name in moved else 101
            if tensor.dtype == torch.bool:  # the decoder's masks came closed from cell 2
                assert tensor[1].any() == (name not in moved), name
                assert tensor[0].all(), name
            else:
                assert torch.all(tensor[1] == expected), name
                assert torch.all(tensor[0] == 100), name
    # the Adam moments named decoder's are shaped as the decoder's parameters
    decoder_shapes = sorted(
        tuple(t.shape) for n, t in slots.state_dict().items() if n in decoder and "mask" not in n
    )
    moment_shapes = sorted(
        tuple(t.shape) for n, t in slot_adam.state_dict().items() if n in decoder
    )
    assert moment_shapes == sorted(decoder_shapes * 2)
