"""The results file: one ``rd.json`` per run, read by ``rdframe plot`` and ``rdframe report``.

Reading results imports neither torch nor Lightning.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rdframe.atomic import atomic_write
from rdframe.errors import RDFrameError

RESULTS_FILE = "rd.json"
PICTURES, ARRAYS = "pictures", "pictures.npz"  # beside rd.json: a run's pictures, their arrays

# "Fixing a Broken ELBO" names a family by one symbol per slot, encoder·decoder·marginal:
# "−" the simple choice, "+" the rich one, "v" the VampPrior.
PAPER_SYMBOLS: tuple[dict[str, str], ...] = (
    {"conv": "−", "iaf": "+"},
    {"conv": "−", "pixelcnn": "+"},
    {"standard_normal": "−", "vamp": "v", "vamp_bounded": "v", "maf": "+"},
)


@dataclass(frozen=True)
class RunResult:
    """What one run reports; rate, distortion, elbo and iwae_nll in nats per example (test)."""

    rate: float
    distortion: float
    elbo: float | None  # −(D + R); None for the bottleneck, whose D is −E log c(y|z)
    iwae_nll: float | None
    iwae_samples: int
    beta: float
    objective: str
    encoder: str
    decoder: str
    marginal: str
    dataset: str
    entropy: float | None
    seed: int
    epochs: int
    steps: int
    train_seconds: float
    config: dict[str, Any] = field(default_factory=dict)
    iwae_bpd: float | None = None
    path: str | None = None
    # written by `rdframe evaluate` (test split here; every split under "evaluation"), nats:
    ixz_upper: float | None = None  # R ≥ I(X;Z): the rate, named for the information plane
    ixz_aggregate: float | None = None  # aggregate-posterior estimate of I(X;Z)
    ixz_lower: float | None = None  # H − D ≤ I(X;Z), when the data's entropy H is known
    active_units: int | None = None  # units with Var_x(E[z|x]) > 0.01
    kl_per_dim: list[float] | None = None  # E_x KL per latent dimension, where defined
    error: float | None = None  # the bottleneck's test classification error
    label_entropy: float | None = None  # H(Y) of the labels
    izy_lower: float | None = None  # H(Y) − D_y ≤ I(Z;Y)
    weights: str | None = None  # the checkpoint evaluated: last, or best on validation
    iwae_nll_sd: float | None = None  # sd of the NLL over repeats of the estimator
    iwae_nll_repeats: list[float] | None = None  # each repeat's NLL
    evaluation: dict[str, Any] = field(default_factory=dict)  # split → every metric
    sigma: float | None = None  # the target rate σ of objective=target_rate, nats
    # metrics still being computed: ["iwae_nll"] while `rdframe train` scores the IWAE bound
    # after writing the rest; a relaunch of the run computes them
    pending: list[str] = field(default_factory=list)

    @property
    def family(self) -> str:
        """The paper's three symbols, encoder·decoder·marginal, where every choice is one of
        the paper's (see :data:`PAPER_SYMBOLS`), else "encoder/decoder/marginal".

        >>> RunResult(1.0, 2.0, -3.0, None, 0, 1.0, "elbo", "iaf", "conv", "vamp", "mnist",
        ...           None, 0, 1, 1, 1.0).family
        '+−v'
        """
        choices = (self.encoder, self.decoder, self.marginal)
        symbols = [table.get(c) for table, c in zip(PAPER_SYMBOLS, choices, strict=True)]
        if None in symbols:
            return "/".join(choices)
        return "".join(symbols)

    def write(self, run_dir: Path) -> Path:
        path = Path(run_dir) / RESULTS_FILE
        record = {k: v for k, v in asdict(self).items() if k != "path"}
        return atomic_write(path, json.dumps(record, indent=2, allow_nan=True) + "\n")

    @classmethod
    def read(cls, path: Path) -> RunResult:
        try:
            record = json.loads(Path(path).read_text())
            return cls(**record, path=str(path))
        except (json.JSONDecodeError, TypeError) as error:
            raise RDFrameError(f"{path} is not an rdframe results file: {error}") from error

    def is_finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.rate, self.distortion, self.elbo)
                   if v is not None)


def find_results(paths: Iterable[Path | str]) -> list[RunResult]:
    """Every rd.json at or below the given files and folders, in path order."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(path.rglob(RESULTS_FILE)))
        else:
            raise RDFrameError(f"{path} does not exist; give run or sweep folders holding rd.json")
    if not files:
        raise RDFrameError(f"no {RESULTS_FILE} found under {', '.join(map(str, paths))}")
    return [RunResult.read(f) for f in files]


def has_pictures(result: RunResult) -> bool:
    """Whether the run saved the arrays of its pictures beside its rd.json."""
    return result.path is not None and (Path(result.path).parent / PICTURES / ARRAYS).is_file()
