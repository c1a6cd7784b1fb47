"""``rdframe evaluate RUN_DIR``: a trained run's checkpoint → metrics, merged into its rd.json.

::

    rd.json["config"] ──► build_data, build_system ──► weights of checkpoints/last.ckpt
        ──► estimators on the split ──► rd.json["evaluation"][split] (+ top level for test)

Every metric is in nats per example unless its name says otherwise. A model whose decoder
scores x gets the ELBO, the importance-weighted NLL (in bits per dimension too where d(x|z) is
discrete) and the bounds H − D ≤ I(X;Z) ≤ R; a bottleneck (decoder scoring the label y) gets
its classification error and H(Y) − D_y ≤ I(Z;Y), with R ≥ I(Z;X), its distortion being D_y,
the label's cross-entropy, and its ``elbo`` None. Both get the aggregate-posterior estimate
of I(X;Z), the active units and, where defined, the KL per latent dimension.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import Tensor

from rdframe.atomic import atomic_write
from rdframe.build import build_data, build_system
from rdframe.checkpointing import check_weights, read_checkpoint
from rdframe.data.base import RDDataModule
from rdframe.errors import RDFrameError
from rdframe.estimators import (
    active_units,
    aggregate_posterior_mi,
    bits_per_dim,
    discrete_likelihood,
    iwae_log_likelihood,
    kl_per_dimension,
    label_entropy,
    predictive_error,
    rd_terms,
)
from rdframe.model import RDModel
from rdframe.objectives import Objective
from rdframe.results import RESULTS_FILE
from rdframe.system import RDSystem, check_target

CHECKPOINT = Path("checkpoints") / "last.ckpt"
CHECKPOINTS = {"last": CHECKPOINT, "best": Path("checkpoints") / "best.ckpt"}
SPLITS = ("train", "val", "test")
Metrics = dict[str, Any]


def evaluate_run(
    run_dir: Path | str,
    samples: int | None = None,
    split: str = "test",
    weights: str = "last",
    repeats: int = 1,
) -> Metrics:
    """Metrics of the run in ``run_dir`` on ``split``, merged into its rd.json and returned.

    ``samples`` is k of the importance-weighted NLL (default: the run's ``iwae_samples``);
    ``weights`` the checkpoint scored: ``last`` or ``best`` (on validation). With ``repeats``
    > 1 the NLL estimator runs that many times with seeds seed, seed + 1, …: ``iwae_nll`` is
    their mean, ``iwae_nll_sd`` their standard deviation (n − 1), ``iwae_nll_repeats`` each.
    Seeded by the run's seed, so a second evaluation gives the same numbers.
    """
    run_dir = Path(run_dir)
    if weights not in CHECKPOINTS or repeats < 1:
        raise RDFrameError(f"weights must be last or best and repeats >= 1, got {weights!r} "
                           f"and {repeats}; e.g. --weights best --repeats 5")
    record = read_record(run_dir)
    cfg = OmegaConf.create(record["config"])
    data, system = build_data(cfg), build_system(cfg)
    load_weights(system, run_dir / CHECKPOINTS[weights])
    x, y = split_tensors(data, split)
    seed, k = cfg.get("seed", 0), samples or cfg.iwae_samples
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        metrics = evaluate_model(system.model, system.objective, x, y, k, data.entropy,
                                 seeds=[seed + r for r in range(repeats)])
    write_metrics(run_dir, record, split, metrics | {"weights": weights})
    return metrics | {"weights": weights}


@torch.no_grad()
def repeated_nll(
    model: RDModel, x: Tensor, samples: int, seeds: list[int] | None = None
) -> Metrics:
    """The IWAE NLL in nats per example, and in bits per dimension where d(x|z) is discrete
    (else ``iwae_bpd`` is None: see :func:`discrete_likelihood`). With several ``seeds`` the
    estimator runs once per seed: ``iwae_nll`` is the mean, ``iwae_nll_sd`` the standard
    deviation (n − 1) and ``iwae_nll_repeats`` each value; without, once on the current stream."""
    model.eval()
    values = []
    for seed in seeds or [None]:
        if seed is not None and len(seeds) > 1:
            torch.manual_seed(seed)
        values.append(-iwae_log_likelihood(model, x, samples).mean().item())
    nll = sum(values) / len(values)
    discrete = discrete_likelihood(model)  # bits per dimension of a density: null
    metrics = {"iwae_nll": nll, "iwae_bpd": bits_per_dim(nll, x[0].numel()) if discrete else None}
    if len(values) > 1:
        sd = torch.tensor(values, dtype=torch.float64).std().item()
        metrics |= {"iwae_nll_sd": sd, "iwae_nll_repeats": values}
    return metrics


def read_record(run_dir: Path) -> dict[str, Any]:
    """The run's rd.json as a dict; an RDFrameError if it is missing, unreadable or bare."""
    path = run_dir / RESULTS_FILE
    if not path.is_file():
        raise RDFrameError(f"{path} does not exist: give a run folder made by `rdframe train`")
    try:
        record = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RDFrameError(f"{path} is not valid JSON ({error}); rerun `rdframe train`") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
        raise RDFrameError(f"{path} has no resolved 'config' to rebuild the run from")
    return record


def load_weights(system: RDSystem, path: Path) -> None:
    """Load the Lightning checkpoint's weights into ``system``; one RDFrameError if not."""
    if not path.is_file():
        raise RDFrameError(
            f"no checkpoint at {path}: `rdframe train` saves it through callbacks.checkpoint "
            f"(on by default); retrain with it, or copy the run folder whole"
        )
    check_weights(path, read_checkpoint(path, required=("state_dict",)), system)


def split_tensors(data: RDDataModule, split: str) -> tuple[Tensor, Tensor]:
    """Every (x, y) of a split, stacked: (N, *shape) and (N,)."""
    if split not in SPLITS:
        raise RDFrameError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    data.setup({"train": "fit", "val": "validate", "test": "test"}[split])
    loader = getattr(data, f"{split}_dataloader")()
    xs, ys = zip(*loader)
    return torch.cat(xs), torch.cat(ys)


@torch.no_grad()
def evaluate_model(
    model: RDModel,
    objective: Objective,
    x: Tensor,
    y: Tensor,
    samples: int,
    entropy: float | None = None,
    seeds: list[int] | None = None,
) -> Metrics:
    """Every metric of ``model`` on the examples ``x`` (labels ``y``), as plain numbers; the
    IWAE NLL once per seed in ``seeds`` (see :func:`repeated_nll`), else once."""
    model.eval()
    check_target(model, objective)
    terms = rd_terms(model, x, y if objective.target == "y" else None)
    rate, distortion = terms.rate.mean().item(), terms.distortion.mean().item()
    metrics = {"rate": rate, "distortion": distortion}
    metrics["ixz_upper"] = rate
    metrics |= _code_metrics(model, x)
    if objective.target == "y":  # distortion is D_y; −(D_y + R) is no ELBO
        return metrics | {"elbo": None} | _bottleneck_metrics(model, x, y, distortion)
    metrics |= {"elbo": -(rate + distortion)}
    return metrics | _likelihood_metrics(model, x, samples, distortion, entropy, seeds)


def _code_metrics(model: RDModel, x: Tensor) -> Metrics:
    """I(X;Z) ≤ R (the rate), its aggregate-posterior estimate, active units, KL per unit."""
    count, _ = active_units(model, x)
    kl = kl_per_dimension(model, x)
    return {
        "ixz_aggregate": aggregate_posterior_mi(model, x),
        "active_units": count,
        "kl_per_dim": None if kl is None else kl.tolist(),
    }


def _likelihood_metrics(
    model: RDModel,
    x: Tensor,
    samples: int,
    distortion: float,
    entropy: float | None,
    seeds: list[int] | None = None,
) -> Metrics:
    return repeated_nll(model, x, samples, seeds) | {
        "iwae_samples": samples,
        "ixz_lower": None if entropy is None else entropy - distortion,
    }


def _bottleneck_metrics(model: RDModel, x: Tensor, y: Tensor, distortion: float) -> Metrics:
    h_y = label_entropy(y)
    return {"error": predictive_error(model, x, y), "label_entropy": h_y,
            "izy_lower": h_y - distortion}


def write_metrics(run_dir: Path, record: dict[str, Any], split: str, metrics: Metrics) -> Path:
    """rd.json gets ``evaluation[split] = metrics``; the test split also updates the top level
    (rate, distortion, elbo, iwae_nll, … of the same model, now from the checkpoint)."""
    record.setdefault("evaluation", {})[split] = metrics
    if split == "test":
        record.update(metrics)
    return atomic_write(run_dir / RESULTS_FILE, json.dumps(record, indent=2, allow_nan=True) + "\n")


def summary(run_dir: Path | str, split: str, metrics: Metrics) -> str:
    """One line for the console."""
    head = f"rdframe: {split} of {run_dir}: R={metrics['rate']:.2f} D={metrics['distortion']:.2f}"
    if "iwae_nll" in metrics:
        head += f" IWAE-NLL={metrics['iwae_nll']:.2f} nats (k={metrics['iwae_samples']})"
    else:
        head += f" error={metrics['error']:.2%} I(Z;Y)>={metrics['izy_lower']:.2f}"
    return head + (
        f" I(X;Z)~{metrics['ixz_aggregate']:.2f} active units={metrics['active_units']}"
        f" -> {Path(run_dir) / RESULTS_FILE}"
    )

