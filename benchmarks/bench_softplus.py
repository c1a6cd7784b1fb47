"""What rdframe's own softplus buys on a CPU, as paired ratios in one process.

    RDFRAME_DATA_DIR=../shared/data python benchmarks/bench_softplus.py [--repeats 7]

torch's ``F.softplus`` (and ``logsigmoid``, and ``Bernoulli.log_prob`` through them) rests on
its vectorised log1p; ``rdframe.nn.softplus`` is max(v, 0) + log(1 + e^−|v|) from exp and
log, with σ(v) as its derivative. Three levels, each "before" (torch's path, patched back in)
against "after" (rdframe's), alternating within each repeat, one thread:

1. the elementwise operations alone on 100 × 784 logits (µs a call);
2. a training step of ``bench_train``'s MLP VAE 784-512-512-64, ``RDModel.terms`` and fused
   Adam as ``RDSystem`` runs them (argument checks off), batch 100: before, the Bernoulli
   decoder scores x by ``Bernoulli.log_prob`` and the encoder's σ by ``F.softplus``;
3. the IWAE bound (k = 1000, 100 examples, ``bench_iwae``'s model), whose passes score
   Σ softplus(l) over every pixel of every draw: before, by ``F.softplus``; "by element", by
   rdframe's softplus then a sum; after, by ``rdframe.nn.softplus_sum``, one log per group of
   pixels. The three rotate which goes first from repeat to repeat.

Prints a table and writes ``results/softplus_cpu.json``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from pathlib import Path
from unittest import mock

import bench_iwae
import bench_train
import torch
from common import median_ratio, rotated, write_record
from torch.nn import functional as F

from rdframe.decoders import bernoulli
from rdframe.encoders import mlp as mlp_encoder
from rdframe.estimators import iwae_log_likelihood
from rdframe.memory import iwae_rows
from rdframe.nn import softplus

RESULTS = Path(__file__).resolve().parent / "results"
SHAPE = (100, 784)


def per_call(fn: Callable[[], object], calls: int) -> float:
    """Seconds a call, over ``calls`` calls after two more."""
    fn(), fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def torch_training_paths() -> ExitStack:
    """torch's softplus back on the training step: the Bernoulli log-likelihood by the
    distribution and the encoder's σ by F.softplus."""
    stack = ExitStack()
    stack.enter_context(mock.patch.object(bernoulli, "full_precision", lambda h: False))
    stack.enter_context(mock.patch.object(mlp_encoder, "softplus", F.softplus))
    return stack


def iwae_sum(by: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], object]:
    """The IWAE passes' Σ softplus(l) over each draw's pixels by ``by``, while in force."""
    return lambda: mock.patch.object(bernoulli, "softplus_sum", lambda v: by(v).sum(-1))


def elementwise(repeats: int) -> dict[str, float]:
    """µs a call on 100 × 784 logits, median over repeats."""
    v = torch.randn(SHAPE) * 3
    x = torch.rand(SHAPE).bernoulli()

    def backward(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            w = v.clone().requires_grad_()
            fn(w).sum().backward()
        return run

    ops = {
        "torch.log1p": lambda: torch.log1p(v.abs()), "torch.exp": lambda: torch.exp(v),
        "torch.log": lambda: torch.log(v.abs()), "F.softplus": lambda: F.softplus(v),
        "rdframe softplus": lambda: softplus(v),
        "F.softplus, forward and backward": backward(F.softplus),
        "rdframe softplus, forward and backward": backward(softplus),
        "Bernoulli.log_prob, forward and backward": backward(
            lambda w: torch.distributions.Bernoulli(logits=w, validate_args=False).log_prob(x)),
        "rdframe bernoulli_log_prob, forward and backward": backward(
            lambda w: bernoulli.bernoulli_log_prob(w, x, 1)),
    }
    times = {name: [] for name in ops}
    for _ in range(repeats):
        for name, fn in ops.items():
            times[name].append(per_call(fn, 200))
    return {name: 1e6 * statistics.median(t) for name, t in times.items()}


def training(repeats: int, steps: int) -> dict:
    """Seconds for ``steps`` steps of bench_train's library loop, before and after."""
    batches = bench_train.load_batches(steps)
    seconds = rotated(repeats, {"before": torch_training_paths, "after": nullcontext},
                      lambda name: bench_train.rdframe_model(batches))
    return {"steps": steps, "seconds": seconds,
            "after_vs_before": median_ratio(seconds["after"], seconds["before"])}


def iwae(repeats: int, samples: int = 1000, examples: int = 100) -> dict:
    """Seconds for the IWAE bound of ``examples`` images at k = ``samples``."""
    x, _ = bench_iwae.load_images(examples)
    torch.manual_seed(0)
    model = bench_iwae.rdframe_model(tuple(x.shape[1:]), 32, 512).eval()
    rows = iwae_rows(model, x)
    estimates = {}

    @torch.no_grad()
    def bound(name: str) -> float:
        start = time.perf_counter()
        estimates[name] = iwae_log_likelihood(model, x, samples, rows).mean().item()
        return time.perf_counter() - start

    seconds = rotated(repeats, {"before": iwae_sum(F.softplus), "by element": iwae_sum(softplus),
                                "after": nullcontext}, bound)
    return {"samples": samples, "examples": examples, "rows": rows, "seconds": seconds,
            "mean_log_likelihood": estimates,
            "after_vs_before": median_ratio(seconds["after"], seconds["before"]),
            "after_vs_by_element": median_ratio(seconds["after"], seconds["by element"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--out", default=str(RESULTS / "softplus_cpu.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    record = {"torch": torch.__version__, "threads": 1, "repeats": args.repeats,
              "elementwise_us": elementwise(args.repeats),
              "training": training(args.repeats, args.steps), "iwae": iwae(args.repeats)}
    for name, us in record["elementwise_us"].items():
        print(f"{name:>50} {us:8.1f} µs")
    step = record["training"]
    print(f"training step, after / before: {step['after_vs_before']:.3f} "
          f"(ms a step: {1e3 * min(step['seconds']['before']) / args.steps:.2f} → "
          f"{1e3 * min(step['seconds']['after']) / args.steps:.2f})")
    bound = record["iwae"]
    print(f"IWAE k = {bound['samples']}, {bound['rows']} rows a pass: "
          + ", ".join(f"{name} {min(s):.2f} s" for name, s in bound["seconds"].items())
          + f"; after / before {bound['after_vs_before']:.3f}, after / by element "
          + f"{bound['after_vs_by_element']:.3f}; estimates "
          + ", ".join(f"{v:.3f}" for v in bound["mean_log_likelihood"].values()))
    write_record(args.out, record)


if __name__ == "__main__":
    main()
