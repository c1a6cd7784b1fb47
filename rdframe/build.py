"""Configs build objects: the data module first, then the components that depend on its shape."""

from __future__ import annotations

from functools import partial

from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from rdframe.data.base import RDDataModule
from rdframe.errors import ConfigError
from rdframe.model import RDModel
from rdframe.objectives import Objective
from rdframe.system import RDSystem


def build_data(cfg: DictConfig) -> RDDataModule:
    """Instantiate ``cfg.data`` and record its shape and class count in ``cfg`` for the rest."""
    data = instantiate(cfg.data)
    with open_dict(cfg):
        cfg.data_shape = list(data.shape)
        cfg.num_classes = data.num_classes
    return data


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
    )
