"""The table of runs: one row per rd.json, as Markdown (and CSV for spreadsheets)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from rdframe.atomic import atomic_path
from rdframe.results import RunResult

COLUMNS = ("beta", "objective", "encoder", "decoder", "marginal", "dataset", "rate",
           "distortion", "elbo", "iwae_nll", "iwae_samples", "error", "epochs", "train_seconds")


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


def rows(results: Sequence[RunResult]) -> list[list[str]]:
    """Table cells, sorted by data set, family and β; ``error`` is the bottleneck's test error."""
    ordered = sorted(results, key=lambda r: (r.dataset, r.family, r.beta))
    return [[_cell(c, getattr(r, c)) for c in COLUMNS] for r in ordered]


def markdown_table(results: Sequence[RunResult]) -> str:
    """A Markdown table of every run; R, D, ELBO and IWAE NLL in nats per example (test)."""
    header = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join([header, rule, *body]) + "\n"


def write_csv(results: Sequence[RunResult], path: Path) -> Path:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows(results))
    return path
