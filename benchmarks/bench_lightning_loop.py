"""What Lightning's training loop costs a step by itself, on a model too small to hide it.

    python benchmarks/bench_lightning_loop.py [--steps 2000 --repeats 3]

One linear layer 4 → 1 with fused Adam, batches of 8 from a DataLoader, trained under a
``Trainer`` (no logger, checkpoints, progress bar or model summary) and by a plain loop of the
same training_step, zero_grad, backward and step, alternating, one thread. The difference of
the two, in µs a step, is Lightning's per-step Python: the hooks, the closure, the progress
counters and its data fetcher, whatever the model. Steps after the first 100 are timed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import pytorch_lightning as pl
import torch
from common import rotation
from torch.utils.data import DataLoader

SKIP = 100  # steps before the timing starts


class Tiny(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.layer(batch[0]).square().mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), fused=True)


class Timer(pl.Callback):
    def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step == SKIP:
            self.start = time.perf_counter()

    def on_train_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self.seconds = time.perf_counter() - self.start


def lightning(loader: DataLoader, steps: int) -> float:
    timer = Timer()
    with tempfile.TemporaryDirectory() as folder:
        trainer = pl.Trainer(accelerator="cpu", max_steps=steps, logger=False, callbacks=[timer],
                             enable_checkpointing=False, enable_progress_bar=False,
                             enable_model_summary=False, default_root_dir=folder)
        trainer.fit(Tiny(), loader)
    return timer.seconds / (steps - SKIP)


def plain(loader: DataLoader, steps: int) -> float:
    module = Tiny()
    optimizer = module.configure_optimizers()
    for i, batch in enumerate(loader):
        if i == SKIP:
            start = time.perf_counter()
        loss = module.training_step(batch, i)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / (steps - SKIP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.steps <= SKIP:
        parser.error(f"--steps must exceed the {SKIP} untimed steps")
    torch.set_num_threads(1)
    loader = DataLoader([(torch.randn(8, 4),) for _ in range(args.steps)], batch_size=None)
    times: dict[str, list[float]] = {"lightning": [], "plain": []}
    for repeat in range(args.repeats):
        for name in rotation(times, repeat):
            times[name].append((lightning if name == "lightning" else plain)(loader, args.steps))
    medians = {name: 1e6 * statistics.median(t) for name, t in times.items()}
    print(f"µs a step (median of {args.repeats}): Trainer {medians['lightning']:.0f}, plain loop "
          f"{medians['plain']:.0f}; Lightning's own {medians['lightning'] - medians['plain']:.0f}")


if __name__ == "__main__":
    main()
