"""The ``rdframe`` command: train, sweep, plot, report.

    rdframe train  [overrides …]        one run (Hydra), e.g. objective.beta=0.5 encoder=mlp
    rdframe sweep  [overrides …]        many runs (Hydra multirun), e.g. objective.beta=0.1,1,10
    rdframe plot   RUN_OR_SWEEP … [-o rd_plane]
    rdframe report RUN_OR_SWEEP … [--csv report.csv]
    rdframe evaluate RUN_DIR [--samples K] [--split test]   checkpoint → metrics in rd.json
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rdframe.errors import RDFrameError, one_line

USAGE = __doc__


def _hydra(argv: list[str], multirun: bool) -> None:
    """Hand the overrides to Hydra; the script path lets Lightning's DDP launcher re-run it.

    Hydra is asked to raise its errors so that a wrong option or key becomes one line here;
    ``HYDRA_FULL_ERROR=1`` in the environment keeps Hydra's full stack trace.
    """
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from rdframe import train

    wants_trace = os.environ.get("HYDRA_FULL_ERROR") == "1"
    os.environ["HYDRA_FULL_ERROR"] = "1"
    sys.argv = [train.__file__, *(["--multirun"] if multirun else []), *argv]
    try:
        train.main()
    except (HydraException, OmegaConfBaseException) as error:
        if wants_trace:
            raise
        raise SystemExit(f"rdframe: error: {one_line(error)}") from None


def _plot(argv: list[str]) -> None:
    from rdframe.evaluation.plot import plot_rd_plane
    from rdframe.results import find_results

    parser = argparse.ArgumentParser(prog="rdframe plot", description="the rate–distortion plane")
    parser.add_argument("paths", nargs="+", help="run or sweep folders, or rd.json files")
    parser.add_argument("-o", "--out", default="rd_plane", help="output stem (.png and .pdf)")
    parser.add_argument("--title", default=None)
    args = parser.parse_args(argv)
    paths = plot_rd_plane(find_results(args.paths), Path(args.out), title=args.title)
    print("rdframe: wrote " + ", ".join(map(str, paths)))


def _report(argv: list[str]) -> None:
    from rdframe.evaluation.report import markdown_table, write_csv
    from rdframe.results import find_results

    parser = argparse.ArgumentParser(prog="rdframe report", description="a table of every run")
    parser.add_argument("paths", nargs="+", help="run or sweep folders, or rd.json files")
    parser.add_argument("--csv", default=None, help="also write the table as CSV here")
    args = parser.parse_args(argv)
    results = find_results(args.paths)
    print(markdown_table(results), end="")
    if args.csv:
        write_csv(results, Path(args.csv))


def _evaluate(argv: list[str]) -> None:
    from rdframe.evaluate import SPLITS, evaluate_run, summary

    parser = argparse.ArgumentParser(
        prog="rdframe evaluate", description="a run's checkpoint → metrics, merged into rd.json"
    )
    parser.add_argument("run_dir", help="a run folder made by `rdframe train`")
    parser.add_argument("--samples", type=int, default=None,
                        help="k of the IWAE bound (default: the run's iwae_samples)")
    parser.add_argument("--split", default="test", choices=SPLITS)
    args = parser.parse_args(argv)
    metrics = evaluate_run(args.run_dir, samples=args.samples, split=args.split)
    print(summary(args.run_dir, args.split, metrics))


COMMANDS = {
    "train": lambda argv: _hydra(argv, multirun=False),
    "sweep": lambda argv: _hydra(argv, multirun=True),
    "plot": _plot,
    "report": _report,
    "evaluate": _evaluate,
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        if argv and argv[0] not in ("-h", "--help"):
            raise SystemExit(f"rdframe: error: unknown command {argv[0]!r}; use one of "
                             + ", ".join(COMMANDS))
        return
    try:
        COMMANDS[argv[0]](argv[1:])
    except RDFrameError as error:
        raise SystemExit(f"rdframe: error: {error}") from None
