"""Encoder bodies: networks x ↦ h ∈ R^features that a Gaussian or a flow head sits on.

An encoder's head (the Gaussian's μ and σ, an IAF's context) is a linear map of h, so that
one body serves several encoders: the "−" and "+" encoders of "Fixing a Broken ELBO" share
the gated-convolution body and differ only by the flow. A body is any module mapping
(B, *input_shape) to (B, features); it says its width in ``features`` (else the encoder
measures it on one zero input).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rdframe.errors import ConfigError
from rdframe.layers import GatedConv2d, downsampled_sizes, same_padding
from rdframe.nn import mlp, numel


class _Body(nn.Sequential):
    """A Sequential whose slices are plain Sequentials (its own constructor takes sizes)."""

    def __getitem__(self, index: int | slice) -> nn.Module:
        if isinstance(index, slice):
            return nn.Sequential(*list(self)[index])
        return super().__getitem__(index)


class MLPBody(_Body):
    r"""h = ReLU(MLP(flatten x)): the flattened input through dense ReLU layers of ``hidden``.

    Kingma & Welling, "Auto-Encoding Variational Bayes" (2014).

    >>> body = MLPBody(input_shape=(1, 8, 8), hidden=(16, 4))
    >>> body(torch.zeros(5, 1, 8, 8)).shape, body.features
    (torch.Size([5, 4]), 4)
    """

    def __init__(self, input_shape: Sequence[int], hidden: Sequence[int] = (256, 256)) -> None:
        if not hidden:
            raise ConfigError("MLPBody needs at least one hidden layer, e.g. hidden=[256, 256]")
        super().__init__(
            nn.Flatten(-len(input_shape)), *mlp([numel(input_shape), *hidden]), nn.ReLU()
        )
        self.input_shape = tuple(input_shape)
        self.features = hidden[-1]


class GatedConvBody(_Body):
    r"""The gated-convolution stack of "Fixing a Broken ELBO", Appendix F, down to a vector.

    ::

        x (C, H, W) ─► gated conv 32-5-1 ─► 32-5-2 ─► 64-5-1 ─► 64-5-2     ("same" padding)
                    ─► gated conv 256-k-1 "valid" (k = remaining size) ─► h (256,)

    Each layer is h = (W₁ ∗ x + b₁) ⊙ σ(W₂ ∗ x + b₂); k is 7 for 28×28 images and 2 for 8×8.
    ``channels`` and ``strides`` give the "same" layers, ``features`` the width of the valid
    one. Alemi et al., "Fixing a Broken ELBO" (ICML 2018), Appendix F.

    >>> body = GatedConvBody((1, 8, 8), channels=(4, 4), strides=(1, 2), features=8)
    >>> body(torch.zeros(5, 1, 8, 8)).shape
    torch.Size([5, 8])
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        channels: Sequence[int] = (32, 32, 64, 64),
        strides: Sequence[int] = (1, 2, 1, 2),
        kernel_size: int = 5,
        features: int = 256,
    ) -> None:
        if len(input_shape) != 3 or len(channels) != len(strides):
            raise ConfigError(
                f"the gated-convolution body needs input_shape (C, H, W) and one stride per "
                f"channel count; got input_shape={list(input_shape)}, channels={list(channels)}, "
                f"strides={list(strides)}. Use encoder=mlp for flat data."
            )
        padding = same_padding(kernel_size)
        sizes = [input_shape[0], *channels]
        layers = [
            GatedConv2d(c_in, c_out, kernel_size, stride, padding)
            for c_in, c_out, stride in zip(sizes[:-1], sizes[1:], strides)
        ]
        remaining = downsampled_sizes(tuple(input_shape[1:]), strides)[-1]
        layers.append(GatedConv2d(sizes[-1], features, remaining))  # (B, features, 1, 1)
        super().__init__(*layers, nn.Flatten())
        self.input_shape = tuple(input_shape)
        self.features = features


def body_features(body: nn.Module, input_shape: Sequence[int]) -> int:
    """The width of ``body``'s output: its ``features``, else measured on one zero input."""
    features = getattr(body, "features", None)
    if features is None:
        with torch.no_grad():
            features = body(torch.zeros(1, *input_shape)).shape[-1]
    return int(features)


def check_body(body: nn.Module, input_shape: Sequence[int]) -> None:
    """A ConfigError if ``body`` declares an input shape other than the encoder's."""
    declared = getattr(body, "input_shape", None)
    if declared is not None and tuple(declared) != tuple(input_shape):
        raise ConfigError(
            f"the encoder's body takes input_shape {list(declared)} but the encoder "
            f"{list(input_shape)}: pass the data shape (${{data_shape}}) to both"
        )
