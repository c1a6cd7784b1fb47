"""How a model's cost grows with the batch size, the latent size and the IWAE's k.

    python benchmarks/bench_scaling.py [--overrides encoder=conv ...] [--device cuda]

The model is the one ``rdframe train`` composes (the default: MLP encoder and decoder, N(0, I)
marginal, β = 1), with ``--overrides`` swapping in any family. On binary 28×28 images of
MNIST's mean (the pixels do not change a step's cost), one thread on a CPU:

- training: ms a step and images/s of ``RDModel.terms`` + the objective + the system's
  optimiser (fused Adam), torch.distributions' checks off as in ``RDSystem``'s step; at each
  batch size (latent 64) and each latent size (batch 100); the median over repeats of
  ``--steps`` steps after 3 warm-up steps; the bytes of the model's state (parameters and
  Adam's two moments) and, on CUDA, the allocator's peak during a step above what was
  allocated before it (activations and gradients). On a CPU there is no such peak to read:
  the resident set's peak is the process's, and ``rdframe.memory.LiveBytes`` loses track of
  gradients that autograd hands on to ``.grad``, so the column is left empty there;
- the IWAE bound of ``--examples`` images at each k (latent 64): seconds, (sample, example)
  rows a second, and the rows of a pass that ``rdframe.memory`` chooses.

Prints the tables and writes ``results/scaling-<device>.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from bench_components import _compose
from common import random_images, synchronize, write_record
from omegaconf import open_dict

from rdframe.build import build_system
from rdframe.estimators import iwae_log_likelihood
from rdframe.memory import iwae_rows
from rdframe.system import RDSystem, argument_validation

RESULTS = Path(__file__).resolve().parent / "results"
MIB = 2**20


def system(overrides: list[str], latent: int, device: str) -> RDSystem:
    """The system ``rdframe train`` builds, for binary 28×28 images (what build_data would
    record of binarised MNIST: its shape, 10 classes, values in [0, 1] of mean 0.13)."""
    torch.manual_seed(0)
    cfg = _compose([*overrides, f"latent_dim={latent}"])
    with open_dict(cfg):
        cfg.data_shape, cfg.num_classes = [1, 28, 28], 10
        cfg.data_range, cfg.data_mean = [0, 1], 0.13
    return build_system(cfg).to(device)


def training(overrides: list[str], latent: int, batch: int, steps: int, repeats: int,
             device: str) -> dict:
    """ms a step (median over repeats), images/s and memory at one (latent, batch)."""
    rd = system(overrides, latent, device)
    optimizer = rd.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    x = random_images(batch).to(device)

    def step() -> None:
        with argument_validation(False):
            loss = rd.objective.loss(rd.model.terms(x), 0).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(3):
        step()
    state = sum(p.numel() * p.element_size() for p in rd.parameters())
    state += sum(t.numel() * t.element_size() for s in optimizer.state.values()
                 for t in s.values() if torch.is_tensor(t))
    optimizer.zero_grad(set_to_none=True)
    step_peak = None
    if x.is_cuda:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()  # the gradients it makes count in its peak
        step_peak = (torch.cuda.max_memory_allocated() - before) / MIB
    times = []
    for _ in range(repeats):
        synchronize(x.device)
        start = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize(x.device)
        times.append((time.perf_counter() - start) / steps)
    seconds = statistics.median(times)
    return {"latent": latent, "batch": batch, "ms_per_step": 1e3 * seconds,
            "images_per_s": batch / seconds, "state_mib": state / MIB,
            "step_peak_mib": step_peak}


def iwae(overrides: list[str], latent: int, samples: int, examples: int, repeats: int,
         device: str) -> dict:
    """Seconds of the IWAE bound of ``examples`` images at k = ``samples`` (best of repeats)."""
    rd = system(overrides, latent, device).eval()
    x = random_images(examples).to(device)
    rows = iwae_rows(rd.model, x)
    times = []
    with torch.no_grad():
        for _ in range(repeats):
            synchronize(x.device)
            start = time.perf_counter()
            iwae_log_likelihood(rd.model, x, samples, rows)
            synchronize(x.device)
            times.append(time.perf_counter() - start)
    seconds = min(times)
    return {"latent": latent, "samples": samples, "examples": examples, "rows_per_pass": rows,
            "seconds": seconds, "rows_per_s": samples * examples / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--overrides", nargs="*", default=[], metavar="GROUP=FAMILY")
    parser.add_argument("--batches", type=int, nargs="+", default=[25, 50, 100, 200, 400])
    parser.add_argument("--latents", type=int, nargs="+", default=[8, 16, 32, 64, 128, 256])
    parser.add_argument("--samples", type=int, nargs="+", default=[10, 100, 1000, 5000])
    parser.add_argument("--examples", type=int, default=20)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = dict(steps=args.steps, repeats=args.repeats, device=args.device)
    by_batch = [training(args.overrides, 64, b, **run) for b in args.batches]
    by_latent = [training(args.overrides, z, 100, **run) for z in args.latents]
    by_k = [iwae(args.overrides, 64, k, args.examples, args.repeats, args.device)
            for k in args.samples]
    print(f"model: {' '.join(args.overrides) or 'the default'}; {args.device}, "
          f"{args.threads} thread(s)")
    print(f"{'latent':>6} {'batch':>6} {'ms/step':>8} {'images/s':>9} {'state MiB':>10} "
          f"{'step peak MiB':>14}")
    for r in by_batch + by_latent:
        peak = "—" if r["step_peak_mib"] is None else f"{r['step_peak_mib']:.1f}"
        print(f"{r['latent']:>6} {r['batch']:>6} {r['ms_per_step']:>8.2f} "
              f"{r['images_per_s']:>9.0f} {r['state_mib']:>10.1f} {peak:>14}")
    print(f"{'k':>6} {'examples':>8} {'rows/pass':>10} {'seconds':>8} {'rows/s':>9}")
    for r in by_k:
        print(f"{r['samples']:>6} {r['examples']:>8} {r['rows_per_pass']:>10} "
              f"{r['seconds']:>8.3f} {r['rows_per_s']:>9.0f}")
    out = args.out or RESULTS / f"scaling-{args.device.split(':')[0]}.json"
    write_record(out, {"overrides": args.overrides, "device": args.device,
                       "threads": args.threads, "torch": torch.__version__,
                       "by_batch": by_batch, "by_latent": by_latent, "by_k": by_k})


if __name__ == "__main__":
    main()
