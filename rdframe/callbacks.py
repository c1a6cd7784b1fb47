"""Hydra callback: when a sweep ends, draw its rate–distortion plane and write its table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rdframe.atomic import atomic_write
from rdframe.errors import RDFrameError
from rdframe.evaluation.plot import plot_rd_plane
from rdframe.evaluation.report import markdown_table, write_csv
from rdframe.results import find_results


def summarise(folder: Path) -> list[Path]:
    """Write rd_plane.{png,pdf}, report.md and report.csv for every rd.json under ``folder``."""
    results = find_results([folder])
    table = markdown_table(results)
    atomic_write(folder / "report.md", table)
    paths = plot_rd_plane(results, folder / "rd_plane")
    paths += [folder / "report.md", write_csv(results, folder / "report.csv")]
    print(table, flush=True)
    return paths


class SweepSummary(Callback):
    """Runs :func:`summarise` on the sweep folder once every job of a multirun has finished."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        folder = Path(config.hydra.sweep.dir)
        try:
            paths = summarise(folder)
        except RDFrameError as error:
            print(f"rdframe: no summary for {folder}: {error}", flush=True)
            return
        print("rdframe: wrote " + ", ".join(str(p) for p in paths), flush=True)
