"""Training-step time of the IAF encoder under a VampPrior, against the conv encoder's.

log m(z) = log (1/K) Σ_k e(z|u_k) needs the IAF density of every code z under every
pseudo-input u_k, i.e. the inverse of K flows per code. Both encoders use the gated-conv body
of "Fixing a Broken ELBO", Appendix F (the IAF adds the flow); decoder conv; latent 64; 28×28
binary images. Three cells, each timed over ``--steps`` Adam steps after one warm-up step:

    conv × vamp                 the Gaussian encoder
    iaf × vamp, sequential      the flow inverted as before: latent_dim passes per step,
                                every pass recorded for backward (zuko's inverse)
    iaf × vamp                  rdframe's IAFStep: fixed-point passes until nothing changes,
                                no graph for them, gradients by the implicit function theorem

Seconds are the process's CPU time on a CPU (what a free core would take, however busy the
machine; run it on one thread), wall time on a GPU. It also counts the fixed-point passes per
inversion (forward and backward). Prints a line and writes JSON.

    OMP_NUM_THREADS=1 python benchmarks/bench_iaf_vamp.py --batch 10 --components 50
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

import rdframe.encoders.fixed_point as fixed_point_module
from rdframe.decoders import BernoulliConvDecoder
from rdframe.encoders import GatedConvBody, GaussianConvEncoder, IAFEncoder
from rdframe.encoders.iaf import sequential_inverse
from rdframe.marginals import VampPrior
from rdframe.model import RDModel

ROOT = Path(__file__).resolve().parent
SHAPE = (1, 28, 28)


def model(encoder: str, latent_dim: int, components: int) -> RDModel:
    torch.manual_seed(0)
    if encoder == "conv":
        e = GaussianConvEncoder(SHAPE, latent_dim)
    else:
        e = IAFEncoder(SHAPE, latent_dim, body=GatedConvBody(SHAPE))
    return RDModel(e, BernoulliConvDecoder(latent_dim, SHAPE), VampPrior(e, SHAPE, components))


def seconds_per_step(m: RDModel, batch: int, steps: int, device: str) -> float:
    m = m.to(device)
    optimizer = torch.optim.Adam(m.parameters(), lr=3e-4)
    x = torch.randint(0, 2, (batch, *SHAPE), generator=torch.Generator().manual_seed(0))
    x = x.float().to(device)

    def step() -> None:
        terms = m.terms(x)
        optimizer.zero_grad(set_to_none=True)
        (terms.distortion + terms.rate).mean().backward()
        optimizer.step()

    clock = time.perf_counter if device.startswith("cuda") else time.process_time
    step()
    _sync(device)
    start = clock()
    for _ in range(steps):
        step()
    _sync(device)
    return (clock() - start) / steps




@contextmanager
def counted_passes(counts: list[int]) -> Iterator[None]:
    """Record the passes of every fixed-point iteration (forward and backward) in ``counts``."""
    plain = fixed_point_module.fixed_point

    def counting(g: Callable, x: torch.Tensor, max_iter: int) -> torch.Tensor:
        calls = [0]

        def g_counted(v: torch.Tensor) -> torch.Tensor:
            calls[0] += 1
            return g(v)

        out = plain(g_counted, x, max_iter)
        counts.append(calls[0])
        return out

    fixed_point_module.fixed_point = counting
    try:
        yield
    finally:
        fixed_point_module.fixed_point = plain


def measure(args: argparse.Namespace) -> dict:
    def timed(encoder: str) -> float:
        m = model(encoder, args.latent_dim, args.components)
        return round(seconds_per_step(m, args.batch, args.steps, args.device), 4)

    row = {"conv_vamp_s": timed("conv")}
    if not args.skip_sequential:
        with sequential_inverse():
            row["iaf_vamp_sequential_s"] = timed("iaf")
        row["ratio_sequential"] = round(row["iaf_vamp_sequential_s"] / row["conv_vamp_s"], 2)
    counts: list[int] = []
    with counted_passes(counts):
        row["iaf_vamp_s"] = timed("iaf")
    row["ratio"] = round(row["iaf_vamp_s"] / row["conv_vamp_s"], 2)
    row["passes_mean"] = round(sum(counts) / max(len(counts), 1), 1)
    row["passes_max"] = max(counts, default=0)
    return row


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _machine(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name()
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--components", type=int, default=50, help="K pseudo-inputs")
    parser.add_argument("--latent-dim", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip-sequential", action="store_true",
                        help="leave out the sequential cell (its graph: ~20 GB at B=100, K=500)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    row = {"batch": args.batch, "components": args.components, **measure(args)}
    sequential = (f"; sequential inverse {row['iaf_vamp_sequential_s']:.3f} s, "
                  f"{row['ratio_sequential']}×" if "ratio_sequential" in row else "")
    print(f"B={args.batch} K={args.components} Z={args.latent_dim} on {_machine(args.device)}: "
          f"conv×vamp {row['conv_vamp_s']:.3f} s/step, iaf×vamp {row['iaf_vamp_s']:.3f} s/step "
          f"({row['ratio']}×{sequential}); fixed-point passes mean {row['passes_mean']}, "
          f"max {row['passes_max']} of {args.latent_dim + 1}")
    name = f"iaf_vamp-{args.device.split(':')[0]}-B{args.batch}-K{args.components}.json"
    out = Path(args.out or ROOT / "results" / name)
    out.write_text(json.dumps({"machine": _machine(args.device), "latent_dim": args.latent_dim,
                               "steps": args.steps, **row}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
