"""The order in which a split's examples are visited: a pure function of the seed and the epoch,
sharded across DDP ranks, and resumable from any batch of an epoch."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from rdframe.seeding import derive_seed


def _distributed() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside torch.distributed."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class EpochSampler(Sampler[int]):
    """Indices of a split of ``size`` examples for one epoch, on this process's rank.

    With ``shuffle`` the order of epoch e is ``randperm(size)`` from a generator seeded by
    (``seed``, e) alone, so a run's batch order depends on its seed and on nothing else that
    happened before (two seeds, two orders; the same seed, the same order, whether the run was
    interrupted or not). Without ``shuffle`` the order is 0 … size − 1. Under DDP rank r of w
    takes positions r, r + w, r + 2w, …: no example is padded or repeated; with ``even`` the
    tail is dropped so that every rank has the same number (training needs equal step counts).

    :meth:`resume_at` makes the next iteration of a given epoch start at a given position (a
    run restored from a mid-epoch checkpoint continues with the batches it had not seen).

    >>> sampler = EpochSampler(6, shuffle=True, seed=0)
    >>> first = list(sampler)
    >>> sorted(first), first == list(sampler)
    ([0, 1, 2, 3, 4, 5], True)
    >>> sampler.set_epoch(1)
    >>> list(sampler) != first
    True
    >>> sampler.resume_at(epoch=1, start=4)
    >>> list(sampler) == list(EpochSampler(6, True, seed=0, epoch=1))[4:]
    True
    """

    def __init__(
        self, size: int, shuffle: bool, seed: int = 0, even: bool = False, epoch: int = 0
    ) -> None:
        self.size, self.shuffle, self.seed, self.even = size, shuffle, seed, even
        self.epoch = epoch
        self._resume: tuple[int, int] | None = None  # (epoch, first position) for one iteration

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning before every training epoch."""
        self.epoch = epoch

    def resume_at(self, epoch: int, start: int) -> None:
        """The next iteration, if it is of ``epoch``, skips this rank's first ``start`` indices;
        past the end of ``epoch`` it is the next epoch from its start. The epoch is set now,
        because loader workers may draw indices before Lightning calls :meth:`set_epoch`."""
        if start >= len(self):
            epoch, start = epoch + 1, 0
        self.epoch = epoch
        self._resume = (epoch, start)

    def order(self) -> torch.Tensor:
        """This epoch's indices on this rank, shape (len(self),)."""
        if self.shuffle:
            generator = torch.Generator().manual_seed(derive_seed(self.seed, self.epoch))
            order = torch.randperm(self.size, generator=generator)
        else:
            order = torch.arange(self.size)
        rank, world = _distributed()
        if self.even:
            order = order[: self.size - self.size % world]
        return order[rank::world]

    def __iter__(self) -> Iterator[int]:
        start = 0
        if self._resume is not None:
            epoch, position = self._resume
            start = position if epoch == self.epoch else 0
            self._resume = None
        return iter(self.order()[start:].tolist())

    def __len__(self) -> int:
        rank, world = _distributed()
        if self.even:
            return self.size // world
        return len(range(rank, self.size, world))


class BatchShards(Sampler[list[int]]):
    """The batches of a split scored in order (validation, test): batch j holds positions
    j·B … (j + 1)·B − 1, the same batches as in one process, and under DDP rank r of w takes
    whole batches r, r + w, r + 2w, … (none padded or repeated). Batch ``batch_idx`` of rank r
    is so batch :meth:`global_index` of the split, which seeds its draws: DDP scores every
    batch exactly as one process does.

    >>> [list(map(list, BatchShards(7, 3, rank=r, world=2))) for r in (0, 1)]
    [[[0, 1, 2], [6]], [[3, 4, 5]]]
    """

    def __init__(
        self, size: int, batch_size: int, rank: int | None = None, world: int | None = None
    ) -> None:
        self.size, self.batch_size = size, batch_size
        found = _distributed()
        self.rank = found[0] if rank is None else rank
        self.world = found[1] if world is None else world

    @staticmethod
    def global_index(batch_idx: int, rank: int, world: int) -> int:
        """Which batch of the split batch ``batch_idx`` of ``rank`` (of ``world``) is."""
        return batch_idx * world + rank

    def __iter__(self) -> Iterator[range]:
        batches = range(0, self.size, self.batch_size)
        for start in batches[self.rank :: self.world]:
            yield range(start, min(start + self.batch_size, self.size))

    def __len__(self) -> int:
        return len(range(0, self.size, self.batch_size)[self.rank :: self.world])
