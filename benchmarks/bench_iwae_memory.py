"""Rows per IWAE pass from a memory budget, and the peak memory of such a pass, per decoder.

    RDFRAME_DATA_DIR=../shared/data python benchmarks/bench_iwae_memory.py [--budget-gb 1 16]

For each decoder of the paper's study on static binarised MNIST (latent 64), the bytes one
(sample, example) row of the IWAE bound holds at its peak (``rdframe.memory.bytes_per_row``),
the rows a pass gets at each budget (``iwae_rows``), and, at the first budget, the peak of a
real pass of that many rows measured op by op (``LiveBytes``; on CUDA the allocator's peak):
it must stay under the budget. A fixed 10,000 rows would take what the last column says.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from rdframe.build import build_data, build_system
from rdframe.estimators import iwae_log_likelihood
from rdframe.memory import GIB, LiveBytes, bytes_per_row, iwae_rows

RESULTS = Path(__file__).resolve().parent / "results"
DECODERS = {"mlp": ["encoder=mlp", "decoder=mlp"], "conv": ["encoder=conv", "decoder=conv"],
            "pixelcnn": ["encoder=conv", "decoder=pixelcnn"]}


def compose(overrides: list[str]):  # noqa: ANN201 — a DictConfig
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module("rdframe.conf", version_base="1.3"):
        return hydra_compose("config", overrides=[*overrides, "output_dir=unused"])


def peak_of_pass(model, x: torch.Tensor, samples: int, rows: int) -> int:  # noqa: ANN001
    """Peak bytes of iwae_log_likelihood on ``x`` with ``rows`` per pass."""
    if x.is_cuda:
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        iwae_log_likelihood(model, x, samples, rows)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - before
    with LiveBytes() as memory:
        iwae_log_likelihood(model, x, samples, rows)
    return memory.peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-gb", type=float, nargs="+", default=[1.0, 16.0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default=None, help="JSON file (default: results/…)")
    args = parser.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    device = torch.device(args.device)
    records = []
    for name, overrides in DECODERS.items():
        cfg = compose(["data=binarized_mnist", "latent_dim=64", *overrides])
        data, system = build_data(cfg), build_system(cfg)
        data.setup("test")
        model = system.model.to(device).eval()
        x = data.test_set.tensors[0][:8].to(device)
        per_row = bytes_per_row(model, x)
        budgets = [int(b * GIB) for b in args.budget_gb]
        rows = [iwae_rows(model, x, b) for b in budgets]
        examples = max(1, min(len(x), 2 * rows[0] // args.samples))
        with torch.no_grad():
            peak = peak_of_pass(model, x[:examples], args.samples, rows[0])
        records.append({"decoder": name, "bytes_per_row": per_row,
                        "rows": dict(zip(args.budget_gb, rows, strict=True)),
                        "measured_peak_bytes": peak, "budget_bytes": budgets[0],
                        "fixed_10000_rows_bytes": per_row * 10_000})
        print(f"{name:>9}: {per_row / 2**20:7.2f} MiB per row; rows per pass "
              + ", ".join(f"{r} at {b:g} GB" for b, r in zip(args.budget_gb, rows, strict=True))
              + f"; a pass of {rows[0]} rows peaked at {peak / GIB:.2f} of {budgets[0] / GIB:g}"
              f" GiB; 10,000 rows would take {per_row * 10_000 / GIB:.1f} GiB", flush=True)
    path = Path(args.out) if args.out else RESULTS / f"iwae_memory_{device.type}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"device": str(device), "samples": args.samples,
                                "torch": torch.__version__, "results": records}, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    with torch.no_grad():
        main()
