"""What RDSystem's finite-gradient check costs alone: GradScaler's one pass
(``rdframe.system.nonfinite_gradient``, what rdframe runs) against the total norm of the
gradients (what it ran before), on the gradients of ``bench_train``'s model.

    python benchmarks/bench_gradient_check.py [--calls 200 --repeats 7]

Each repeat times ``--calls`` calls of each check, in alternating order; the median over
repeats is printed, in ms a call, with the paired ratio of the two.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from bench_train import model
from common import median_ratio, rotation

from rdframe.system import nonfinite_gradient


def norm_check(grads: list[torch.Tensor]) -> bool:
    return not bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    parameters = list(model().parameters())
    for p in parameters:
        p.grad = torch.randn_like(p)
    checks: dict[str, Callable[[list[torch.Tensor]], bool]] = {
        "total norm": norm_check, "nonfinite_gradient": nonfinite_gradient}
    seconds: dict[str, list[float]] = {name: [] for name in checks}
    for repeat in range(args.repeats):
        for name in rotation(checks, repeat):
            start = time.perf_counter()
            for _ in range(args.calls):
                checks[name]([p.grad for p in parameters if p.grad is not None])
            seconds[name].append((time.perf_counter() - start) / args.calls)
    floats = sum(p.numel() for p in parameters)
    print(f"{len(parameters)} gradients, {floats:,} floats, 1 thread")
    for name, times in seconds.items():
        print(f"{name:>20}: {1000 * sorted(times)[len(times) // 2]:.3f} ms a call")
    print(f"total norm / nonfinite_gradient, paired: "
          f"{median_ratio(seconds['total norm'], seconds['nonfinite_gradient']):.2f}×")


if __name__ == "__main__":
    main()
