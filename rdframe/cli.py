"""The ``rdframe`` command: train, sweep, plot, report, evaluate.

    rdframe train  [overrides …]        one run (Hydra), e.g. objective.beta=0.5 encoder=mlp
    rdframe sweep  [overrides …]        many runs (Hydra multirun), e.g. objective.beta=0.1,1,10
    rdframe plot   RUN_OR_SWEEP … [-o rd_plane] [--title T] [--elbo-tolerance T]
                   [--min-rate-gap G]   the RD plane (PNG, PDF), the families at β = 1 and a
                   same-ELBO group side by side; bottleneck runs on the information plane
    rdframe report RUN_OR_SWEEP … [--csv report.csv] [--min-rate R] [--elbo-tolerance T]
                   [--min-rate-gap G]   the table of runs, then the Pareto frontier, the best
                   ELBO, the lowest D at a rate ≥ R, the runs of one ELBO but different rates
    rdframe evaluate RUN_DIR [--samples K] [--split test] [--device cuda] [--memory-gb G]
                   [--processes N]      checkpoint → metrics in rd.json
    rdframe evaluate RUN_DIR --pictures  draw the run's pictures again from its checkpoint

A usage error (a bad option, key, value, file or folder) stops the command before any work
with one line, "rdframe: error: …", and exit status 2; HYDRA_FULL_ERROR=1 adds the stack trace.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from rdframe.errors import ConfigError, RDFrameError, one_line, reportable

if TYPE_CHECKING:
    from omegaconf import DictConfig

USAGE = __doc__
TRACE_ENV = "HYDRA_FULL_ERROR"
TRAIN_SCRIPT = Path(__file__).with_name("train.py")


def _wants_trace() -> bool:
    return os.environ.get(TRACE_ENV) == "1"


def stop(error: BaseException, trace: bool = False) -> NoReturn:
    """Exit in one line, "rdframe: error: …", with the status of a reportable ``error``
    (2 for a usage error); re-raise anything else, a bug, with its stack trace."""
    reported = reportable(error)
    if reported is None:
        raise error
    if trace:
        traceback.print_exception(error)
    print(f"rdframe: error: {reported}", file=sys.stderr, flush=True)
    raise SystemExit(reported.exit_code)


def _train(cfg: DictConfig) -> None:
    """One job of ``rdframe train`` or ``sweep``: check the config, then train. Lightning is
    imported only once the config is found sound."""
    from rdframe.validate import check_config

    check_config(cfg)
    from rdframe.train import run

    run(cfg)


def _hydra(argv: list[str], multirun: bool) -> None:
    """Hand the overrides to Hydra, which composes the config and runs :func:`_train`.

    Hydra is asked to raise its errors (HYDRA_FULL_ERROR=1) so that they are told here in one
    line; an error inside a job stops there, before Hydra adds its own line. ``sys.argv``
    names train.py so that Lightning's DDP launcher runs it in each further process.
    """
    import hydra
    from hydra.errors import ConfigCompositionException, OverrideParseException

    from rdframe.hydra_errors import explain
    from rdframe.resolvers import register_resolvers

    trace, started = _wants_trace(), False

    def job(cfg: DictConfig) -> None:
        nonlocal started
        started = True
        try:
            _train(cfg)
        except Exception as error:
            stop(error, trace)

    register_resolvers()
    os.environ[TRACE_ENV] = "1"
    sys.argv = [str(TRAIN_SCRIPT), *(["--multirun"] if multirun else []), *argv]
    try:
        hydra.main(version_base="1.3", config_path="conf", config_name="config")(job)()
    except (ConfigCompositionException, OverrideParseException) as error:
        raise ConfigError(explain(error, argv)) from error
    except Exception as error:  # Hydra failing on the command line itself, before any job
        if started:
            raise
        raise ConfigError(f"cannot compose a config from {' '.join(argv)!r}: "
                          f"{one_line(error)}") from error


class _Parser(argparse.ArgumentParser):
    """argparse, whose usage errors read like the others: one line and status 2."""

    def error(self, message: str) -> NoReturn:
        stop(RDFrameError(f"{self.prog}: {message} (see {self.prog} --help)"))


def _parse_with_groups(parser: _Parser, argv: list[str]) -> argparse.Namespace:
    """``argv`` parsed with the options of same-ELBO groups added, every number of nats
    among the options checked finite and >= 0."""
    parser.add_argument("--elbo-tolerance", type=float, default=1.0,
                        help="same-ELBO groups: ELBOs within this many nats (default 1)")
    parser.add_argument("--min-rate-gap", type=float, default=5.0,
                        help="same-ELBO groups: rates at least this many nats apart (default 5)")
    args = parser.parse_args(argv)
    for name in ("min_rate", "elbo_tolerance", "min_rate_gap"):
        value = getattr(args, name, None)
        if value is not None and not 0 <= value < float("inf"):
            parser.error(f"--{name.replace('_', '-')} must be a finite number of nats >= 0, "
                         f"got {value}")
    return args


def _plot(argv: list[str]) -> None:
    from rdframe.evaluation.plot import plot_rd_plane
    from rdframe.results import find_results, has_pictures

    parser = _Parser(prog="rdframe plot", description="the rate–distortion plane, and the "
                     "information plane of bottleneck runs (objective=ib)")
    parser.add_argument("paths", nargs="+", help="run or sweep folders, or rd.json files")
    parser.add_argument("-o", "--out", default="rd_plane",
                        help="output stem: STEM.{png,pdf} the RD plane of every run but the "
                        "bottleneck's, STEM_information_plane.{png,pdf} that of the bottleneck's")
    parser.add_argument("--title", default=None)
    args = _parse_with_groups(parser, argv)
    results = find_results(args.paths)
    paths = plot_rd_plane(results, Path(args.out), title=args.title)
    if any(has_pictures(r) for r in results):  # matplotlib.pyplot only for runs with pictures
        from rdframe.evaluation.gallery import comparison_figures

        paths += comparison_figures(results, Path(args.out), args.elbo_tolerance,
                                    args.min_rate_gap)
    print("rdframe: wrote " + ", ".join(map(str, paths)))


def _report(argv: list[str]) -> None:
    from rdframe.evaluation.report import markdown_report, write_csv
    from rdframe.results import find_results

    parser = _Parser(prog="rdframe report", description="a table of every run, then its "
                     "frontier and selections (nats; per data set)")
    parser.add_argument("paths", nargs="+", help="run or sweep folders, or rd.json files")
    parser.add_argument("--csv", default=None, help="also write the table as CSV here")
    parser.add_argument("--min-rate", type=float, default=None,
                        help="also the run of lowest D among those with R >= this (nats)")
    args = _parse_with_groups(parser, argv)
    results = find_results(args.paths)
    print(markdown_report(results, args.min_rate, args.elbo_tolerance, args.min_rate_gap),
          end="")
    if args.csv:
        write_csv(results, Path(args.csv))


def _evaluate(argv: list[str]) -> None:
    parser = _Parser(
        prog="rdframe evaluate", description="a run's checkpoint → metrics, merged into rd.json",
        epilog="A killed evaluation resumes: the same command scores only the blocks of "
        "examples left (kept in RUN_DIR/evaluation/ until the result is in rd.json), to the "
        "same numbers."
    )
    parser.add_argument("run_dir", help="a run folder made by `rdframe train`")
    parser.add_argument("--samples", type=int, default=None,
                        help="k of the IWAE bound (default: the run's iwae_samples)")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--weights", default=None, choices=("last", "best"),
                        help="the checkpoint: last (default), or best on validation; with "
                        "--pictures the run's test_weights by default")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs of the IWAE estimator, reported as mean and sd")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda or cuda:N (default: cuda when present, else cpu)")
    parser.add_argument("--memory-gb", type=float, default=None,
                        help="memory one IWAE pass may take (default: half the GPU's free "
                        "memory, 64 MB on a CPU); the numbers do not depend on it")
    parser.add_argument("--processes", type=int, default=1,
                        help="spread the IWAE bound over this many processes (one per GPU); "
                        "the numbers do not depend on it")
    parser.add_argument("--pictures", action="store_true",
                        help="draw the run's pictures again from its checkpoint, as `rdframe "
                        "train` draws them, instead of scoring it")
    args = parser.parse_args(argv)
    if args.memory_gb is not None and not 0 < args.memory_gb < float("inf"):
        parser.error(f"--memory-gb must be a finite number > 0, got {args.memory_gb}")
    from rdframe.evaluate import draw_pictures, evaluate_run, log, summary  # torch after --help

    if args.pictures:
        folder = draw_pictures(args.run_dir, weights=args.weights, device=args.device)
        print(f"rdframe: drew the pictures of {args.run_dir} again -> {folder}")
        return
    progress = logging.StreamHandler(sys.stderr)  # each estimate of the NLL as it finishes
    log.addHandler(progress)
    log.setLevel(logging.INFO)
    try:
        metrics = evaluate_run(args.run_dir, samples=args.samples, split=args.split,
                               weights=args.weights or "last", repeats=args.repeats,
                               device=args.device, memory_gb=args.memory_gb,
                               processes=args.processes)
    finally:
        log.removeHandler(progress)
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
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return
    trace = _wants_trace()
    try:
        if argv[0] not in COMMANDS:
            raise RDFrameError(f"unknown command {argv[0]!r}; use one of {', '.join(COMMANDS)} "
                               f"(rdframe --help)")
        COMMANDS[argv[0]](argv[1:])
    except Exception as error:
        stop(error, trace)
