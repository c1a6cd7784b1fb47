r"""Gated fully connected layer: h = (W₁x + b₁) ⊙ σ(W₂x + b₂).

Dauphin et al., "Language Modeling with Gated Convolutional Networks" (2017), in the dense form
Tomczak & Welling use for the MLP VAEs of "VAE with a VampPrior" (AISTATS 2018). Both halves
come from one linear layer with twice the outputs, split in two: the same parameters as two
separate layers. Weights start He-normal, N(0, 2/fan-in), as in the reference code.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def he_normal_(linear: nn.Linear) -> nn.Linear:
    """Weights N(0, 2 / fan-in), biases left at PyTorch's default: the reference's ``he_init``."""
    nn.init.normal_(linear.weight, std=math.sqrt(2.0 / linear.in_features))
    return linear


class GatedDense(nn.Module):
    r"""h = (W₁x + b₁) ⊙ σ(W₂x + b₂) on the last dimension.

    >>> layer = GatedDense(4, 3)
    >>> layer(torch.zeros(5, 4)).shape
    torch.Size([5, 3])
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = he_normal_(nn.Linear(in_features, 2 * out_features))

    def forward(self, x: Tensor) -> Tensor:
        h, gate = self.linear(x).chunk(2, dim=-1)  # (..., out) each
        return h * torch.sigmoid(gate)


def gated_mlp(sizes: list[int]) -> nn.Sequential:
    """Gated dense layers ``sizes[0] → … → sizes[-1]``, gated at every layer (no linear head).

    >>> gated_mlp([4, 8, 8])(torch.zeros(2, 4)).shape
    torch.Size([2, 8])
    """
    return nn.Sequential(*(GatedDense(a, b) for a, b in zip(sizes[:-1], sizes[1:])))
