"""Synthetic data from a source whose entropy is known exactly."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from rdframe.data.base import RDDataModule
from rdframe.data.binary_source import BinaryMixtureSource
from rdframe.data.gaussian_source import LinearGaussianSource
from rdframe.data.tensors import Tensors
from rdframe.errors import ConfigError

SOURCES = ("binary", "gaussian")


class SyntheticDataModule(RDDataModule):
    """Samples of a source of known entropy H(X): ``source="binary"`` is a
    :class:`BinaryMixtureSource` (x in {0, 1}, y the prototype), ``source="gaussian"`` a
    :class:`LinearGaussianSource` (x real, y = -1). ``entropy`` is H(X) in nats per example
    (a differential entropy for the Gaussian), and :meth:`log_prob` the exact log p(x).

    The source's parameters and the ``train_size`` / ``val_size`` / ``test_size`` examples
    are drawn from ``source_seed`` (the run's ``seed`` orders the training batches); the
    arguments of the source not chosen are ignored.

    >>> data = SyntheticDataModule(source="binary", shape=(1, 2, 2), num_prototypes=1,
    ...                            flip_prob=0.5, train_size=10, val_size=5, test_size=5)
    >>> data.setup()
    >>> round(data.entropy, 4), data.num_classes, len(data.train_set)  # 4 log 2 nats
    (2.7726, 1, 10)
    """

    name = "synthetic"

    def __init__(
        self,
        source: str = "binary",
        shape: Sequence[int] = (1, 4, 4),
        num_prototypes: int = 4,
        flip_prob: float = 0.1,
        factors: int = 2,
        noise_scale: float = 0.1,
        train_size: int = 10_000,
        val_size: int = 1_000,
        test_size: int = 1_000,
        source_seed: int = 0,
        batch_size: int = 100,
        **loader_options: int | bool | None,
    ) -> None:
        super().__init__(batch_size, **loader_options)
        if min(train_size, val_size, test_size) < 1:
            raise ConfigError(
                f"synthetic: split sizes must be >= 1, got {train_size}, {val_size}, {test_size}"
            )
        rng = torch.Generator().manual_seed(source_seed)
        if source == "binary":
            self.source = BinaryMixtureSource(shape, num_prototypes, flip_prob, rng)
        elif source == "gaussian":
            self.source = LinearGaussianSource(shape, factors, noise_scale, rng)
        else:
            raise ConfigError(f"synthetic: unknown source {source!r}; choose one of {SOURCES}")
        self.shape = self.source.shape
        self.num_classes = self.source.num_classes
        self.entropy = self.source.entropy()
        self.sizes = (train_size, val_size, test_size)
        self.sample_seed = int(torch.randint(2**62, (), generator=rng))

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x) of the source in nats, float64, one value per example: (B,)."""
        return self.source.log_prob(x)

    def setup(self, stage: str | None = None) -> None:
        rng = torch.Generator().manual_seed(self.sample_seed)
        sets = []
        for n in self.sizes:
            x, y = self.source.sample(n, rng)
            sets.append(Tensors(x.float(), y.long()))
        self.train_set, self.val_set, self.test_set = sets
