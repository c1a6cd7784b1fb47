"""Network layers shared by several component families."""

from rdframe.layers.dense import GatedDense, gated_mlp, he_normal_
from rdframe.layers.gated import GatedConv2d, GatedConvTranspose2d
from rdframe.layers.shapes import downsampled_sizes, same_padding

__all__ = [
    "GatedConv2d",
    "GatedConvTranspose2d",
    "GatedDense",
    "downsampled_sizes",
    "gated_mlp",
    "he_normal_",
    "same_padding",
]
