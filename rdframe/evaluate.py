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

import contextlib
import hashlib
import io
import json
import logging
import math
import multiprocessing
import os
import pickle
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from torch import Tensor

from rdframe.atomic import atomic_write
from rdframe.build import build_data, build_system, gigabytes
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
from rdframe.evaluation.gallery import PICTURES
from rdframe.memory import iwae_rows
from rdframe.model import RDModel
from rdframe.objectives import Objective
from rdframe.pictures import has_images, picture_counts, write_pictures
from rdframe.results import RESULTS_FILE
from rdframe.seeding import derive_seed
from rdframe.system import RDSystem, check_target

CHECKPOINT = Path("checkpoints") / "last.ckpt"
CHECKPOINTS = {"last": CHECKPOINT, "best": Path("checkpoints") / "best.ckpt"}
SPLITS = ("train", "val", "test")
BLOCK = 100  # examples per seeded block of the IWAE bound
Metrics = dict[str, Any]
log = logging.getLogger(__name__)  # `rdframe evaluate` shows its INFO lines on stderr


def evaluate_run(
    run_dir: Path | str,
    samples: int | None = None,
    split: str = "test",
    weights: str = "last",
    repeats: int = 1,
    device: str | None = None,
    memory_gb: float | None = None,
    processes: int = 1,
) -> Metrics:
    """Metrics of the run in ``run_dir`` on ``split``, merged into its rd.json and returned.

    ``samples`` is k of the importance-weighted NLL (default: the run's ``iwae_samples``);
    ``weights`` the checkpoint scored: ``last`` or ``best`` (on validation). With ``repeats``
    > 1 the NLL estimator runs that many times with seeds seed, seed + 1, …: ``iwae_nll`` is
    their mean, ``iwae_nll_sd`` their standard deviation (n − 1), ``iwae_nll_repeats`` each.
    Seeded by the run's seed, so a second evaluation gives the same numbers.

    ``device`` (default: cuda when present, else cpu) runs it; an IWAE pass takes at most
    ``memory_gb`` (default: :func:`rdframe.memory.default_budget`); ``processes`` > 1 spreads
    the IWAE bound's blocks of examples over that many processes (one per GPU, ``cuda:0`` …,
    on a CUDA device). None of the three changes the numbers: every block of BLOCK examples
    draws from its own seed (:func:`block_nll`).

    An evaluation that is killed resumes: each finished block is kept in run_dir/evaluation/
    (:func:`block_store`), and the same command scores only the blocks left, to the same
    numbers. The folder is removed once rd.json has the result.
    """
    run_dir = Path(run_dir)
    if weights not in CHECKPOINTS or repeats < 1 or processes < 1:
        raise RDFrameError(f"weights must be last or best, repeats and processes >= 1, got "
                           f"{weights!r}, {repeats} and {processes}; e.g. --weights best "
                           f"--repeats 5")
    record = read_record(run_dir)
    where = choose_device(device)
    cfg = OmegaConf.create(record["config"])
    data, system = build_data(cfg), build_system(cfg)
    load_weights(system, run_dir / CHECKPOINTS[weights])
    system.to(where)
    x, y = (t.to(where) for t in split_tensors(data, split))
    seed, k = cfg.get("seed", 0), samples or cfg.iwae_samples
    store = block_store(run_dir, run_dir / CHECKPOINTS[weights], split, k, len(x), where.type)
    nll = NLLPlan(run_dir, weights, split, k, gigabytes(memory_gb), processes, where, store)
    with torch.random.fork_rng(devices=[where] if where.type == "cuda" else []):
        torch.manual_seed(seed)
        metrics = evaluate_model(system.model, system.objective, x, y, k, data.entropy,
                                 seeds=[seed + r for r in range(repeats)], nll=nll)
    write_metrics(run_dir, record, split, metrics | {"weights": weights})
    shutil.rmtree(store, ignore_errors=True)  # a resume aid, not a cache: code may change
    with contextlib.suppress(OSError):
        store.parent.rmdir()  # when no other evaluation is under way
    return metrics | {"weights": weights}


def draw_pictures(run_dir: Path | str, weights: str | None = None,
                  device: str | None = None) -> Path:
    """The pictures of the run in ``run_dir`` drawn again from a checkpoint as ``rdframe
    train`` draws them once tested: its ``pictures`` counts (drawn even where ``enabled`` is
    false), its seed, its ``test_weights`` unless ``weights`` says last or best. They
    replace run_dir/pictures, which is returned; rd.json is left as it is."""
    run_dir = Path(run_dir)
    record = read_record(run_dir)
    cfg = OmegaConf.create(record["config"])
    weights = weights or cfg.get("test_weights", "last")
    if weights not in CHECKPOINTS:
        raise RDFrameError(f"weights must be last or best, got {weights!r}; e.g. --weights last")
    data, system = build_data(cfg), build_system(cfg)
    if not has_images(system.model):
        raise RDFrameError(f"{run_dir} has no pictures to draw: its decoder scores the label y "
                           f"(an information bottleneck), not x")
    load_weights(system, run_dir / CHECKPOINTS[weights])
    system.to(choose_device(device))
    data.setup("test")
    write_pictures(system.model, data.test_set, run_dir, cfg.get("seed", 0),
                   **picture_counts(cfg.get("pictures")))
    return run_dir / PICTURES


def choose_device(name: str | None) -> torch.device:
    """The device to evaluate on: ``name``, else cuda when present, else cpu; an RDFrameError
    for a device this machine lacks."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise RDFrameError(f"--device {name!r} is no device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RDFrameError(f"--device {name}: this machine has no CUDA device; use cpu")
    return device


@dataclass(frozen=True)
class NLLPlan:
    """Where and how the IWAE bound of :func:`evaluate_run` is computed."""

    run_dir: Path
    weights: str
    split: str
    samples: int
    memory: int | None  # bytes a pass may take; None: the device's default
    processes: int
    device: torch.device
    store: Path | None = None  # where finished blocks are kept (:func:`block_store`)


@torch.no_grad()
def block_nll(model: RDModel, x: Tensor, samples: int, seed: int, memory: int | None,
              blocks: Iterable[int], keep: BlockWriter | None = None) -> dict[int, Tensor]:
    """−(IWAE bound) of every example of each block j of ``x`` (examples j·BLOCK …), each
    block drawing from a generator seeded by (seed, j): the same numbers whatever process
    scores the block, whatever rows a pass holds, and whether or not the evaluation was
    interrupted in between. ``keep`` stores each block as it is finished."""
    rows = iwae_rows(model, x, memory)
    out = {}
    for j in blocks:
        torch.manual_seed(derive_seed(seed, j))
        out[j] = -iwae_log_likelihood(model, x[j * BLOCK : (j + 1) * BLOCK], samples, rows).cpu()
        if keep is not None:
            keep(j, out[j])
    return out


def block_store(run_dir: Path, checkpoint: Path, split: str, samples: int, examples: int,
                device: str = "cpu") -> Path:
    """The folder where an evaluation of ``checkpoint`` on ``split`` with k = ``samples``
    keeps its finished blocks, so that the same command, after a kill, goes on from them:
    run_dir/evaluation/{split}-k{samples}-n{examples}-{device}-{digest of the checkpoint's
    bytes}. A checkpoint that changed (training went on) gets another folder, so nothing stale
    is read; so does another kind of device, whose random draws differ."""
    digest = hashlib.sha256()
    with checkpoint.open("rb") as stream:
        while chunk := stream.read(1 << 22):
            digest.update(chunk)
    name = f"{split}-k{samples}-n{examples}-{device}-{digest.hexdigest()[:16]}"
    return run_dir / "evaluation" / name


def stored_blocks(store: Path | None, seed: int) -> dict[int, Tensor]:
    """The blocks of the estimate with ``seed`` that earlier launches finished in ``store``
    (each launch's process writes its own file, seed{seed}-…pt; they are merged here)."""
    blocks: dict[int, Tensor] = {}
    if store is not None:
        for path in sorted(store.glob(f"seed{seed}-*.pt")):
            try:
                blocks |= torch.load(path, weights_only=True)
            except (OSError, RuntimeError, pickle.UnpicklingError) as error:
                log.warning("rdframe: %s unreadable (%s); its blocks are scored again", path,
                            error)
    return blocks


class BlockWriter:
    """Keeps the blocks one process finishes for one seed, rewriting its own file (whole, by
    :func:`rdframe.atomic.atomic_write`) after each: a kill loses at most the block under way."""

    def __init__(self, store: Path, seed: int, rank: int = 0) -> None:
        self.path = store / f"seed{seed}-{os.getpid()}-{time.time_ns()}-{rank}.pt"
        self.blocks: dict[int, Tensor] = {}

    def __call__(self, block: int, values: Tensor) -> None:
        self.blocks[block] = values
        buffer = io.BytesIO()
        torch.save(self.blocks, buffer)
        atomic_write(self.path, buffer.getvalue())


def _score_blocks(plan: NLLPlan, seed: int, rank: int, blocks: list[int]) -> dict[int, Tensor]:
    """One process of a spread evaluation: rebuild the run, score ``blocks``, keeping each in
    ``plan.store``."""
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // plan.processes))
    device = plan.device
    if device.type == "cuda":
        device = torch.device("cuda", rank % torch.cuda.device_count())
    record = read_record(plan.run_dir)
    cfg = OmegaConf.create(record["config"])
    data, system = build_data(cfg), build_system(cfg)
    load_weights(system, plan.run_dir / CHECKPOINTS[plan.weights])
    system.to(device).eval()
    x = split_tensors(data, plan.split)[0].to(device)
    keep = None if plan.store is None else BlockWriter(plan.store, seed, rank)
    return block_nll(system.model, x, plan.samples, seed, plan.memory, blocks, keep)


def block_count(examples: int) -> int:
    """How many blocks of BLOCK examples (the last one shorter) ``examples`` make."""
    return math.ceil(examples / BLOCK)


def joined(parts: Iterable[dict[int, Tensor]]) -> Tensor:
    """The per-example values of the blocks of ``parts`` (block → values), in block order."""
    blocks = {j: values for part in parts for j, values in part.items()}
    return torch.cat([blocks[j] for j in sorted(blocks)])


def spread_nll(plan: NLLPlan, seed: int, blocks: list[int]) -> dict[int, Tensor]:
    """−(IWAE bound) of the examples of ``blocks``, scored by ``plan.processes`` processes."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(plan.processes) as pool:
        parts = pool.starmap(_score_blocks, [(plan, seed, r, blocks[r :: plan.processes])
                                             for r in range(plan.processes)])
    return {j: values for part in parts for j, values in part.items()}


@torch.no_grad()
def repeated_nll(
    model: RDModel,
    x: Tensor,
    samples: int,
    seeds: list[int] | None = None,
    nll: NLLPlan | None = None,
) -> Metrics:
    """The IWAE NLL in nats per example, and in bits per dimension where d(x|z) is discrete
    (else ``iwae_bpd`` is None: see :func:`discrete_likelihood`). The estimator runs once per
    seed of ``seeds`` (default [0]), by blocks (:func:`block_nll`), spread over processes as
    ``nll`` says: ``iwae_nll`` is the mean, and with several seeds ``iwae_nll_sd`` the
    standard deviation (n − 1) and ``iwae_nll_repeats`` each value."""
    model.eval()
    values, seeds = [], seeds or [0]
    store = None if nll is None else nll.store
    for seed in seeds:
        start = time.perf_counter()
        done = stored_blocks(store, seed)
        todo = [j for j in range(block_count(len(x))) if j not in done]
        if todo and nll is not None and nll.processes > 1:
            done |= spread_nll(nll, seed, todo)
        elif todo:
            memory = None if nll is None else nll.memory
            keep = None if store is None else BlockWriter(store, seed)
            done |= block_nll(model, x, samples, seed, memory, todo, keep)
        values.append(joined([done]).double().mean().item())
        log.info("rdframe: IWAE NLL (k=%d), estimate %d of %d: %.3f nats in %.0f s%s",
                 samples, len(values), len(seeds), values[-1], time.perf_counter() - start,
                 _resumed(block_count(len(x)) - len(todo), block_count(len(x))))
    nll_mean = sum(values) / len(values)
    discrete = discrete_likelihood(model)  # bits per dimension of a density: null
    metrics = {"iwae_nll": nll_mean,
               "iwae_bpd": bits_per_dim(nll_mean, x[0].numel()) if discrete else None}
    if len(values) > 1:
        sd = torch.tensor(values, dtype=torch.float64).std().item()
        metrics |= {"iwae_nll_sd": sd, "iwae_nll_repeats": values}
    return metrics


def _resumed(stored: int, blocks: int) -> str:
    return f" ({stored} of {blocks} blocks kept from an earlier launch)" if stored else ""


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
    nll: NLLPlan | None = None,
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
    return metrics | _likelihood_metrics(model, x, samples, distortion, entropy, seeds, nll)


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
    nll: NLLPlan | None = None,
) -> Metrics:
    return repeated_nll(model, x, samples, seeds, nll) | {
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
        record["pending"] = [k for k in record.get("pending", []) if metrics.get(k) is None]
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

