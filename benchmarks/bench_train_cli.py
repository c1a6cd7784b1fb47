"""End to end: ``rdframe train`` as a user runs it against pythae 0.1.2's TrainingPipeline, the
same model, data and epochs, as paired ratios.

    RDFRAME_DATA_DIR=../shared/data python benchmarks/bench_train_cli.py [--epochs 3 --repeats 3]

The model of ``experiment=repro_vae``: the 784-400-40 VAE on static binarised MNIST (50,000
training images, batch 100, Adam 1e-3), trained for ``--epochs`` epochs with the validation
split scored every epoch, on one CPU thread (OMP_NUM_THREADS=1) in both:

- ``rdframe``: ``rdframe train experiment=repro_vae`` with its default callbacks (the best and
  resume checkpoints, validation pictures) and its CSV logger; training time is rd.json's
  ``train_seconds`` (fit start to end, validation and checkpoints included);
- ``pythae``: ``experiments/reproductions/pythae_vae.py`` (TrainingPipeline with the evaluation
  set); training time is the pipeline's wall time.

Both also report the whole command's wall time (start-up, data, the short test at k = 10
importance samples included). Each repeat runs both, in alternating order; ratios are taken
within a repeat and their median reported. Needs pythae importable by this Python (``pip
install --no-deps pythae==0.1.2`` into a development environment; never a dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import median_ratio, rotation, write_record

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
RDFRAME = str(Path(sys.executable).with_name("rdframe"))


def run_rdframe(folder: Path, epochs: int) -> dict[str, float]:
    start = time.perf_counter()
    subprocess.run([RDFRAME, "train", "experiment=repro_vae", f"trainer.max_epochs={epochs}",
                    "iwae_samples=10", "test_weights=last", f"hydra.run.dir={folder}"],
                   check=True, capture_output=True, env=_env())
    wall = time.perf_counter() - start
    record = json.loads((folder / "rd.json").read_text())
    return {"train_seconds": record["train_seconds"], "wall_seconds": wall}


def run_pythae(folder: Path, epochs: int) -> dict[str, float]:
    data_dir = os.environ.get("RDFRAME_DATA_DIR", str(ROOT.parent / "shared" / "data"))
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "experiments" / "reproductions" / "pythae_vae.py"),
                    data_dir, str(folder), "--epochs", str(epochs), "--nll-samples", "10"],
                   check=True, capture_output=True, env=_env())
    wall = time.perf_counter() - start
    record = json.loads((folder / "result.json").read_text())
    return {"train_seconds": record["train_seconds"], "wall_seconds": wall}


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "train_cli_cpu.json"))
    args = parser.parse_args()
    runs = {"rdframe": run_rdframe, "pythae": run_pythae}
    measured: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    for repeat in range(args.repeats):
        for name in rotation(runs, repeat):
            with tempfile.TemporaryDirectory() as folder:
                measured[name].append(runs[name](Path(folder) / "run", args.epochs))
    record = {"epochs": args.epochs, "repeats": args.repeats, "runs": measured}
    for key in ("train_seconds", "wall_seconds"):
        ours, theirs = ([r[key] for r in measured[name]] for name in ("rdframe", "pythae"))
        ratio = record[f"rdframe_over_pythae_{key}"] = median_ratio(ours, theirs)
        print(f"{key:>14}: rdframe {min(ours):7.1f} s, pythae {min(theirs):7.1f} s (best); "
              f"rdframe / pythae {ratio:.2f} (median of paired ratios)")
    write_record(args.out, record)


if __name__ == "__main__":
    main()
