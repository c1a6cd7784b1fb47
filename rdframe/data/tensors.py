"""Examples held in memory as tensors, served to the DataLoader a whole batch at a time.

A DataLoader reads a map-style set one example at a time and stacks the examples: per batch of
100, 100 index operations per tensor and a ``torch.stack``, about a third of a millisecond of
Python on a CPU, a few per cent of a small model's step. A set that can ``gather`` a batch
(:class:`Tensors`, :class:`~rdframe.data.binarize.DynamicBinarization`) is read by rdframe's
loaders through :class:`Gathering`, which answers the loader's ``__getitems__`` with the batch
itself, gathered by one index per tensor (a slice for the consecutive batches of validation
and test); :func:`collate` passes it on untouched. The sets themselves stay ordinary map-style
sets for any other loader.

>>> from torch.utils.data import DataLoader
>>> data = Tensors(torch.arange(10.0).view(5, 2), torch.arange(5))
>>> loader = DataLoader(Gathering(data), batch_size=2, collate_fn=collate)
>>> [y.tolist() for _, y in loader]
[[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset, default_collate


class Batch(tuple):
    """Tensors already gathered into one batch, each of shape (B, …)."""

    __slots__ = ()


def rows(indices: Sequence[int]) -> slice | Tensor:
    """What gathers the examples ``indices`` from a tensor: a slice (a view, no copy) for a
    range of step 1, else an index tensor.

    >>> rows(range(3, 7)), rows([4, 1])
    (slice(3, 7, None), tensor([4, 1]))
    """
    if isinstance(indices, range) and indices.step == 1:
        return slice(indices.start, indices.stop)
    return torch.as_tensor(indices, dtype=torch.long)


class Tensors(TensorDataset):
    """A TensorDataset that can gather a whole batch with one index per tensor."""

    def gather(self, indices: Sequence[int]) -> tuple[Tensor, ...]:
        """The examples ``indices`` stacked: one tensor (B, …) per tensor of the set."""
        index = rows(indices)
        return tuple(t[index] for t in self.tensors)


class Gathering(Dataset):
    """``dataset`` as a DataLoader reads it (with ``collate_fn=collate``): a batch is
    ``dataset.gather(indices)``, made once, not example by example."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        return self.dataset[index]

    def __getitems__(self, indices: Sequence[int]) -> Batch:
        return Batch(self.dataset.gather(indices))


def gathering(dataset: Dataset) -> Dataset:
    """``dataset`` read through :class:`Gathering` where it can gather a batch, else itself."""
    return Gathering(dataset) if callable(getattr(dataset, "gather", None)) else dataset


def collate(batch: Batch | list[Any]) -> list[Any]:
    """A gathered :class:`Batch` as a list of its tensors, as ``default_collate`` returns the
    batch of a set of (x, y) pairs; any other batch through ``default_collate``."""
    return list(batch) if isinstance(batch, Batch) else default_collate(batch)
