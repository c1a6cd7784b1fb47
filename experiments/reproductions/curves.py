"""Learning curves of a reproduction: train and validation ELBO per epoch, from a run's CSV log.

    python experiments/reproductions/curves.py RUN_DIR OUT.png [--title TITLE]
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


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
    args = parser.parse_args()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for stage in ("train", "val"):
        epochs, elbo = per_epoch(args.run / "logs" / "metrics.csv", f"{stage}/elbo")
        ax.plot(epochs, [-v for v in elbo], label=f"{stage}: −ELBO")
    ax.set(xlabel="epoch", ylabel="nats per example", title=args.title)
    ax.set_ylim(top=min(ax.get_ylim()[1], 130))
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
