"""IWAE evaluation time: rdframe's chunked estimator against a naive per-example loop.

Both run the same model on the same binarised MNIST test images (the embedded digits when
MNIST is not found), side by side in one process; pythae's ``VAE.get_nll`` on the same networks
and weights joins them when pythae imports, so that its estimate can be set against rdframe's.
Prints a table and writes ``benchmarks/results/iwae_<device>.json``.

    RDFRAME_DATA_DIR=../shared/data python benchmarks/bench_iwae.py --examples 200 \
        --samples 100 1000 5000

The naive loop is what most VAE code does: one example at a time, its k samples in batches of
``--sample-chunk``. The chunked estimator pushes (samples × examples) ≤ ``--rows`` pairs
through each pass (default: as many as fit its memory budget, ``rdframe.memory``), so memory
is bounded whatever k and N; seconds for the full 10,000-image
test set at k = 5000 are extrapolated from the measured rate (examples per second). The
weights are untrained: the numbers are timings, not likelihoods worth quoting.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import common
import torch
from common import pythae_vae
from torch import Tensor

from rdframe.decoders import BernoulliMLPDecoder
from rdframe.encoders import GaussianMLPEncoder
from rdframe.estimators import iwae_log_likelihood
from rdframe.marginals import StandardNormal
from rdframe.memory import iwae_rows
from rdframe.model import RDModel

RESULTS = Path(__file__).resolve().parent / "results"
FULL_EXAMPLES, FULL_SAMPLES = 10_000, 5_000


def load_images(n: int, random_images: bool = False) -> tuple[Tensor, str]:
    """The first n binarised MNIST test images, else the digits' (N, 1, H, W) in {0, 1}; with
    ``random_images`` n binary 28×28 arrays of MNIST's mean, 0.13 (a machine without data)."""
    if random_images:
        return common.random_images(n), "random"
    root = os.environ.get("RDFRAME_DATA_DIR")
    if root and (Path(root) / "MNIST" / "raw").is_dir():
        from rdframe.data import MNISTDataModule

        data, name = MNISTDataModule(data_dir=root, binarize=True), "mnist"
    else:
        from rdframe.data import DigitsDataModule

        data, name = DigitsDataModule(), "digits"
    data.setup("test")
    x = torch.cat([batch[0] for batch in data.test_dataloader()])
    return x[:n], name


def rdframe_model(shape: tuple[int, ...], latent: int, hidden: int) -> RDModel:
    return RDModel(GaussianMLPEncoder(shape, latent, (hidden,)),
                   BernoulliMLPDecoder(latent, shape, (hidden,)), StandardNormal(latent))


def naive_loop(model: RDModel, x: Tensor, samples: int, chunk: int) -> Tensor:
    """One example at a time, its samples in chunks: the usual evaluation loop."""
    with torch.no_grad():
        parts = [model.log_likelihood(x[i : i + 1], samples, chunk) for i in range(len(x))]
        return torch.cat(parts)


def timed(fn: Callable[[], Tensor | float], device: torch.device) -> tuple[float, float]:
    """(seconds, mean log-likelihood) of one call, synchronised on an accelerator."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    value = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    mean = value.mean().item() if isinstance(value, Tensor) else float(value)
    return seconds, mean


def pythae_nll(model: RDModel, x: Tensor, samples: int, chunk: int):
    """pythae's VAE.get_nll on ``model``'s own networks and weights (:func:`common.pythae_vae`),
    or the reason it cannot run."""
    vae = pythae_vae(model)
    if vae is None:
        return None, "pythae does not import"
    vae = vae.to(x.device).eval()  # get_nll returns the mean log-likelihood (nats)
    return (lambda: vae.get_nll(x, n_samples=samples, batch_size=chunk)), "pythae VAE.get_nll"


def measure(x: Tensor, samples: int, args: argparse.Namespace, device: torch.device) -> dict:
    torch.manual_seed(0)
    model = rdframe_model(tuple(x.shape[1:]), args.latent, args.hidden).to(device).eval()
    chunk = min(args.sample_chunk, samples)
    rows = args.rows or iwae_rows(model, x)
    runs = {
        "rdframe_chunked": lambda: iwae_log_likelihood(model, x, samples, rows),
        "naive_per_example": lambda: naive_loop(model, x, samples, chunk),
    }
    fn, note = pythae_nll(model, x, samples, chunk)
    if fn is not None and samples % chunk == 0:  # pythae rounds k down to a multiple of chunk
        runs["pythae_get_nll"] = fn
    record = {"samples": samples, "examples": len(x), "sample_chunk": chunk, "rows": rows,
              "pythae": note, "latent": args.latent, "hidden": args.hidden,
              "decoder_macs_per_row": sum(layer.in_features * layer.out_features
                                          for layer in model.decoder.modules()
                                          if isinstance(layer, torch.nn.Linear))}
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):  # interleaved, best of several: robust to a busy machine
        for name, run in runs.items():
            with torch.no_grad():
                seconds, log_likelihood = timed(run, device)
            times[name].append(seconds)
            record[name] = {"mean_log_likelihood": log_likelihood}
    for name, seconds in times.items():
        rate = len(x) / min(seconds)
        full = FULL_EXAMPLES * (FULL_SAMPLES / samples) / rate  # cost grows linearly with k
        record[name] |= {"seconds": min(seconds), "all_seconds": seconds,
                         "examples_per_second": rate, "extrapolated_seconds_10000x5000": full}
    record["speedup_vs_naive"] = (record["naive_per_example"]["seconds"]
                                  / record["rdframe_chunked"]["seconds"])
    return record


def print_table(records: list[dict]) -> None:
    print(f"{'k':>6} {'method':<20} {'seconds':>9} {'ex/s':>9} {'log p(x)':>10} "
          f"{'10k×5000 (est)':>15}")
    for r in records:
        for name in ("rdframe_chunked", "naive_per_example", "pythae_get_nll"):
            if name in r:
                m = r[name]
                print(f"{r['samples']:>6} {name:<20} {m['seconds']:>9.2f} "
                      f"{m['examples_per_second']:>9.1f} {m['mean_log_likelihood']:>10.2f} "
                      f"{m['extrapolated_seconds_10000x5000'] / 3600:>13.2f} h")
        print(f"{'':>6} speed-up of chunked over naive: {r['speedup_vs_naive']:.1f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--samples", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--sample-chunk", type=int, default=100)
    parser.add_argument("--rows", type=int, default=None,
                        help="rows per pass (default: from the memory budget)")
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=512)  # pythae's default MLP width
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--random-images", action="store_true",
                        help="time on random binary 28×28 images, without a data set")
    parser.add_argument("--out", default=None, help="JSON file (default: results/iwae_DEVICE)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    x, dataset = load_images(args.examples, args.random_images)
    x = x.to(device)
    records = [measure(x, k, args, device) for k in args.samples]
    print_table(records)
    out = {"dataset": dataset, "device": str(device), "threads": args.threads,
           "repeats": args.repeats, "timing": "best of the repeats, methods interleaved",
           "torch": torch.__version__,
           "machine": platform.processor() or platform.machine(), "results": records}
    path = Path(args.out) if args.out else RESULTS / f"iwae_{device.type}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
