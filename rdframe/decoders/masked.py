"""Masked convolutions for autoregressive image models, and the gated layer built from them.

Raster order: pixel (i, j) comes before (i', j') when i < i', or i = i' and j < j'. A mask of
type ``"A"`` hides the centre pixel (the first layer, which must not see the pixel it
predicts); type ``"B"`` shows it (every later layer, whose centre only carries information
about pixels strictly before it).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rdframe.errors import ConfigError

MaskType = Literal["A", "B"]


def _check(kernel_size: int, mask_type: str) -> None:
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ConfigError(f"masked convolutions need an odd kernel_size >= 1, got {kernel_size}")
    if mask_type not in ("A", "B"):
        raise ConfigError(f"mask_type must be 'A' (first layer) or 'B', got {mask_type!r}")


def raster_mask(kernel_size: int, mask_type: MaskType) -> Tensor:
    """(k, k) mask of the original single-stack PixelCNN: rows above, and the left of the centre.

    >>> raster_mask(3, "A")
    tensor([[1., 1., 1.],
            [1., 0., 0.],
            [0., 0., 0.]])
    """
    _check(kernel_size, mask_type)
    c = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[:c] = 1.0
    mask[c, : c + (mask_type == "B")] = 1.0
    return mask


def vertical_mask(kernel_size: int, mask_type: MaskType) -> Tensor:
    """(k, k) mask of the vertical stack: the rows above; type B adds the whole centre row.

    The vertical stack never sees the current row of the *image*: with type A in the first
    layer its output at row i depends on rows < i only, and type B later adds the centre row of
    a feature map that already has that property.

    >>> vertical_mask(3, "B")
    tensor([[1., 1., 1.],
            [1., 1., 1.],
            [0., 0., 0.]])
    """
    _check(kernel_size, mask_type)
    c = kernel_size // 2
    mask = torch.zeros(kernel_size, kernel_size)
    mask[: c + (mask_type == "B")] = 1.0
    return mask


def horizontal_mask(kernel_size: int, mask_type: MaskType) -> Tensor:
    """(1, k) mask of the horizontal stack: the pixels to the left; type B adds the centre.

    >>> horizontal_mask(5, "A")
    tensor([[1., 1., 0., 0., 0.]])
    """
    _check(kernel_size, mask_type)
    mask = torch.zeros(1, kernel_size)
    mask[0, : kernel_size // 2 + (mask_type == "B")] = 1.0
    return mask


class MaskedConv2d(nn.Conv2d):
    r"""A "same"-padded 2-D convolution whose kernel is multiplied by a fixed 0/1 ``mask``.

    y = (W ⊙ M) ∗ x + b, so the output at a pixel never depends on the inputs that M hides,
    whatever W learns. van den Oord et al., "Pixel Recurrent Neural Networks" (ICML 2016).

    >>> conv = MaskedConv2d(1, 4, raster_mask(3, "A"))
    >>> conv(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 4, 8, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, mask: Tensor) -> None:
        kh, kw = mask.shape
        super().__init__(in_channels, out_channels, (kh, kw), padding=(kh // 2, kw // 2))
        self.register_buffer("mask", mask.clone())

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


def gate(a: Tensor) -> Tensor:
    """tanh(a_f) ⊙ σ(a_g), the two halves of ``a`` split along the channel dimension."""
    a_f, a_g = a.chunk(2, dim=1)
    return torch.tanh(a_f) * torch.sigmoid(a_g)


class GatedMaskedConv2d(nn.Module):
    r"""One gated PixelCNN layer: a vertical and a horizontal stack, both conditioned on z.

    ::

        v ──► V∗v (vertical mask) + A_v z ──► a_v ──► tanh ⊙ σ ──► v'
                                               │ 1×1
        h ──► H∗h (horizontal mask) + A_h z ───⊕──► tanh ⊙ σ ──► 1×1 ──⊕──► h'
        └──────────────────────────── residual (type B only) ──────────┘

    The vertical stack sees every pixel of the rows above (no blind spot), the horizontal
    stack the pixels to the left in the current row; z enters every gate through a linear map
    broadcast over positions. van den Oord et al., "Conditional Image Generation with
    PixelCNN Decoders" (NeurIPS 2016), eq. (4) and Fig. 2.

    >>> layer = GatedMaskedConv2d(1, 8, latent_dim=2, kernel_size=3, mask_type="A")
    >>> v, h = layer(torch.zeros(5, 1, 8, 8), torch.zeros(5, 1, 8, 8), torch.zeros(5, 2))
    >>> v.shape, h.shape
    (torch.Size([5, 8, 8, 8]), torch.Size([5, 8, 8, 8]))
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        latent_dim: int,
        kernel_size: int = 3,
        mask_type: MaskType = "B",
    ) -> None:
        super().__init__()
        self.residual = mask_type == "B"
        if self.residual and in_channels != channels:
            raise ConfigError(
                f"a type-B gated layer is residual: in_channels ({in_channels}) must equal "
                f"channels ({channels}); use mask_type='A' for the first layer"
            )
        self.vertical = MaskedConv2d(
            in_channels, 2 * channels, vertical_mask(kernel_size, mask_type)
        )
        self.horizontal = MaskedConv2d(
            in_channels, 2 * channels, horizontal_mask(kernel_size, mask_type)
        )
        self.vertical_to_horizontal = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.horizontal_out = nn.Conv2d(channels, channels, 1)
        self.condition = nn.Linear(latent_dim, 4 * channels)

    def forward(self, v: Tensor, h: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        """Vertical and horizontal maps (N, C, H, W) and codes z (N, Z) → the next maps."""
        cond_v, cond_h = self.condition(z)[..., None, None].chunk(2, dim=1)  # (N, 2C, 1, 1)
        a_v = self.vertical(v) + cond_v  # (N, 2C, H, W)
        a_h = self.horizontal(h) + self.vertical_to_horizontal(a_v) + cond_h
        h_next = self.horizontal_out(gate(a_h))
        return gate(a_v), h + h_next if self.residual else h_next
