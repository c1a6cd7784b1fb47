"""The study presets and the budget knob: every experiment file runs one step; the paper's
grid names its families in the paper's symbols; budget=cpu shrinks a run as it says."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import SHARED_DATA, compose_config, options
from omegaconf import DictConfig, OmegaConf
from test_reproductions import REFERENCE_PARAMETERS

from rdframe.build import build_data, build_system
from rdframe.data import DigitsDataModule
from rdframe.encoders import GatedConvBody, GaussianConvEncoder, IAFEncoder
from rdframe.errors import ConfigError
from rdframe.results import PAPER_SYMBOLS, RESULTS_FILE
from rdframe.train import run

ONE_STEP = ["budget=cpu", "trainer.max_steps=1", "trainer.limit_val_batches=1",
            "trainer.limit_test_batches=1", "iwae_samples=2", "logger=none", "data.batch_size=10",
            "pictures.enabled=false"]
DATA = {"digits": "DigitsDataModule", "binarized_mnist": "BinarizedMNISTDataModule",
        "mnist": "MNISTDataModule"}
OTHER_PRESETS = sorted(set(options("experiment")) - set(REFERENCE_PARAMETERS))  # those run
# one step in test_reproductions


def sweep(cfg: DictConfig, key: str) -> list[str]:
    return str(cfg.hydra.sweeper.params[key]).split(",")


def composed(*overrides: str) -> DictConfig:
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_module("rdframe.conf", version_base="1.3"):
        return compose("config", overrides=[*overrides, "output_dir=."],
                       return_hydra_config=True)


def needs(dataset: str) -> None:
    folder = {"binarized_mnist": "BinarizedMNIST", "mnist": "MNIST"}.get(dataset)
    if folder and not (SHARED_DATA / folder).is_dir():
        pytest.skip(f"{dataset} is not on this machine")


@pytest.mark.parametrize("preset", OTHER_PRESETS)
def test_every_preset_runs_one_step(tmp_path, preset):
    dataset = composed(f"experiment={preset}").hydra.runtime.choices.data
    needs(dataset)
    result = run(compose_config([f"experiment={preset}", *ONE_STEP], tmp_path))
    assert result.steps == 1
    assert result.config["data"]["_target_"].endswith(f".{DATA[dataset]}")


def test_the_grid_names_every_family_in_the_papers_symbols():
    cfg = composed("experiment=broken_elbo")
    grid = list(itertools.product(*(sweep(cfg, g) for g in ("encoder", "decoder", "marginal"))))
    assert len(grid) == 12
    for family in grid:
        assert all(choice in table for table, choice in zip(PAPER_SYMBOLS, family, strict=True))
    assert "1.0" in sweep(cfg, "objective.beta") and len(sweep(cfg, "objective.beta")) > 3


def test_broken_elbo_is_the_papers_setup():
    cfg = composed("experiment=broken_elbo")
    assert cfg.data._target_.endswith("BinarizedMNISTDataModule") and cfg.data.batch_size == 100
    assert cfg.latent_dim == 64 and cfg.optimizer.lr == 3e-4
    schedule = cfg.scheduler.scheduler
    assert schedule._target_.endswith("ConstantThenLinearDecay") and schedule.decay_start == 0.5
    assert schedule.total == cfg.trainer.max_epochs and cfg.scheduler.interval == "epoch"


def test_the_plus_encoder_is_the_conv_body_with_a_flow(make_config):
    models = {}
    for encoder in ("conv", "iaf"):
        cfg = make_config("experiment=broken_elbo", f"encoder={encoder}", "data=digits")
        build_data(cfg)
        models[encoder] = build_system(cfg).model.encoder
    conv, iaf = models["conv"], models["iaf"]
    assert isinstance(conv, GaussianConvEncoder) and isinstance(iaf, IAFEncoder)
    assert isinstance(iaf.body, GatedConvBody) and type(conv.body) is type(iaf.body)
    shapes = {k: v.shape for k, v in conv.body.state_dict().items()}
    assert {k: v.shape for k, v in iaf.body.state_dict().items()} == shapes


def test_budget_cpu_shrinks_the_run_and_full_leaves_it():
    full = composed("experiment=broken_elbo")
    cpu = composed("experiment=broken_elbo", "budget=cpu")
    assert (full.trainer.max_epochs, full.data.train_fraction, full.iwae_samples) == (100, 1, 1000)
    assert (cpu.trainer.max_epochs, cpu.data.train_fraction, cpu.iwae_samples) == (5, 0.1, 10)
    assert (cpu.trainer.limit_val_batches, cpu.trainer.limit_test_batches) == (2, 5)
    assert cpu.pictures.enabled and (cpu.pictures.reconstructions, cpu.pictures.samples) == (1, 8)
    assert OmegaConf.to_container(cpu.scheduler, resolve=True)["scheduler"]["total"] == 5
    override = composed("experiment=broken_elbo", "budget=cpu", "trainer.max_epochs=7")
    assert override.trainer.max_epochs == 7  # the command line has the last word


def test_train_fraction_trains_on_a_fixed_first_part(make_config):
    counts = {}
    for seed in (0, 1):
        data = build_data(make_config("data.train_fraction=0.1", f"seed={seed}"))
        data.setup("fit")
        sampler = data.train_dataloader().sampler
        counts[seed] = sorted(sampler)
        assert len(data.val_dataloader().sampler) == len(data.val_set)  # untouched
    assert counts[0] == counts[1] == list(range(round(0.1 * len(data.train_set))))
    for fraction in (0.0, 1.5):
        with pytest.raises(ConfigError, match="train_fraction"):
            DigitsDataModule(train_fraction=fraction)


def test_target_rate_run_records_sigma(tmp_path):
    overrides = ["objective=target_rate", "objective.sigma=3.5", "trainer.max_steps=2",
                 "iwae_samples=2", "logger=none", "pictures.enabled=false"]
    result = run(compose_config(overrides, tmp_path / "target_rate"))
    record = json.loads((tmp_path / "target_rate" / RESULTS_FILE).read_text())
    assert record["sigma"] == 3.5 == result.sigma and record["objective"]
    beta_vae = run(compose_config(overrides[2:], tmp_path / "beta_vae"))
    assert beta_vae.sigma is None


def test_vib_is_the_reproduction_across_beta():
    vib, repro = composed("experiment=vib"), composed("experiment=repro_vib")
    for key in ("encoder", "decoder", "marginal", "objective", "optimizer", "trainer", "data"):
        assert vib[key] == repro[key], key
    betas = [float(b) for b in sweep(vib, "objective.beta")]
    assert 1e-3 in betas and min(betas) < 1e-3 < max(betas)


def test_target_rate_sweeps_sigma_on_the_broken_elbo_setup():
    cfg = composed("experiment=target_rate")
    assert cfg.objective._target_.endswith("TargetRate")
    assert cfg.decoder._target_.endswith("PixelCNNDecoder") and cfg.latent_dim == 64
    assert "objective.beta" not in cfg.hydra.sweeper.params
    sigmas = [float(s) for s in sweep(cfg, "objective.sigma")]
    assert sigmas == sorted(sigmas) and len(sigmas) >= 4 and sigmas[0] == 0.0
