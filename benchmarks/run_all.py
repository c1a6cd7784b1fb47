"""``make bench``: the benchmark suite in one command, written to results/bench.json and
results/bench.md with a description of the machine.

    RDFRAME_DATA_DIR=../shared/data python benchmarks/run_all.py [--quick] [--components]

1. the machine: CPU model, cores, versions, and the fp32 matmul peak (GEMM of 2048², best of
   5, on 1 thread and on all);
2. start-up of each subcommand (wall seconds, best of 3, as a user's shell runs it);
3. training throughput (bench_train.py): plain loop, RDModel + Adam, RDSystem + Lightning and
   pythae where it imports, paired ratios, with the fraction of the matmul peak each reaches;
   and end to end, ``rdframe train`` against pythae's TrainingPipeline (bench_train_cli.py);
4. IWAE (bench_iwae.py) against a per-example loop (and pythae), with its fraction of the peak;
5. IWAE memory per decoder (bench_iwae_memory.py);
6. how the default model's cost grows with the batch size, the latent size and the IWAE's k
   (bench_scaling.py);
7. with ``--components``, each family's throughput and peak memory (bench_components.py).

Timings on a shared machine are noisy: compare the ratios within one run. Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
PYTHON = sys.executable
RDFRAME = [str(Path(sys.executable).with_name("rdframe"))]
# multiply–adds per image of bench_train's MLP VAE 784-512-512-64 (encoder to 2 × 64)
ENCODER_MACS = 784 * 512 + 512 * 512 + 512 * 128
DECODER_MACS = 64 * 512 + 512 * 512 + 512 * 784


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def matmul_peak(threads: int, sizes: tuple[int, ...] = (512, 1024, 2048)) -> float:
    """GFLOP/s of fp32 GEMMs of each size², the best of 7 runs of each size: on the shared
    machine a single size and 5 runs came out below what the training step's own products
    reached (their "fraction of the peak" read 102 %)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    best = 0.0
    for size in sizes:
        a, b = torch.randn(size, size), torch.randn(size, size)
        a @ b
        seconds = min(_seconds(lambda: a @ b) for _ in range(7))  # noqa: B023
        best = max(best, 2 * size**3 / seconds / 1e9)
    torch.set_num_threads(previous)
    return best


def _seconds(fn) -> float:  # noqa: ANN001
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def machine() -> dict:
    versions = {name: metadata.version(name) for name in
                ("torch", "pytorch-lightning", "hydra-core", "rdframe")}
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            **versions, "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available()
            else None, "matmul_gflops_1_thread": matmul_peak(1),
            "matmul_gflops_all_threads": matmul_peak(os.cpu_count() or 1)}


def startup() -> dict[str, float]:
    """Wall seconds of each subcommand doing nothing much, best of 3."""
    with tempfile.TemporaryDirectory() as folder:
        run = Path(folder) / "run"
        run.mkdir()
        (run / "rd.json").write_text(json.dumps(
            {"rate": 1.0, "distortion": 2.0, "elbo": -3.0, "iwae_nll": None, "iwae_samples": 0,
             "beta": 1.0, "objective": "beta_vae", "encoder": "mlp", "decoder": "mlp",
             "marginal": "standard_normal", "dataset": "digits", "entropy": None, "seed": 0,
             "epochs": 1, "steps": 1, "train_seconds": 1.0}))
        commands = {"rdframe --help": ["--help"], "rdframe report": ["report", str(run)],
                    "rdframe plot": ["plot", str(run), "-o", str(Path(folder) / "p")],
                    "rdframe evaluate --help": ["evaluate", "--help"],
                    "rdframe train --help": ["train", "--help"]}
        return {name: min(_seconds(lambda a=args: subprocess.run(
            [*RDFRAME, *a], capture_output=True, check=True)) for _ in range(3))
            for name, args in commands.items()}


def script(name: str, *args: str) -> dict:
    """Run benchmarks/NAME with ``args``, its JSON written to a temporary file, and read it."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out.json"
        done = subprocess.run([PYTHON, str(HERE / name), *args, "--out", str(out)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            return {"error": done.stderr.strip().splitlines()[-1:]}
        return json.loads(out.read_text())


def train_peak_fractions(train: dict, peak: float) -> None:
    """Each training method's fraction of the matmul ``peak`` (FLOP/s): forward and backward
    take about 3 × the forward's multiply–adds; under the VampPrior the encoder also reads
    the K pseudo-inputs, K/batch more rows per image."""
    for name, r in train.get("methods", {}).items():
        extra = train.get("components", 0) / train["batch"] if name.endswith("_vamp") else 0
        macs = ENCODER_MACS * (1 + extra) + DECODER_MACS
        r["peak_fraction"] = r["images_per_s"] * 6 * macs / peak


def iwae_peak_fractions(iwae: dict, peak: float) -> None:
    """The IWAE bound's fraction of the matmul ``peak``: the decoder's multiply–adds (of
    bench_iwae's model, 32-512-784) once per (sample, example) row."""
    for r in iwae.get("results", []):
        rows = r["samples"] * r["examples"] / r["rdframe_chunked"]["seconds"]
        r["peak_fraction"] = rows * 2 * r["decoder_macs_per_row"] / peak


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# rdframe benchmarks", "",
             f"{m['cpu']}, {m['cores']} cores; torch {m['torch']}, Lightning "
             f"{m['pytorch-lightning']}, Hydra {m['hydra-core']}, Python {m['python']}; "
             f"GPU: {m['cuda'] or 'none'}. fp32 matmul peak: {m['matmul_gflops_1_thread']:.0f} "
             f"GFLOP/s on 1 thread, {m['matmul_gflops_all_threads']:.0f} on all.", "",
             "## Start-up (wall seconds, best of 3)", "", "| command | seconds |", "|---|---:|"]
    lines += [f"| `{name}` | {seconds:.2f} |" for name, seconds in report["startup"].items()]
    train = report["train"]
    lines += ["", f"## Training: MLP VAE 784-512-512-64, batch 100, {train.get('threads', 1)} "
              "thread, paired ratios to the plain loop (median of repeats); `_vamp`: a "
              f"VampPrior of K = {train.get('components', '?')}", "",
              "| method | images/s | time vs plain | fraction of the 1-thread peak |",
              "|---|---:|---:|---:|"]
    for name, r in train.get("methods", {}).items():
        lines.append(f"| {name} | {r['images_per_s']:.0f} | {r['ratio_to_plain']:.2f}× | "
                     f"{r.get('peak_fraction', float('nan')):.0%} |")
    if train.get("comparisons"):
        lines += ["", "Paired ratios (median over repeats): throughput as a multiple of pythae's, "
                  "and Lightning's cost (`RDSystem` under the Trainer over the library loop)."
                  "", "", "| comparison | ratio |", "|---|---:|"]
        lines += [f"| {label} | {ratio:.2f}× |" for label, ratio in train["comparisons"].items()]
    cli = report.get("train_cli", {})
    if "rdframe_over_pythae_train_seconds" in cli:
        lines += ["", f"End to end, `rdframe train experiment=repro_vae` against pythae's "
                  f"TrainingPipeline, {cli['epochs']} epochs: rdframe / pythae "
                  f"{cli['rdframe_over_pythae_train_seconds']:.2f} in training time, "
                  f"{cli['rdframe_over_pythae_wall_seconds']:.2f} for the whole command."]
        per_epoch = [statistics.median(run["train_seconds"] for run in cli["runs"][name])
                     / cli["epochs"] for name in ("rdframe", "pythae")]
        lines += ["", "| training seconds per epoch, validation and checkpoints included "
                  "(median of the repeats) | rdframe | pythae |", "|---|---:|---:|",
                  "| | {:.2f} | {:.2f} |".format(*per_epoch)]
    else:
        lines += ["", f"End to end against pythae: not run ({cli.get('error')})."]
    lines += ["", "## IWAE (k samples of 100 test images, 1 thread)", "",
              "| k | rdframe | per-example loop | pythae | fraction of the peak |",
              "|---:|---:|---:|---:|---:|"]
    for r in report["iwae"].get("results", []):
        pythae = r.get("pythae_get_nll", {}).get("seconds")
        lines.append(f"| {r['samples']} | {r['rdframe_chunked']['seconds']:.2f} s | "
                     f"{r['naive_per_example']['seconds']:.2f} s | "
                     f"{'—' if pythae is None else f'{pythae:.2f} s'} | "
                     f"{r.get('peak_fraction', float('nan')):.0%} |")
    lines += ["", "## IWAE memory per decoder", "", "| decoder | MiB per row | rows per pass |",
              "|---|---:|---|"]
    for r in report["iwae_memory"].get("results", []):
        rows = ", ".join(f"{n:,} at {b} GB" for b, n in r["rows"].items())
        lines.append(f"| {r['decoder']} | {r['bytes_per_row'] / 2**20:.2f} | {rows} |")
    scaling = report.get("scaling", {})
    if "by_batch" in scaling:
        lines += ["", "## How the default model's cost grows (1 thread)", "",
                  "| latent | batch | ms a step | images/s |", "|---:|---:|---:|---:|"]
        lines += [f"| {r['latent']} | {r['batch']} | {r['ms_per_step']:.2f} | "
                  f"{r['images_per_s']:.0f} |" for r in scaling["by_batch"] + scaling["by_latent"]]
        lines += ["", "| IWAE k | images | rows a pass | seconds | rows/s |",
                  "|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['samples']} | {r['examples']} | {r['rows_per_pass']} | "
                  f"{r['seconds']:.3f} | {r['rows_per_s']:.0f} |" for r in scaling["by_k"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--components", action="store_true", help="also every family")
    args = parser.parse_args()
    steps, repeats = ("20", "2") if args.quick else ("60", "5")
    report = {"machine": machine(), "startup": startup()}
    peak = report["machine"]["matmul_gflops_1_thread"] * 1e9
    report["train"] = script("bench_train.py", "--steps", steps, "--repeats", repeats)
    train_peak_fractions(report["train"], peak)
    report["train_cli"] = script("bench_train_cli.py", "--epochs", "1" if args.quick else "3",
                                 "--repeats", repeats)
    samples = ["100"] if args.quick else ["100", "1000"]
    report["iwae"] = script("bench_iwae.py", "--examples", "100", "--samples", *samples,
                            "--repeats", repeats)
    iwae_peak_fractions(report["iwae"], peak)
    report["iwae_memory"] = script("bench_iwae_memory.py", "--samples", "100")
    report["scaling"] = script("bench_scaling.py", "--steps", steps, "--repeats", repeats,
                               *(["--samples", "10", "100"] if args.quick else []))
    if args.components:
        report["components"] = script("bench_components.py", "--steps", "5")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "bench.md").write_text(markdown(report))
    print(markdown(report), end="")
    print(f"wrote {RESULTS / 'bench.json'} and {RESULTS / 'bench.md'}")


if __name__ == "__main__":
    main()
