"""The table of runs: one row per rd.json, as Markdown (and CSV for spreadsheets)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from rdframe.results import RunResult

COLUMNS = ("beta", "objective", "encoder", "decoder", "marginal", "dataset",
           "rate", "distortion", "elbo", "iwae_nll", "iwae_samples", "epochs", "train_seconds")


def _cell(value: object) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def rows(results: Sequence[RunResult]) -> list[list[str]]:
    """Table cells, sorted by data set, family and β."""
    ordered = sorted(results, key=lambda r: (r.dataset, r.family, r.beta))
    return [[_cell(getattr(r, c)) for c in COLUMNS] for r in ordered]


def markdown_table(results: Sequence[RunResult]) -> str:
    """A Markdown table of every run; R, D, ELBO and IWAE NLL in nats per example (test)."""
    header = "| " + " | ".join(COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(row) + " |" for row in rows(results)]
    return "\n".join([header, rule, *body]) + "\n"


def write_csv(results: Sequence[RunResult], path: Path) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows(results))
    return path
