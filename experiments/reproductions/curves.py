"""Learning curves of a reproduction: train and validation metrics per epoch, from a run's CSV
log; one panel per metric (default: −ELBO; the bottleneck: ``--metrics distortion rate``).

    python experiments/reproductions/curves.py RUN_DIR OUT.png [--title TITLE] [--metrics …]
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LABELS = {"distortion": "D (the bottleneck's: label cross-entropy)", "rate": "R"}


def per_epoch(log: Path, key: str) -> tuple[list[int], list[float]]:
    """The mean of ``key`` over each epoch's rows of a Lightning CSV log."""
    values: dict[int, list[float]] = defaultdict(list)
    with log.open(newline="") as stream:
        for row in csv.DictReader(stream):
            if row.get(key):
                values[int(row["epoch"])].append(float(row[key]))
    epochs = sorted(values)
    return epochs, [sum(values[e]) / len(values[e]) for e in epochs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--title", default=None)
    parser.add_argument("--metrics", nargs="+", default=["elbo"])
    args = parser.parse_args()
    fig, axes = plt.subplots(1, len(args.metrics), figsize=(6.4 * len(args.metrics), 4.0),
                             squeeze=False)
    for ax, metric in zip(axes[0], args.metrics):
        sign, name = (-1, "−ELBO") if metric == "elbo" else (1, LABELS.get(metric, metric))
        for stage in ("train", "val"):
            epochs, values = per_epoch(args.run / "logs" / "metrics.csv", f"{stage}/{metric}")
            ax.plot(epochs, [sign * v for v in values], label=f"{stage}: {name}")
        ax.set(xlabel="epoch", ylabel="nats per example", title=args.title)
        if metric == "elbo":
            ax.set_ylim(top=min(ax.get_ylim()[1], 130))
        else:  # from the first epoch's hundreds of nats to the last's few hundredths
            ax.set_yscale("log")
        ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
