"""What the benchmark scripts share: paired ratios and their JSON records."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path


def median_ratio(times: Sequence[float], references: Sequence[float]) -> float:
    """The median of ``times[i] / references[i]``: ratios taken within each repeat, where both
    ran under the same load.

    >>> median_ratio([2.0, 3.0, 10.0], [1.0, 1.0, 1.0])
    3.0
    """
    return statistics.median(t / r for t, r in zip(times, references, strict=True))


def write_record(path: Path | str, record: dict) -> Path:
    """``record`` as indented JSON at ``path`` (its folder made), announced on the console."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")
    return path
