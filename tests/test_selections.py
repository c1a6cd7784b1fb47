"""The frontier and the selections of a sweep, on hand-made points whose answers are known.

Runs are RunResult records built directly, named by their β; ELBO = −(R + D) unless given.
The numbers are binary fractions, so that every comparison is exact.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import pytest

from rdframe.evaluation.select import (
    best_distortion,
    best_elbo,
    frontier,
    pareto_front,
    planes,
    same_elbo_groups,
)
from rdframe.results import RunResult

NO_ELBO = object()  # elbo=None, as a bottleneck run reports


def run(beta: float, rate: float, distortion: float, elbo: object = None,
        dataset: str = "digits", objective: str = "beta_vae") -> RunResult:
    """A record at (D, R) = (``distortion``, ``rate``) named by ``beta``."""
    value = -(rate + distortion) if elbo is None else None if elbo is NO_ELBO else elbo
    return RunResult(rate=rate, distortion=distortion, elbo=value, iwae_nll=None,
                     iwae_samples=0, beta=beta, objective=objective, encoder="mlp",
                     decoder="mlp", marginal="standard_normal", dataset=dataset, entropy=None,
                     seed=0, epochs=1, steps=1, train_seconds=1.0)


def names(runs: Sequence[RunResult]) -> list[float]:
    return [r.beta for r in runs]


def dominated(r: RunResult, runs: Sequence[RunResult]) -> bool:
    return any(q.distortion <= r.distortion and q.rate <= r.rate
               and (q.distortion, q.rate) != (r.distortion, r.rate) for q in runs)


# --- The frontier -------------------------------------------------------------------------------


def test_frontier_keeps_the_runs_no_other_run_beats_in_both_d_and_r():
    runs = [run(1, 4.0, 1.0), run(2, 2.0, 2.0), run(3, 3.0, 3.0),  # 3 loses to 2 in both
            run(4, 1.0, 4.0), run(5, 2.0, 2.5),  # 5 ties 2 in R with more D
            run(6, 8.0, 0.5), run(7, 4.0, 1.25)]  # 7 ties 1 in R with more D
    assert names(frontier(runs)) == [6, 1, 2, 4]  # by D
    assert pareto_front((r.distortion, r.rate) for r in runs) == [(0.5, 8.0), (1.0, 4.0),
                                                                  (2.0, 2.0), (4.0, 1.0)]


def test_runs_at_one_frontier_point_are_all_kept_and_non_finite_runs_none():
    runs = [run(1, 2.0, 2.0), run(2, 5.0, 1.0), run(3, 2.0, 2.0), run(4, math.nan, 0.0),
            run(5, 0.0, math.inf), run(6, -math.inf, 9.0)]
    assert names(frontier(runs)) == [2, 1, 3]  # 1 and 3 at the same point, in the order given
    assert pareto_front([(2.0, 2.0), (2.0, 2.0)]) == [(2.0, 2.0)]  # the line has it once
    assert frontier([]) == [] and pareto_front([]) == []


def test_frontier_equals_the_definition_on_random_points_with_ties():
    rng = random.Random(0)
    for _ in range(50):
        runs = [run(i, rng.randint(0, 6) / 2, rng.randint(-4, 6) / 2) for i in range(12)]
        expected = sorted((r for r in runs if not dominated(r, runs)), key=lambda r: r.distortion)
        assert names(frontier(runs)) == names(expected)


def test_planes_keep_data_sets_and_the_bottleneck_apart():
    runs = [run(1, 1.0, 1.0, dataset="mnist"), run(2, 9.0, 0.5, NO_ELBO, objective="ib"),
            run(3, 2.0, 2.0), run(4, 3.0, 3.0, dataset="mnist")]
    grouped = planes(runs)
    assert {k: names(v) for k, v in grouped.items()} == {"digits": [3], "digits (ib)": [2],
                                                         "mnist": [1, 4]}
    assert list(grouped) == ["digits", "digits (ib)", "mnist"]


# --- The lowest distortion at a rate ------------------------------------------------------------


def test_lowest_distortion_among_runs_that_reach_the_rate():
    runs = [run(1, 2.0, 10.0), run(2, 6.0, 7.0), run(3, 5.0, 8.0), run(4, 9.0, 6.5),
            run(5, 4.75, 1.0)]  # 5 has the lowest D of all but misses R ≥ 5
    assert best_distortion(runs, 5.0).beta == 4
    assert best_distortion(runs, 9.0).beta == 4  # R = 9 reaches R ≥ 9: the bound is inclusive
    assert best_distortion(runs, 0.0).beta == 5
    assert best_distortion(runs, 9.25) is None  # no run reaches it: an answer, not an error
    assert best_distortion([], 0.0) is None


def test_lowest_distortion_ties_go_to_the_lower_rate_then_the_first_given():
    runs = [run(1, 8.0, 3.0), run(2, 6.0, 3.0), run(3, 6.0, 3.0), run(4, math.nan, 0.0)]
    assert best_distortion(runs, 5.0).beta == 2
    assert best_distortion(runs[::-1], 5.0).beta == 3


# --- The best ELBO ------------------------------------------------------------------------------


def test_best_elbo_is_the_highest_skipping_runs_without_one():
    runs = [run(1, 5.0, 20.0), run(2, 0.5, 1.0, NO_ELBO, objective="ib"), run(3, 9.0, 12.0),
            run(4, 1.0, 1.0, math.nan), run(5, 12.0, 14.0)]
    assert best_elbo(runs).beta == 3  # −21 beats −25 and −26; None and NaN are no ELBO
    assert best_elbo(runs[1:2]) is None and best_elbo([]) is None


def test_best_elbo_tie_goes_to_the_first_given():
    runs = [run(1, 2.0, 8.0), run(2, 7.0, 3.0), run(3, 1.0, 12.0)]
    assert best_elbo(runs).beta == 1 and best_elbo(runs[::-1]).beta == 2


# --- Same ELBO, different rates -----------------------------------------------------------------


def groups(runs: Sequence[RunResult], tolerance: float, gap: float) -> list[list[float]]:
    return [names(group) for group in same_elbo_groups(runs, tolerance, gap)]


def test_the_widest_rate_span_is_taken_first():
    """ELBOs −11.25 (R 30), −10.5 (R 10), −10 (R 0) within 1 nat, 5 apart in rate: the windows
    {−11.25, −10.5} (span 20) and {−10.5, −10} (span 10) share a run; the wider wins, and −10
    is left alone."""
    runs = [run(1, 0.0, 10.0), run(2, 10.0, 0.5), run(3, 30.0, -18.75)]
    assert groups(runs, 1.0, 5.0) == [[2, 3]]


def test_a_run_left_over_by_one_window_can_join_the_next():
    """Partitioning from the top would take {−100, −100.75} (span 0.5, too small) and lose
    {−100.75, −101.5} (span 14.5); the windows find it."""
    runs = [run(1, 5.0, 95.0), run(2, 5.5, 95.25), run(3, 20.0, 81.5)]
    assert groups(runs, 1.0, 5.0) == [[2, 3]]


def test_groups_are_disjoint_sorted_by_rate_and_best_elbo_first():
    runs = [run(1, 1.0, 49.0), run(2, 20.0, 29.5), run(3, 10.0, 40.25),  # ELBO ≈ −50
            run(4, 3.0, 17.0), run(5, 15.0, 5.5),  # ELBO ≈ −20.5
            run(6, 8.0, 72.0)]  # alone at −80
    assert groups(runs, 1.0, 5.0) == [[4, 5], [1, 3, 2]]


def test_both_bounds_are_inclusive_and_none_elbos_never_group():
    runs = [run(1, 0.0, 10.0), run(2, 5.0, 6.0), run(3, 0.25, 1.0, NO_ELBO, objective="ib")]
    assert groups(runs, 1.0, 5.0) == [[1, 2]]  # ELBOs exactly 1 apart, rates exactly 5
    assert groups(runs, 0.75, 5.0) == [] and groups(runs, 1.0, 5.25) == []
    assert groups(runs[2:], 1.0, 0.0) == [] and groups([], 1.0, 5.0) == []


def test_a_negative_tolerance_or_gap_is_refused():
    with pytest.raises(ValueError, match="must be >= 0"):
        same_elbo_groups([run(1, 1.0, 1.0)], -1.0, 5.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        same_elbo_groups([run(1, 1.0, 1.0)], 1.0, math.nan)


@pytest.mark.parametrize("seed", range(20))
def test_same_elbo_groups_keep_their_promises_on_random_sweeps(seed):
    """Every group: ≥ 2 runs, ELBOs within the tolerance, rates spanning the gap, sorted by
    R; no run in two groups; no two runs left over that would form a group; groups best ELBO
    first; and the answer independent of the order the runs come in."""
    rng = random.Random(seed)
    runs = [run(i, rng.uniform(0, 40), rng.uniform(0, 40) - rng.uniform(0, 8) * (i % 3))
            for i in range(25)]
    tolerance, gap = rng.choice([0.5, 1.0, 2.0]), rng.choice([2.0, 5.0, 10.0])
    found = same_elbo_groups(runs, tolerance, gap)
    grouped = [r.beta for group in found for r in group]
    assert len(grouped) == len(set(grouped))
    for group in found:
        elbos, rates = [r.elbo for r in group], [r.rate for r in group]
        assert len(group) >= 2 and max(elbos) - min(elbos) <= tolerance
        assert max(rates) - min(rates) >= gap and rates == sorted(rates)
    tops = [max(r.elbo for r in group) for group in found]
    assert tops == sorted(tops, reverse=True)
    left = [r for r in runs if r.beta not in grouped]
    assert not any(abs(a.elbo - b.elbo) <= tolerance and abs(a.rate - b.rate) >= gap
                   for a in left for b in left)
    shuffled = runs[:]
    rng.shuffle(shuffled)
    assert groups(shuffled, tolerance, gap) == [names(group) for group in found]
