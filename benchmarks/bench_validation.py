"""A validation epoch of ``rdframe train``'s model: what each change to it buys, paired.

    RDFRAME_DATA_DIR=../shared/data python benchmarks/bench_validation.py [--repeats 7]

``trainer.validate`` of ``experiment=repro_vae`` (the 784-400-40 VAE, untrained) on the 10,000
validation images of static binarised MNIST, batch 100, one thread, as ``rdframe train`` runs
it after every epoch. Four variants, rotating which goes first from repeat to repeat:

- ``per-batch logging``: each batch's rate, distortion, ELBO, selection and loss through
  Lightning's ``self.log`` (``on_epoch=True``), as rdframe logged them before;
- ``Wᵀx for one draw``: the epoch's sums logged once at its end, but the Bernoulli decoder
  scores each example's single draw by h·(Wᵀx), the form meant for many draws;
- ``before``: both of the above, as rdframe ran before;
- ``after``: the sums logged once, Σ x·l taken from the logits (how rdframe runs).

The logged means must agree between the variants (they do to float32's rounding). Prints a
table and writes ``results/validation_cpu.json``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from pathlib import Path
from unittest import mock

import pytorch_lightning as pl
import torch
from common import median_ratio, rotated, write_record
from torch import Tensor, nn

from rdframe.decoders import bernoulli
from rdframe.nn import softplus_sum
from rdframe.system import RDSystem

RESULTS = Path(__file__).resolve().parent / "results"


class PerBatchLogging(RDSystem):
    """RDSystem logging each evaluation batch through ``self.log``, as it did before."""

    def _add_to_epoch(self, means: Mapping[str, Tensor], n: int) -> None:
        self.log_dict(dict(means), batch_size=n, sync_dist=True, prog_bar=False)


@contextmanager
def as_class(system: RDSystem, cls: type[RDSystem]) -> Iterator[None]:
    """``system`` as an instance of ``cls`` while the block runs."""
    original, system.__class__ = system.__class__, cls
    try:
        yield
    finally:
        system.__class__ = original


@contextmanager
def both(*contexts: AbstractContextManager) -> Iterator[None]:
    with ExitStack() as stack:
        for context in contexts:
            stack.enter_context(context)
        yield


def products_always(h: Tensor, head: nn.Linear, x: Tensor, event_dims: int) -> Tensor:
    """``linear_bernoulli_log_prob`` by h·(Wᵀx) + bᵀx whatever the number of draws."""
    x = x.flatten(-event_dims).to(h.dtype)
    agreement = (h * (x @ head.weight)).sum(-1) + x @ head.bias
    return agreement - softplus_sum(head(h))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(RESULTS / "validation_cpu.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    from hydra import compose, initialize_config_module

    from rdframe.build import build_data, build_system

    with initialize_config_module("rdframe.conf", version_base="1.3"):
        cfg = compose("config", overrides=["experiment=repro_vae", "output_dir=."])
    torch.manual_seed(0)
    data, system = build_data(cfg), build_system(cfg)
    data.setup("fit")
    logged: dict[str, dict[str, float]] = {}
    variants = {
        "per-batch logging": lambda: as_class(system, PerBatchLogging),
        "Wᵀx for one draw": lambda: mock.patch.object(
            bernoulli, "linear_bernoulli_log_prob", products_always),
        "before": lambda: both(as_class(system, PerBatchLogging), mock.patch.object(
            bernoulli, "linear_bernoulli_log_prob", products_always)),
        "after": nullcontext,
    }

    def validate(name: str) -> float:
        with tempfile.TemporaryDirectory() as folder:
            trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                                 enable_model_summary=False, enable_checkpointing=False,
                                 default_root_dir=folder)
            start = time.perf_counter()
            metrics = trainer.validate(system, datamodule=data, verbose=False)[0]
            seconds = time.perf_counter() - start
        logged[name] = {key: float(value) for key, value in metrics.items()}
        return seconds

    seconds = rotated(args.repeats, variants, validate)
    record = {"torch": torch.__version__, "threads": 1, "repeats": args.repeats,
              "examples": len(data.val_dataloader().dataset), "seconds": seconds,
              "logged": logged,
              "after_over": {name: median_ratio(seconds["after"], seconds[name])
                             for name in variants if name != "after"}}
    print(f"{'variant':>20} {'best s':>7} {'after / it':>11}")
    for name in variants:
        ratio = record["after_over"].get(name, 1.0)
        print(f"{name:>20} {min(seconds[name]):7.3f} {ratio:11.3f}")
    print("val/rate, val/distortion: " + "; ".join(
        f"{name} {m['val/rate']:.5f}, {m['val/distortion']:.5f}" for name, m in logged.items()))
    write_record(args.out, record)


if __name__ == "__main__":
    main()
