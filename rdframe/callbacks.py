"""Hydra callback: when a sweep ends, draw its rate–distortion plane and write its table (and,
when its runs logged to W&B, log the table there too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from rdframe.atomic import atomic_write
from rdframe.errors import RDFrameError
from rdframe.evaluation.plot import plot_rd_plane
from rdframe.evaluation.report import markdown_report, write_csv
from rdframe.results import RunResult, find_results, has_pictures


def summarise(folder: Path) -> list[Path]:
    """Write, for every rd.json under ``folder``: report.md (the table, the frontier and the
    selections), report.csv (the table), rd_plane.{png,pdf} (and the information plane of
    bottleneck runs), and where runs saved pictures the comparison figures
    rd_plane_families.{png,pdf} and rd_plane_same_elbo.{png,pdf}."""
    results = find_results([folder])
    report = markdown_report(results)
    atomic_write(folder / "report.md", report)
    paths = plot_rd_plane(results, folder / "rd_plane")
    if any(has_pictures(r) for r in results):
        from rdframe.evaluation.gallery import comparison_figures

        paths += comparison_figures(results, folder / "rd_plane")
    paths += [folder / "report.md", write_csv(results, folder / "report.csv")]
    print(report, flush=True)
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
        wandb_table(folder)


def wandb_options(results: list[RunResult]) -> dict[str, Any] | None:
    """The logger options of the first run that logged to W&B (``_target_`` aside), else None.

    >>> run = RunResult(1.0, 2.0, -3.0, None, 0, 1.0, "elbo", "mlp", "mlp", "gaussian", "digits",
    ...                 None, 0, 1, 1, 1.0, config={"logger": {"_target_": "rdframe.loggers."
    ...                 "wandb_logger", "project": "rd"}})
    >>> wandb_options([run]), wandb_options([RunResult(**{**run.__dict__, "config": {}})])
    ({'project': 'rd'}, None)
    """
    for result in results:
        options = dict(result.config.get("logger") or {})
        if "wandb" in str(options.pop("_target_", "")).lower():
            return options
    return None


def wandb_table(folder: Path) -> None:
    """The sweep's points as a W&B table in the sweep's group, if its runs logged to W&B."""
    results = find_results([folder])
    options = wandb_options(results)
    if options is None:
        return
    from rdframe.loggers import log_sweep_table  # Lightning and W&B: only for a W&B sweep

    group = log_sweep_table(folder, results, options)
    print(f"rdframe: logged the table of {len(results)} runs to W&B, group {group!r}",
          flush=True)
