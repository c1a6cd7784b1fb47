"""Spatial bookkeeping for convolution stacks, so that no image size is hard-coded."""

from __future__ import annotations

from collections.abc import Sequence

from rdframe.errors import ConfigError


def same_padding(kernel_size: int) -> int:
    """Padding that keeps the size of a stride-1 convolution ("same"); the kernel must be odd."""
    if kernel_size % 2 == 0:
        raise ConfigError(f"kernel_size must be odd for 'same' padding; got {kernel_size}.")
    return kernel_size // 2


def downsampled_sizes(size: tuple[int, int], strides: Sequence[int]) -> list[tuple[int, int]]:
    """Spatial size before each "same" convolution and after the last: h ↦ ⌈h / stride⌉.

    >>> downsampled_sizes((28, 28), [1, 2, 1, 2])
    [(28, 28), (28, 28), (14, 14), (14, 14), (7, 7)]
    >>> downsampled_sizes((8, 8), [1, 2, 1, 2])[-1]
    (2, 2)
    """
    sizes = [tuple(size)]
    for stride in strides:
        if stride < 1:
            raise ConfigError(f"strides must be positive integers; got {list(strides)}.")
        sizes.append(tuple(-(-h // stride) for h in sizes[-1]))
    return sizes
