"""What every rdframe data module tells the rest of the framework."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from rdframe.data.sampler import BatchShards, EpochSampler
from rdframe.data.tensors import collate, gathering
from rdframe.errors import ConfigError


class RDDataModule(pl.LightningDataModule):
    """A LightningDataModule whose batches are ``(x, y)`` pairs, with the facts a model needs.

    Subclasses set ``name``, ``shape`` (of one x), ``num_classes`` (of y; 0 for a set without
    labels, whose y is a tensor of -1) and ``entropy`` (H(X) in nats per example when known
    exactly, else ``None``), and build ``self.train_set``, ``self.val_set`` and
    ``self.test_set`` in ``setup``.

    Loader defaults suit sets held in memory as tensors: ``num_workers=0`` (indexing a tensor
    costs less than handing batches between processes), pinned memory when the trainer runs
    on CUDA (``pin_memory=None``), persistent workers whenever there are workers
    (``persistent_workers=None``). Each can be set from the config (``data.num_workers=4``).
    A set that can ``gather`` a batch (:mod:`rdframe.data.tensors`; every set of the built-in
    modules) is served a whole batch per index operation, not example by example.

    ``seed`` (the run's seed, ``seed: ${seed}`` in every data config) fixes the training order
    of every epoch (:class:`~rdframe.data.sampler.EpochSampler`) and any draw made while
    training (dynamic binarisation); the split itself has its own ``split_seed``, so that runs
    of different seeds are scored on the same test examples. ``train_fraction`` f < 1 trains
    on the first f·N examples (rounded) of the N in the training split only: a fixed subset,
    the same for every seed and epoch, an epoch being that many examples; validation and
    test stay whole, scored in the batches of one process whatever the number of DDP ranks
    (:class:`~rdframe.data.sampler.BatchShards`). The module's ``state_dict`` is where its
    epoch stands: a run restored from a mid-epoch checkpoint continues with the batches it had
    not seen, in the same order.
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
        pin_memory: bool | None = None,
        persistent_workers: bool | None = None,
        seed: int = 0,
        train_fraction: float = 1.0,
    ) -> None:
        super().__init__()
        if batch_size < 1 or num_workers < 0:
            raise ConfigError(
                f"data.batch_size must be >= 1 and data.num_workers >= 0, "
                f"got {batch_size} and {num_workers}"
            )
        if not 0.0 < train_fraction <= 1.0:
            raise ConfigError(
                f"data.train_fraction must lie in (0, 1], got {train_fraction}; e.g. 0.1 "
                "trains on the first tenth of the training split"
            )
        self.train_fraction = train_fraction
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.seed = seed
        self._resume: dict[str, int] | None = None
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None

    @property
    def loader_options(self) -> dict[str, Any]:
        """Keyword arguments of every DataLoader, with the automatic choices resolved."""
        persistent = self.persistent_workers
        return {
            "num_workers": self.num_workers,
            "pin_memory": self._on_cuda() if self.pin_memory is None else self.pin_memory,
            "persistent_workers": self.num_workers > 0 if persistent is None else persistent,
        }

    def _on_cuda(self) -> bool:
        """Whether the trainer this module is attached to (if any) trains on a CUDA device."""
        return self.trainer is not None and self.trainer.strategy.root_device.type == "cuda"

    def _loader(self, dataset: Dataset | None, train: bool, batch_size: int) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() must run before its loaders")
        if not train:  # whole batches per rank: DDP scores the batches of one process
            shards = BatchShards(len(dataset), batch_size)
            return DataLoader(gathering(dataset), batch_sampler=shards, collate_fn=collate,
                              **self.loader_options)
        sampler = EpochSampler(self.train_size(len(dataset)), shuffle=True, seed=self.seed,
                               even=True)
        if self._resume is not None:
            sampler.resume_at(self._resume["epoch"], self._resume["batches"] * batch_size)
            self._resume = None
        return DataLoader(gathering(dataset), batch_size, sampler=sampler, collate_fn=collate,
                          **self.loader_options)

    def train_size(self, size: int) -> int:
        """How many of the training split's ``size`` examples an epoch visits: f·size, rounded,
        at least one."""
        return max(1, round(self.train_fraction * size))

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, True, self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, False, self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, False, self.eval_batch_size)

    def state_dict(self) -> dict[str, Any]:
        """Where training stands in its epoch (saved in every checkpoint by Lightning)."""
        if self.trainer is None:
            return {}
        progress = self.trainer.fit_loop.epoch_loop.batch_progress.current
        state = {"epoch": self.trainer.current_epoch, "batches": progress.processed}
        stream = getattr(self.train_set, "state_dict", None)
        return state | ({"train_set": stream()} if stream else {})

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the position in the epoch and the training draws' stream, if any (Lightning
        calls this after ``setup``, before the training loader is made)."""
        if "epoch" in state:
            self._resume = {"epoch": state["epoch"], "batches": state["batches"]}
        if "train_set" in state:
            self.train_set.load_state_dict(state["train_set"])
