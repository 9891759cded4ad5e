import warnings

import pytest
import torch
from torch import nn

from lit_evoae.nets import Autoencoder, layer_sizes


def test_layer_sizes_mirror_the_encoder():
    assert layer_sizes(1000, [30], 10) == ([1000, 30, 10], [10, 30, 1000])
    assert layer_sizes(784, [64, 32], 2) == ([784, 64, 32, 2], [2, 32, 64, 784])


def test_autoencoder_has_the_papers_layers_and_activations():
    model = Autoencoder(*layer_sizes(1000, [30], 10))
    kinds = [type(layer) for layer in [*model.encoder, *model.decoder]]
    assert kinds == [nn.Linear, nn.ReLU] * 3 + [nn.Linear, nn.Sigmoid]
    widths = [
        (layer.in_features, layer.out_features)
        for layer in model.modules()
        if isinstance(layer, nn.Linear)
    ]
    assert widths == [(1000, 30), (30, 10), (10, 30), (30, 1000)]


def test_reconstruction_is_a_probability_per_feature():
    model = Autoencoder(*layer_sizes(12, [6], 2))
    out = model(torch.randn(7, 12) * 10)
    assert out.shape == (7, 12)
    assert bool(((out > 0) & (out < 1)).all())


def test_encoder_and_decoder_that_do_not_connect_are_refused():
    with pytest.raises(ValueError, match="do not connect"):
        Autoencoder([10, 4, 3], [2, 4, 10])


def test_a_code_as_wide_as_the_input_is_warned_about_naming_both():
    from lit_evoae.nets import layer_sizes

    with pytest.warns(UserWarning, match="latent_dim 10 is not smaller than the input width 1"):
        layer_sizes(1, [30], 10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert layer_sizes(20, [8], 3) == ([20, 8, 3], [3, 8, 20])
