"""Dynamic binarisation: every time an image is read, x ~ Bernoulli(its grey levels)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.data import Dataset, get_worker_info

from rdframe.data.tensors import rows


class DynamicBinarization(Dataset):
    """Pairs (x, y) whose binary x ~ Π_i Bernoulli(g_i) is drawn afresh from grey levels g in
    [0, 1] each time it is read, so that each epoch sees a new sample of every image
    (Salakhutdinov & Murray, "On the quantitative analysis of deep belief networks", 2008).

    Draws come from a generator of its own, seeded by ``seed`` (plus the process rank under
    DDP) in the main process, and by PyTorch's per-worker seed in a loader worker, so workers
    never repeat each other and a run is reproducible for a given loader seed. The main
    process's stream is part of the data module's checkpointed state.

    >>> images = DynamicBinarization(torch.full((4, 1, 2, 2), 0.5), torch.arange(4), seed=0)
    >>> x, y = images[3]
    >>> x.shape, set(x.flatten().tolist()) <= {0.0, 1.0}, y.item()
    (torch.Size([1, 2, 2]), True, 3)
    """

    def __init__(self, grey: Tensor, labels: Tensor, seed: int = 0) -> None:
        self.grey, self.labels, self.seed = grey, labels, seed
        self._generator: torch.Generator | None = None
        self._generator_seed: int | None = None

    def __len__(self) -> int:
        return len(self.grey)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return torch.bernoulli(self.grey[index], generator=self._rng()), self.labels[index]

    def gather(self, indices: list[int]) -> tuple[Tensor, Tensor]:
        """The examples ``indices`` stacked, their x drawn in one call
        (:mod:`rdframe.data.tensors`)."""
        index = rows(indices)
        return torch.bernoulli(self.grey[index], generator=self._rng()), self.labels[index]

    def _rng(self) -> torch.Generator:
        worker = get_worker_info()
        seed = self.seed + _rank() if worker is None else worker.seed
        if self._generator is None or self._generator_seed != seed:
            self._generator = torch.Generator().manual_seed(seed)
            self._generator_seed = seed
        return self._generator

    def state_dict(self) -> dict[str, Tensor]:
        """The main process's stream of draws, saved in checkpoints so that a resumed run
        draws what an uninterrupted one would (exactly so with ``num_workers=0``)."""
        return {"generator": self._rng().get_state()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        self._rng().set_state(state["generator"])

    def __getstate__(self) -> dict:
        """Workers start from their own seed: the generator does not travel with the copy."""
        return {**self.__dict__, "_generator": None, "_generator_seed": None}


def _rank() -> int:
    distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
    return torch.distributed.get_rank() if distributed else 0
