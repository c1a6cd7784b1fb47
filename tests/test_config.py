"""Every option of every config group composes and instantiates; every experiment too."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl
from conftest import options
from hydra.utils import instantiate

from rdframe.build import build_data, build_system
from rdframe.data.base import RDDataModule
from rdframe.system import RDSystem

MODEL_GROUPS = ("encoder", "decoder", "marginal", "objective", "optimizer")
NEEDS_GPU = {"gpu", "ddp"}


@pytest.mark.parametrize(
    ("group", "option"), [(g, o) for g in MODEL_GROUPS for o in options(g)]
)
def test_model_options_instantiate(make_config, group, option):
    cfg = make_config(f"{group}={option}")
    build_data(cfg)
    assert isinstance(build_system(cfg), RDSystem)


@pytest.mark.parametrize("option", options("data"))
def test_data_options_instantiate(make_config, option):
    data = build_data(make_config(f"data={option}"))
    assert isinstance(data, RDDataModule)
    assert len(data.shape) == 3 and data.name


@pytest.mark.parametrize("option", options("trainer"))
def test_trainer_options(make_config, option):
    cfg = make_config(f"trainer={option}")
    assert cfg.trainer.max_epochs > 0
    if option not in NEEDS_GPU:  # a GPU trainer refuses to start on a machine without one
        assert isinstance(instantiate(cfg.trainer, logger=False), pl.Trainer)


@pytest.mark.parametrize("option", options("logger"))
def test_logger_options(make_config, option):
    cfg = make_config(f"logger={option}")
    if option == "none":
        assert not cfg.logger
    else:
        assert isinstance(instantiate(cfg.logger), pl.loggers.Logger)


@pytest.mark.parametrize("option", options("experiment"))
def test_experiments_compose_and_build(make_config, option):
    cfg = make_config(f"experiment={option}")
    build_data(cfg)
    assert isinstance(build_system(cfg), RDSystem)


def test_unknown_option_is_an_error(make_config):
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="encoder/nope"):
        make_config("encoder=nope")
