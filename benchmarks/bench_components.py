"""Training throughput and peak memory of every component family on 28×28 binarised MNIST.

Each family is swapped into the default model (mlp encoder, mlp decoder, standard-normal
marginal) one at a time and trained for a few steps at batch 100, each in its own process so that
the peak resident memory (CPU) or peak allocated memory (CUDA) belongs to that family alone.
PixelCNN's sequential sampling is timed per image. Prints a table, writes JSON.

    RDFRAME_DATA_DIR=../shared/data python benchmarks/bench_components.py
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
GROUPS = ("encoder", "decoder", "marginal")
SKIP = {("decoder", "classifier")}  # scores labels, not images


def families() -> list[str]:
    conf = ROOT.parent / "rdframe" / "conf"
    return [f"{g}={p.stem}" for g in GROUPS for p in sorted((conf / g).glob("*.yaml"))
            if (g, p.stem) not in SKIP]


def _compose(overrides: list[str]):  # noqa: ANN202
    from hydra import compose, initialize_config_module

    with initialize_config_module("rdframe.conf", version_base="1.3"):
        return compose("config", overrides=[*overrides, "output_dir=."])


def measure(family: str, steps: int, latent_dim: int, device: str) -> dict:
    """Images per second over ``steps`` optimiser steps after 2 warm-up steps, and peak memory."""
    from rdframe.build import build_data, build_system

    cfg = _compose([family, "data=binarized_mnist", f"latent_dim={latent_dim}"])
    data = build_data(cfg)
    data.prepare_data()
    data.setup("fit")
    x, y = next(iter(data.train_dataloader()))
    system = build_system(cfg).to(device)
    x, y = x.to(device), y.to(device)
    optimizer = system.configure_optimizers()
    baseline = _peak_bytes(device)

    def step() -> None:
        terms = system.model.terms(x)
        loss = system.objective.loss(terms, 0).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    seconds = time.perf_counter() - start
    result = {"family": family, "images_per_s": round(len(x) * steps / seconds, 1),
              "peak_mib": round(_peak_bytes(device) / 2**20, 1),
              "train_peak_over_baseline_mib": round((_peak_bytes(device) - baseline) / 2**20, 1),
              "parameters": sum(p.numel() for p in system.parameters())}
    if family == "decoder=pixelcnn":
        result["sample_s_per_image"] = _sampling_seconds(system.model, device)
    return result


def _sampling_seconds(model: torch.nn.Module, device: str, n: int = 2) -> float:
    with torch.no_grad():
        _sync(device)
        start = time.perf_counter()
        model.sample(n)
        _sync(device)
    return round((time.perf_counter() - start) / n, 3)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _peak_bytes(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", nargs="*", default=None, help="e.g. encoder=conv")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child process
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.latent_dim, args.device)))
        return
    rows = [_child(f, args) for f in (args.only or families())]
    _print(rows)
    out = Path(args.out or ROOT / "results" / f"components-{args.device.split(':')[0]}.json")
    out.write_text(json.dumps({"machine": _machine(args.device), "batch": 100,
                               "latent_dim": args.latent_dim, "steps": args.steps,
                               "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


def _child(family: str, args: argparse.Namespace) -> dict:
    command = [sys.executable, __file__, "--one", family, "--steps", str(args.steps),
               "--latent-dim", str(args.latent_dim), "--device", args.device]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return {"family": family, "error": done.stderr.strip().splitlines()[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _machine(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def _print(rows: list[dict]) -> None:
    print(f"{'family':22} {'images/s':>10} {'peak MiB':>10} {'+train MiB':>11} {'params':>10}")
    for r in rows:
        if "error" in r:
            print(f"{r['family']:22} error: {r['error']}")
            continue
        print(f"{r['family']:22} {r['images_per_s']:>10} {r['peak_mib']:>10} "
              f"{r['train_peak_over_baseline_mib']:>11} {r['parameters']:>10}")
        if "sample_s_per_image" in r:
            print(f"{'':22} PixelCNN sampling: {r['sample_s_per_image']} s per image")


if __name__ == "__main__":
    main()
