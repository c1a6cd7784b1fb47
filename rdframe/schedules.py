"""β schedules: the weight on the rate as a pure function of the optimisation step.

A schedule is a callable ``step -> β`` with no state, so the β in force at any step can be
recomputed (and logged) exactly. From yaml, ``objective.beta`` takes a number (a constant)
or a schedule object::

    objective:
      beta:
        _target_: rdframe.schedules.CyclicalSchedule
        beta: 1.0
        period: 1000
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

from rdframe.errors import ConfigError


def check_beta(value: float, name: str = "objective.beta") -> float:
    """``value`` as a float if it is a finite number ≥ 0, else a ConfigError saying so."""
    try:
        value = float(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{name} must be a number >= 0, got {value!r}") from error
    if not (value >= 0 and math.isfinite(value)):
        raise ConfigError(f"{name} must be a finite number >= 0, got {value}; e.g. {name}=0.5")
    return value


def _check_steps(value: int, name: str) -> int:
    if not (isinstance(value, int) and value >= 1):
        raise ConfigError(f"{name} must be a whole number of steps >= 1, got {value!r}")
    return value


class Schedule(ABC):
    """β(step) ≥ 0, a pure function of the step."""

    @abstractmethod
    def __call__(self, step: int) -> float:
        """The β in force at optimisation step ``step`` (0-based)."""


class ConstantSchedule(Schedule):
    """β(step) = β for every step.

    >>> ConstantSchedule(0.5)(10_000)
    0.5
    """

    def __init__(self, beta: float) -> None:
        self.beta = check_beta(beta)

    def __call__(self, step: int) -> float:
        return self.beta

    def __repr__(self) -> str:
        return f"ConstantSchedule(beta={self.beta:g})"


class LinearWarmup(Schedule):
    r"""β rises linearly from ``start`` to ``beta`` over ``steps`` steps, then stays there.

    β(t) = start + (beta − start)·min(t / steps, 1): the KL annealing of Bowman et al.,
    "Generating Sentences from a Continuous Space" (CoNLL 2016).

    >>> schedule = LinearWarmup(beta=1.0, steps=100)
    >>> schedule(0), schedule(50), schedule(100), schedule(1000)
    (0.0, 0.5, 1.0, 1.0)
    """

    def __init__(self, beta: float, steps: int, start: float = 0.0) -> None:
        self.beta = check_beta(beta)
        self.start = check_beta(start, "the warm-up's start")
        self.steps = _check_steps(steps, "the warm-up's steps")

    def __call__(self, step: int) -> float:
        fraction = min(max(step, 0) / self.steps, 1.0)
        return self.start + (self.beta - self.start) * fraction

    def __repr__(self) -> str:
        return f"LinearWarmup(beta={self.beta:g}, steps={self.steps}, start={self.start:g})"


class CyclicalSchedule(Schedule):
    r"""Cyclical annealing: in each cycle of ``period`` steps β rises linearly from 0 to
    ``beta`` over the first ``ratio`` of the cycle, then holds ``beta``.

    τ = (t mod period) / period; β(t) = beta·min(τ / ratio, 1). After ``cycles`` cycles
    (if given) β stays at ``beta``. Fu et al., "Cyclical Annealing Schedule: A Simple
    Approach to Mitigating KL Vanishing" (NAACL 2019).

    >>> schedule = CyclicalSchedule(beta=1.0, period=100, ratio=0.5)
    >>> [schedule(t) for t in (0, 25, 50, 99, 100, 125)]
    [0.0, 0.5, 1.0, 1.0, 0.0, 0.5]
    """

    def __init__(
        self, beta: float, period: int, ratio: float = 0.5, cycles: int | None = None
    ) -> None:
        self.beta = check_beta(beta)
        self.period = _check_steps(period, "the cyclical schedule's period")
        if not 0 < ratio <= 1:
            raise ConfigError(f"the cyclical schedule's ratio must lie in (0, 1], got {ratio}")
        self.ratio = float(ratio)
        self.cycles = None if cycles is None else _check_steps(cycles, "the number of cycles")

    def __call__(self, step: int) -> float:
        step = max(step, 0)
        if self.cycles is not None and step >= self.cycles * self.period:
            return self.beta
        phase = (step % self.period) / self.period
        return self.beta * min(phase / self.ratio, 1.0)

    def __repr__(self) -> str:
        return (
            f"CyclicalSchedule(beta={self.beta:g}, period={self.period}, ratio={self.ratio:g}, "
            f"cycles={self.cycles})"
        )


def as_schedule(beta: float | Schedule) -> Schedule:
    """A schedule from a number (constant β) or a schedule (returned as is)."""
    return beta if isinstance(beta, Schedule) else ConstantSchedule(beta)
