"""Configs build objects: the data module first, then the components that depend on its shape."""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import partial

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from torch import Tensor
from torch.utils.data import DataLoader

from rdframe.data.base import RDDataModule
from rdframe.errors import ConfigError
from rdframe.model import RDModel
from rdframe.objectives import Objective
from rdframe.system import RDSystem


def build_data(cfg: DictConfig) -> RDDataModule:
    """Instantiate ``cfg.data`` and record in ``cfg`` for the rest its shape and class count,
    and, where the config refers to them (the VampPrior's bounds and starting point), the
    range and mean of its training values; else those two stay null."""
    data = instantiate(cfg.data)
    statistics = data_statistics(data) if uses_data_statistics(cfg) else (None, None, None)
    with open_dict(cfg):
        cfg.data_shape = list(data.shape)
        cfg.num_classes = data.num_classes
        cfg.data_range = None if statistics[0] is None else list(statistics[:2])
        cfg.data_mean = statistics[2]
    return data


def uses_data_statistics(cfg: DictConfig) -> bool:
    """Whether any value of ``cfg`` interpolates ``data_range`` or ``data_mean``.

    >>> from omegaconf import OmegaConf
    >>> uses_data_statistics(OmegaConf.create({"m": {"bounds": "${data_range}"}}))
    True
    """
    text = OmegaConf.to_yaml(cfg)
    return "${data_range}" in text or "${data_mean}" in text


def data_statistics(data: RDDataModule) -> tuple[float, float, float]:
    """(min, max, mean) over every value of x in the training split, in float64. Reading it
    leaves the random streams alone: the global one (a loader draws its seed from it) and
    the training set's own (dynamic binarisation), which is put back where it was."""
    data.setup("fit")
    stream = getattr(data.train_set, "state_dict", None)
    saved = stream() if stream else None
    low, high, total, count = math.inf, -math.inf, 0.0, 0
    with torch.random.fork_rng():
        for x in _training_inputs(data):
            x = x.double()
            low, high = min(low, x.min().item()), max(high, x.max().item())
            total, count = total + x.sum().item(), count + x.numel()
    if saved is not None:
        data.train_set.load_state_dict(saved)
    return low, high, total / count


def _training_inputs(data: RDDataModule) -> Iterator[Tensor]:
    """The training x: at once from a TensorDataset, else in batches of 1,000."""
    tensors = getattr(data.train_set, "tensors", None)
    if tensors is not None:
        yield tensors[0]
        return
    for x, _ in DataLoader(data.train_set, batch_size=1000):
        yield x


def build_model(cfg: DictConfig) -> RDModel:
    """Encoder, decoder and marginal from their groups; a partial marginal gets the encoder."""
    encoder = instantiate(cfg.encoder)
    marginal = instantiate(cfg.marginal)
    if isinstance(marginal, partial):  # e.g. the VampPrior, which reuses the encoder
        marginal = marginal(encoder=encoder)
    return RDModel(encoder, instantiate(cfg.decoder), marginal, analytic_rate=cfg.analytic_rate)


def build_system(cfg: DictConfig) -> RDSystem:
    objective: Objective = instantiate(cfg.objective)
    if objective.target == "y" and not cfg.num_classes:
        raise ConfigError(
            f"objective {type(objective).__name__} scores labels, but this data set has none "
            "(num_classes = 0); choose a labelled set such as data=digits or data=mnist"
        )
    optimizer = instantiate(cfg.optimizer)
    schedule = cfg.get("scheduler")
    lr_scheduler = instantiate(schedule, _convert_="all") if schedule else None
    return RDSystem(
        build_model(cfg),
        objective,
        optimizer,
        iwae_samples=cfg.iwae_samples,
        seed=cfg.seed,
        skip_nonfinite=cfg.get("skip_nonfinite", False),
        lr_scheduler=lr_scheduler,
        iwae_memory=gigabytes(cfg.get("iwae_memory_gb")),
    )


def gigabytes(value: float | None) -> int | None:
    """A size in GB (2**30 bytes) from the config, in bytes; None stays None."""
    return None if value is None else int(value * 2**30)
