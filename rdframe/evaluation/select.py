"""Reading the rate–distortion plane: its Pareto frontier and three selections of runs.

Every function takes RunResult records and treats them as points of one plane, D and R in
nats per example; :func:`planes` first splits a collection whose distortions cannot be
compared (two data sets, or the bottleneck's D_y = −E log c(y|z) beside a reconstruction's
D). Pure Python: no numpy, torch or Lightning.

    frontier(runs)                      the runs no other run beats in both D and R
    best_distortion(runs, min_rate)     the lowest D among runs with R ≥ min_rate
    best_elbo(runs)                     the highest ELBO
    same_elbo_groups(runs, tol, gap)    ELBOs within tol nats, rates ≥ gap nats apart

The last is the paper's "same ELBO, different models" (Alemi et al. 2018, "Fixing a Broken
ELBO", Fig. 1d): the ELBO alone cannot tell such runs apart, the rate can.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

from rdframe.results import RunResult

BOTTLENECK = "ib"  # the objective whose distortion is a label's loss, D_y = −E log c(y|z)
Point = tuple[float, float]


def pareto_front(points: Iterable[Sequence[float]]) -> list[Point]:
    """The (D, R) points that no other point dominates (lower or equal in both), sorted by D;
    a repeated point appears once, a point with a non-finite coordinate not at all.

    >>> pareto_front([(1.0, 3.0), (2.0, 2.0), (2.5, 2.5), (3.0, 1.0), (3.0, 1.0)])
    [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]
    """
    finite = ((float(d), float(r)) for d, r in points if math.isfinite(d) and math.isfinite(r))
    ordered = sorted(finite, key=lambda p: (p[0], p[1]))  # by D, then R
    front: list[Point] = []
    best_rate = math.inf
    for d, r in ordered:
        if r < best_rate:
            front.append((d, r))
            best_rate = r
    return front


def plane(run: RunResult) -> str:
    """The plane a run lies on: its data set, with " (ib)" for the bottleneck's runs."""
    return f"{run.dataset} (ib)" if run.objective == BOTTLENECK else run.dataset


def planes(runs: Iterable[RunResult]) -> dict[str, list[RunResult]]:
    """The runs grouped by :func:`plane`, planes by name, runs in the order given."""
    grouped: dict[str, list[RunResult]] = {}
    for run in runs:
        grouped.setdefault(plane(run), []).append(run)
    return dict(sorted(grouped.items()))


def frontier(runs: Sequence[RunResult]) -> list[RunResult]:
    """The runs on the Pareto frontier of :func:`pareto_front`, by D (then in the order
    given): every run at a frontier point, so two runs with the same (D, R) are both kept.
    Runs with a non-finite R or D are left out."""
    points = set(pareto_front((r.distortion, r.rate) for r in runs))
    return sorted((r for r in runs if (r.distortion, r.rate) in points),
                  key=lambda r: r.distortion)


def best_distortion(runs: Sequence[RunResult], min_rate: float) -> RunResult | None:
    """The run of lowest D among those with R ≥ ``min_rate`` (nats); of equal D the lower R,
    then the first given. None when no run reaches that rate."""
    eligible = [r for r in _finite(runs) if r.rate >= min_rate]
    return min(eligible, key=lambda r: (r.distortion, r.rate), default=None)


def best_elbo(runs: Sequence[RunResult]) -> RunResult | None:
    """The run of highest ELBO, of equal ELBO the first given; runs without a finite ELBO (the
    bottleneck's is None) are skipped. None when no run has one."""
    return max(_scored(runs), key=lambda r: r.elbo, default=None)


def same_elbo_groups(
    runs: Sequence[RunResult], tolerance: float = 1.0, min_rate_gap: float = 5.0
) -> list[tuple[RunResult, ...]]:
    """Groups of runs whose ELBOs agree within ``tolerance`` nats but whose rates span at least
    ``min_rate_gap`` nats: the same ELBO from different models.

    The rule, greedy and deterministic. Sort the runs with a finite ELBO by ELBO (then R, then
    the order given). A *window* is a run with every later run whose ELBO exceeds its own by at
    most ``tolerance``; it *qualifies* when it holds ≥ 2 runs whose rates span ≥
    ``min_rate_gap``. Take the qualifying window of widest rate span (then most runs, then
    highest ELBO, then lowest start), remove its runs, and repeat on the rest until none
    qualifies. So no run is in two groups, and no two runs left over have ELBOs within
    ``tolerance`` and rates ``min_rate_gap`` apart. Each group is sorted by R; groups by their
    highest ELBO, best first.
    """
    if not (tolerance >= 0 and min_rate_gap >= 0):
        raise ValueError(f"tolerance and min_rate_gap must be >= 0, got {tolerance}, "
                         f"{min_rate_gap}")
    pool = sorted(_scored(runs), key=lambda r: (r.elbo, r.rate))
    groups: list[tuple[RunResult, ...]] = []
    while (window := _widest_window(pool, tolerance, min_rate_gap)) is not None:
        start, stop = window
        groups.append(tuple(sorted(pool[start:stop], key=lambda r: r.rate)))
        pool = pool[:start] + pool[stop:]
    return sorted(groups, key=lambda group: -max(r.elbo for r in group))


def rate_span(runs: Sequence[RunResult]) -> float:
    """The largest rate less the smallest, nats."""
    return max(r.rate for r in runs) - min(r.rate for r in runs)


def _windows(elbos: Sequence[float], tolerance: float) -> list[tuple[int, int]]:
    """(start, stop) of each window of the sorted ``elbos``.

    >>> _windows([0.0, 0.5, 1.0, 3.0], 1.0)
    [(0, 3), (1, 3), (2, 3), (3, 4)]
    """
    return [(i, bisect.bisect_right(elbos, e + tolerance)) for i, e in enumerate(elbos)]


def _widest_window(
    pool: Sequence[RunResult], tolerance: float, min_rate_gap: float
) -> tuple[int, int] | None:
    """The window :func:`same_elbo_groups` takes next from the sorted ``pool``, or None."""
    qualifying = [(start, stop) for start, stop in _windows([r.elbo for r in pool], tolerance)
                  if stop - start >= 2 and rate_span(pool[start:stop]) >= min_rate_gap]

    def rank(window: tuple[int, int]) -> tuple[float, int, float, int]:
        start, stop = window
        return rate_span(pool[start:stop]), stop - start, pool[stop - 1].elbo, -start

    return max(qualifying, key=rank, default=None)


def _finite(runs: Iterable[RunResult]) -> list[RunResult]:
    return [r for r in runs if math.isfinite(r.rate) and math.isfinite(r.distortion)]


def _scored(runs: Iterable[RunResult]) -> list[RunResult]:
    return [r for r in _finite(runs) if r.elbo is not None and math.isfinite(r.elbo)]
