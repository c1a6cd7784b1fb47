"""Learning-rate schedules that torch does not ship, as ``torch.optim.lr_scheduler`` classes."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from rdframe.errors import ConfigError


class ConstantThenLinearDecay(LambdaLR):
    r"""The learning rate holds for the first ``decay_start`` fraction of ``total`` scheduler
    steps (epochs or optimiser steps, as its ``interval`` says), then falls linearly to 0 at
    ``total``: the schedule of Alemi et al., "Fixing a Broken ELBO" (ICML 2018), App. F.

    factor(t) = 1 for t ≤ s·T, else max(0, (T − t) / (T − s·T)), s = ``decay_start``.

    >>> import torch
    >>> optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    >>> schedule = ConstantThenLinearDecay(optimizer, total=4, decay_start=0.5)
    >>> rates = []
    >>> for _ in range(5):
    ...     rates.append(optimizer.param_groups[0]["lr"])
    ...     optimizer.step(); schedule.step()
    >>> rates
    [1.0, 1.0, 1.0, 0.5, 0.0]
    """

    def __init__(self, optimizer: Optimizer, total: int, decay_start: float = 0.5) -> None:
        if not (isinstance(total, int) and total >= 1 and 0 <= decay_start < 1):
            raise ConfigError(
                f"scheduler: total must be a whole number >= 1 and decay_start in [0, 1), got "
                f"total={total!r}, decay_start={decay_start!r}; e.g. scheduler.scheduler.total=100"
            )
        self.total, self.decay_start = total, decay_start
        super().__init__(optimizer, self.factor)

    def factor(self, step: int) -> float:
        start = self.decay_start * self.total
        if step <= start:
            return 1.0
        return max(0.0, (self.total - step) / (self.total - start))
