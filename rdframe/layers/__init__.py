"""Network layers shared by several component families."""

from rdframe.layers.gated import GatedConv2d, GatedConvTranspose2d
from rdframe.layers.shapes import downsampled_sizes, same_padding

__all__ = ["GatedConv2d", "GatedConvTranspose2d", "downsampled_sizes", "same_padding"]
