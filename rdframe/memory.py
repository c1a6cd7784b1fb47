"""How many (sample, example) rows one pass of the importance-weighted bound may take, from a
memory budget: measured on the model itself, not fixed.

::

    probe: score PROBE_ROWS draws of one example, peak memory measured
        (CUDA: the allocator's peak; elsewhere: the bytes of live tensors, op by op)
    rows = budget / (peak per row × SAFETY)

A PixelCNN on 28×28 images holds about a hundred times what an MLP decoder holds per row, so a
fixed row count is too small for the one or runs the other out of memory (10,000 rows of
PixelCNN: 15–20 GB). The default budget is half the free memory of a CUDA device, and
DEFAULT_CPU_BYTES on the CPU, where large passes are memory-bound: for the MLP VAE at k = 1000,
passes of 1,000–4,500 rows ran 1.2–1.3× faster than a per-example loop and passes of 76,000
rows (a 1 GB budget) 0.8× (benchmarks/bench_iwae.py --rows, side by side).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from rdframe.components import rsample_and_log_prob
from rdframe.estimators import log_weights

if TYPE_CHECKING:
    from rdframe.model import RDModel

PROBE_ROWS = 32  # draws of one example scored by the probe
# headroom over the measured peak per row: on this CPU the resident memory of a pass rose by
# 0.8× (PixelCNN decoder), 1.6× (conv decoder) and 1.5× (IAF encoder under the VampPrior) the
# bytes LiveBytes counts (views that outlive their base, the allocator's rounding)
SAFETY = 2.0
DEFAULT_CPU_BYTES = 64 << 20  # 64 MiB: passes that stay near the caches (see below)
GIB = 1 << 30


class LiveBytes(TorchDispatchMode):
    """The bytes held by tensors that operations made while this mode is on: ``live`` now and
    ``peak`` the most at any time. A tensor counts from the operation that made it until it is
    freed; views and in-place results share an input's storage and do not count again.

    >>> with torch.no_grad(), LiveBytes() as memory:
    ...     a = torch.ones(1000)  # 4,000 bytes
    ...     b = (a + 1) * 2  # a + 1 (4,000) is freed once multiplied
    ...     del a
    >>> memory.peak, memory.live
    (12000, 4000)
    """

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_flatten((args, kwargs))[0]
                  if isinstance(t, Tensor)}
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, Tensor) and tensor.untyped_storage().data_ptr() not in inputs:
                size = tensor.untyped_storage().nbytes()
                self.live += size
                self.peak = max(self.peak, self.live)
                weakref.finalize(tensor, self._free, size)
        return out

    def _free(self, size: int) -> None:
        self.live -= size


def _device(model: RDModel) -> torch.device:
    parameter = next(model.parameters(), None)
    return torch.device("cpu") if parameter is None else parameter.device


def default_budget(device: torch.device) -> int:
    """Bytes an IWAE pass may take by default: half the free memory of a CUDA device, else
    DEFAULT_CPU_BYTES."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    return DEFAULT_CPU_BYTES


@torch.no_grad()
def bytes_per_row(model: RDModel, x: Tensor) -> float:
    """Peak memory of scoring one (sample, example) row of the IWAE bound, measured on
    PROBE_ROWS draws of the first example of ``x`` (drawn aside: the random state is left as
    it was)."""
    example, device = x[:1], _device(model)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        z, log_e = rsample_and_log_prob(model.encoder(example), torch.Size([PROBE_ROWS]))
    marginal = model.marginal()

    def score() -> Tensor:
        return log_weights(model, marginal, example, z, log_e)

    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        score()
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
    else:
        with LiveBytes() as memory:
            score()
        peak = memory.peak
    return max(peak, 1) / PROBE_ROWS


def iwae_rows(model: RDModel, x: Tensor, budget: int | None = None) -> int:
    """(sample, example) rows per IWAE pass that fit ``budget`` bytes (default:
    :func:`default_budget` of the model's device); at least 1."""
    budget = default_budget(_device(model)) if budget is None else budget
    return max(1, int(budget / (bytes_per_row(model, x) * SAFETY)))
