r"""Gated (transposed) convolutions: h = (W₁ ∗ x + b₁) ⊙ σ(W₂ ∗ x + b₂).

Dauphin et al., "Language Modeling with Gated Convolutional Networks" (2017); used for the
encoder and decoder stacks of Alemi et al., "Fixing a Broken ELBO" (2018), Appendix F.
Both halves come from one convolution with twice the output channels, split in two.

Initialisation: PyTorch's default (variance 1/(3·fan-in)) times a gate near ½ shrinks the
signal about threefold per layer, so that a six-layer decoder starts out ignoring z (and the
rate term then collapses it). Weights N(0, 3/fan-in) and zero biases instead keep unit
variance through a gated layer: for a, g ~ N(0, 3), E[a² σ(g)²] = 3 E[σ(g)²] ≈ 1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

Size2 = int | tuple[int, int]  # a kernel size, stride or padding: one int or (height, width)
GAIN = 3.0  # weight variance × fan-in that keeps unit variance through a gated layer


def _gate(h: Tensor) -> Tensor:
    """(B, 2C, H, W) → (B, C, H, W): the first half, gated by the sigmoid of the second."""
    linear, gate = h.chunk(2, dim=1)
    return linear * torch.sigmoid(gate)


def _init(conv: nn.Module, fan_in: float) -> None:
    """Weights N(0, GAIN / fan_in), biases zero: see the module docstring."""
    nn.init.normal_(conv.weight, std=math.sqrt(GAIN / fan_in))
    nn.init.zeros_(conv.bias)


class GatedConv2d(nn.Module):
    r"""h = (W₁ ∗ x + b₁) ⊙ σ(W₂ ∗ x + b₂), ∗ a 2-D convolution.

    >>> layer = GatedConv2d(1, 4, kernel_size=5, stride=2, padding=2)
    >>> layer(torch.zeros(3, 1, 8, 8)).shape
    torch.Size([3, 4, 4, 4])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size2,
        stride: Size2 = 1,
        padding: Size2 = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, kernel_size, stride, padding)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _init(self.conv, self.conv.in_channels * math.prod(self.conv.kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        return _gate(self.conv(x))


class GatedConvTranspose2d(nn.Module):
    r"""h = (W₁ ⋆ x + b₁) ⊙ σ(W₂ ⋆ x + b₂), ⋆ a 2-D transposed convolution.

    ``output_padding`` picks the exact output size when ``stride`` > 1. Each output sees on
    average in_channels · (kernel / stride)² inputs; from a 1×1 map (the first layer of a
    decoder) it sees in_channels only: ``reset_parameters(fan_in=in_channels)`` there.

    >>> layer = GatedConvTranspose2d(4, 1, kernel_size=5, stride=2, padding=2, output_padding=1)
    >>> layer(torch.zeros(3, 4, 4, 4)).shape
    torch.Size([3, 1, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size2,
        stride: Size2 = 1,
        padding: Size2 = 0,
        output_padding: Size2 = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(
            in_channels, 2 * out_channels, kernel_size, stride, padding, output_padding
        )
        self.reset_parameters()

    def reset_parameters(self, fan_in: float | None = None) -> None:
        if fan_in is None:
            taps = math.prod(k / s for k, s in zip(self.conv.kernel_size, self.conv.stride))
            fan_in = self.conv.in_channels * taps
        _init(self.conv, fan_in)

    def forward(self, x: Tensor) -> Tensor:
        return _gate(self.conv(x))
