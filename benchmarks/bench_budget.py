"""What a study costs at a budget: CPU seconds per epoch, validation and test of each family.

Each family of ``--experiment`` (default broken_elbo: encoder conv|iaf × decoder conv|pixelcnn
× marginal standard_normal|vamp|maf) is trained as ``rdframe train`` would, at ``--budget``
(default cpu), in its own process on one thread, with a callback that reads the process's
CPU clock (``time.process_time``: the time a free core would take, whatever else the machine
is doing) and the wall clock around every training epoch, validation and test. Prints a
table, writes JSON.

    OMP_NUM_THREADS=1 RDFRAME_DATA_DIR=../shared/data python benchmarks/bench_budget.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl

ROOT = Path(__file__).resolve().parent
SYMBOLS = ({"conv": "−", "iaf": "+"}, {"conv": "−", "pixelcnn": "+"},
           {"standard_normal": "−", "vamp": "v", "maf": "+"})
PHASES = ("train_epoch", "validation", "test")


class Clock(pl.Callback):
    """CPU and wall seconds of every training epoch (validation included), validation and test,
    appended to a JSON-lines file."""

    def __init__(self, path: str) -> None:
        self.path, self.started = Path(path), {}

    def _start(self, phase: str) -> None:
        self.started[phase] = (time.process_time(), time.perf_counter())

    def _stop(self, phase: str) -> None:
        cpu, wall = self.started.pop(phase)
        record = {"phase": phase, "cpu_s": time.process_time() - cpu,
                  "wall_s": time.perf_counter() - wall}
        with self.path.open("a") as file:
            file.write(json.dumps(record) + "\n")

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._start("train_epoch")

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._stop("train_epoch")

    def on_validation_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._start("validation")

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._stop("validation")

    def on_test_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._start("test")

    def on_test_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._stop("test")


def run_one(overrides: list[str], clock: str, out: str) -> None:
    """Child process: one run of ``overrides`` with the Clock, the whole run's CPU time last."""
    from hydra import compose, initialize_config_module

    from rdframe.train import run

    overrides = [*overrides, f"output_dir={out}", "logger=none",
                 "trainer.enable_progress_bar=false",
                 f"+callbacks.clock={{_target_:{Path(__file__).stem}.Clock,path:'{clock}'}}"]
    start = time.process_time()
    with initialize_config_module("rdframe.conf", version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    result = run(cfg)
    with Path(clock).open("a") as file:
        file.write(json.dumps({"phase": "run", "cpu_s": time.process_time() - start,
                               "rate": result.rate, "distortion": result.distortion}) + "\n")


def measure(family: tuple[str, str, str], args: argparse.Namespace) -> dict:
    encoder, decoder, marginal = family
    name = "".join(table[c] for table, c in zip(SYMBOLS, family, strict=True))
    overrides = [f"experiment={args.experiment}", f"budget={args.budget}", f"encoder={encoder}",
                 f"decoder={decoder}", f"marginal={marginal}", *args.overrides]
    with tempfile.TemporaryDirectory() as folder:
        clock = Path(folder) / "clock.jsonl"
        command = [sys.executable, __file__, "--child", str(clock), str(Path(folder) / "run"),
                   "--", *overrides]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            return {"family": name, "error": done.stderr.strip().splitlines()[-1]}
        records = [json.loads(line) for line in clock.read_text().splitlines()]
    return {"family": name, "encoder": encoder, "decoder": decoder, "marginal": marginal,
            **_summary(records)}


def _summary(records: list[dict]) -> dict:
    row: dict = {}
    for phase in PHASES:
        times = [r for r in records if r["phase"] == phase]
        row[f"{phase}_cpu_s"] = round(sum(r["cpu_s"] for r in times) / max(len(times), 1), 1)
        row[f"{phase}_count"] = len(times)
    final = next(r for r in records if r["phase"] == "run")
    row["run_cpu_s"] = round(final["cpu_s"], 1)
    row["rate"], row["distortion"] = round(final["rate"], 2), round(final["distortion"], 2)
    return row


def _print(rows: list[dict]) -> None:
    print(f"{'family':7} {'epoch s':>8} {'val s':>7} {'test s':>7} {'run s':>7}   (CPU seconds)")
    for r in rows:
        if "error" in r:
            print(f"{r['family']:7} error: {r['error']}")
            continue
        print(f"{r['family']:7} {r['train_epoch_cpu_s']:>8} {r['validation_cpu_s']:>7} "
              f"{r['test_cpu_s']:>7} {r['run_cpu_s']:>7}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.path.insert(0, str(ROOT))
        run_one(sys.argv[5:], sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", default="broken_elbo")
    parser.add_argument("--budget", default="cpu")
    parser.add_argument("--families", nargs="*", default=None, help="e.g. conv/pixelcnn/vamp")
    parser.add_argument("--out", default=None)
    parser.add_argument("overrides", nargs="*", help="more overrides, e.g. objective.beta=0.5")
    args = parser.parse_args()
    grid = itertools.product(*(list(table) for table in SYMBOLS))
    chosen = [tuple(f.split("/")) for f in args.families] if args.families else list(grid)
    rows = []
    for family in chosen:
        rows.append(measure(family, args))
        _print(rows[-1:])
    _print(rows)
    out = Path(args.out or ROOT / "results" / f"budget-{args.experiment}-{args.budget}.json")
    machine = f"{platform.processor() or platform.machine()}, 1 thread"
    out.write_text(json.dumps({"machine": machine, "experiment": args.experiment,
                               "budget": args.budget, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
