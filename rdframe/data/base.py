"""What every rdframe data module tells the rest of the framework."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from rdframe.errors import ConfigError


class RDDataModule(pl.LightningDataModule):
    """A LightningDataModule whose batches are ``(x, y)`` pairs, with the facts a model needs.

    Subclasses set ``name``, ``shape`` (of one x), ``num_classes`` (of y) and ``entropy``
    (H(X) in nats per example when known exactly, else ``None``), and build
    ``self.train_set``, ``self.val_set`` and ``self.test_set`` in ``setup``.
    """

    name: str
    shape: tuple[int, ...]
    num_classes: int
    entropy: float | None = None

    def __init__(
        self,
        batch_size: int = 100,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ConfigError(f"data.batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.loader_options: dict[str, Any] = {
            "num_workers": num_workers,
            "pin_memory": pin_memory,
            "persistent_workers": num_workers > 0,
        }
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    def _loader(self, dataset: Dataset | None, shuffle: bool, batch_size: int) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before its loaders")
        generator = torch.Generator().manual_seed(0) if shuffle else None
        return DataLoader(
            dataset, batch_size, shuffle=shuffle, generator=generator, **self.loader_options
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False, self.eval_batch_size)
