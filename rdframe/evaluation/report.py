"""The report of a sweep: the table of runs (Markdown, and CSV for spreadsheets), then what the
plane says — its Pareto frontier, the best ELBO, the lowest distortion at a given rate and the
runs of the same ELBO but different rates (see :mod:`rdframe.evaluation.select`).

R, D and ELBO are in nats per example (test split). The family is the paper's three symbols,
encoder·decoder·marginal ("−+v"), or "encoder/decoder/marginal" for other choices.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from rdframe.atomic import atomic_path
from rdframe.evaluation.select import (
    best_distortion,
    best_elbo,
    frontier,
    planes,
    rate_span,
    same_elbo_groups,
)
from rdframe.results import RunResult

COLUMNS = ("beta", "objective", "family", "dataset", "rate", "distortion", "elbo", "iwae_nll",
           "iwae_samples", "error", "epochs", "train_seconds", "frontier")


def columns(results: Sequence[RunResult]) -> tuple[str, ...]:
    """:data:`COLUMNS`, with ``sigma`` (the target rate) after ``beta`` when a run has one."""
    if any(r.sigma is not None for r in results):
        return COLUMNS[:1] + ("sigma",) + COLUMNS[1:]
    return COLUMNS


def _cell(column: str, value: object) -> str:
    """``beta`` in general format (1e-04), other floats to three decimals, None as a dash.

    >>> _cell("beta", 0.0001), _cell("rate", 2.0), _cell("error", None)
    ('0.0001', '2.000', '—')
    """
    if value is None:
        return "—"
    if column == "beta":
        return f"{value:g}"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _order(r: RunResult) -> tuple:
    """Rows by data set, family, objective, β, then σ."""
    return r.dataset, r.family, r.objective, r.beta, -math.inf if r.sigma is None else r.sigma


def _value(r: RunResult, column: str, front: set[int]) -> object:
    """The run's value in ``column``; ``frontier`` is "yes" for a run on its plane's frontier."""
    if column == "frontier":
        return "yes" if id(r) in front else "no"
    return getattr(r, column)


def rows(results: Sequence[RunResult]) -> list[list[str]]:
    """Table cells, sorted by :func:`_order`; ``error`` is the bottleneck's test error."""
    ordered = sorted(results, key=_order)
    front = {id(r) for runs in planes(results).values() for r in frontier(runs)}
    cols = columns(results)
    return [[_cell(c, _value(r, c, front)) for c in cols] for r in ordered]


def markdown_table(results: Sequence[RunResult]) -> str:
    """A Markdown table of every run; R, D, ELBO and IWAE NLL in nats per example (test)."""
    cols = columns(results)
    header = "| " + " | ".join(cols) + " |"
    rule = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join([header, rule, *body]) + "\n"


def write_csv(results: Sequence[RunResult], path: Path) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns(results))
        writer.writerows(rows(results))
    return path


def describe(r: RunResult) -> str:
    """One run in one line: β, σ, family, R, D, ELBO (nats; none for the bottleneck, whose
    test error comes instead) and its folder.

    >>> describe(RunResult(1.5, 2.0, -3.5, None, 0, 0.5, "beta_vae", "mlp", "mlp",
    ...                    "standard_normal", "digits", None, 0, 1, 1, 1.0))
    'β=0.5 mlp/mlp/standard_normal R=1.500 D=2.000 ELBO=-3.500'
    """
    sigma = "" if r.sigma is None else f" σ={r.sigma:g}"
    elbo = "" if r.elbo is None else f" ELBO={_cell('elbo', r.elbo)}"
    error = "" if r.error is None else f" error={_cell('error', r.error)}"
    folder = "" if r.path is None else f" ({Path(r.path).parent})"
    return (f"β={r.beta:g}{sigma} {r.family} R={_cell('rate', r.rate)} "
            f"D={_cell('distortion', r.distortion)}{elbo}{error}{folder}")


def _section(title: str, rule: str, lines: list[str]) -> str:
    """A Markdown section: its title, the rule it applies, its lines (one bullet per run)."""
    return "\n".join([f"## {title}", "", rule, "", *lines]) + "\n"


def _frontier_section(by_plane: dict[str, list[RunResult]]) -> str:
    lines = [f"- {name}: {describe(r)}" for name, runs in by_plane.items() for r in frontier(runs)]
    return _section("Pareto frontier", "The runs that no other run beats in both D and R "
                    "(lower is better), by D.", lines)


def _best_elbo_section(by_plane: dict[str, list[RunResult]]) -> str:
    best = {name: best_elbo(runs) for name, runs in by_plane.items()}
    lines = [f"- {name}: {describe(r)}" for name, r in best.items() if r is not None]
    return _section("Best ELBO", "The highest ELBO = −(D + R) of each plane.",
                    lines or ["No run has an ELBO (a bottleneck run's D is −E log c(y|z))."])


def _best_distortion_section(by_plane: dict[str, list[RunResult]], min_rate: float) -> str:
    lines = []
    for name, runs in by_plane.items():
        best = best_distortion(runs, min_rate)
        top = max((r.rate for r in runs if math.isfinite(r.rate)), default=math.nan)
        lines.append(f"- {name}: {describe(best)}" if best is not None else
                     f"- {name}: no run has R ≥ {min_rate:g} (the highest rate is {top:.3f}).")
    return _section(f"Lowest distortion at R ≥ {min_rate:g}",
                    f"The run of lowest D among those with a rate of at least {min_rate:g} nats.",
                    lines)


def _same_elbo_section(by_plane: dict[str, list[RunResult]], tolerance: float,
                      min_rate_gap: float) -> str:
    lines = []
    for name, runs in by_plane.items():
        for group in same_elbo_groups(runs, tolerance, min_rate_gap):
            elbos = [r.elbo for r in group]
            lines.append(f"- {name}: ELBO {min(elbos):.3f} to {max(elbos):.3f}, rates "
                         f"{rate_span(group):.3f} apart:")
            lines += [f"  - {describe(r)}" for r in group]
    rule = (f"Runs whose ELBOs differ by at most {tolerance:g} but whose rates by at least "
            f"{min_rate_gap:g} (nats): the same ELBO from different models (Alemi et al. 2018, "
            "Fig. 1d). Each group by R.")
    return _section("Same ELBO, different rates", rule, lines or ["No such runs."])


def markdown_report(
    results: Sequence[RunResult],
    min_rate: float | None = None,
    elbo_tolerance: float = 1.0,
    min_rate_gap: float = 5.0,
) -> str:
    """:func:`markdown_table`, then the sections of the plane, each per data set (the
    bottleneck's runs on a plane of their own): the frontier, the best ELBO, the lowest D at
    R ≥ ``min_rate`` (only when it is given) and the same-ELBO groups; nats."""
    by_plane = planes(results)
    sections = [markdown_table(results), _frontier_section(by_plane), _best_elbo_section(by_plane)]
    if min_rate is not None:
        sections.append(_best_distortion_section(by_plane, min_rate))
    sections.append(_same_elbo_section(by_plane, elbo_tolerance, min_rate_gap))
    return "\n".join(sections)
