"""Shared fixtures: offline W&B, the shared data folder, a composed config per test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CONF = REPO / "rdframe" / "conf"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
if SHARED_DATA.is_dir():
    os.environ.setdefault("RDFRAME_DATA_DIR", str(SHARED_DATA))


def rdframe_command() -> list[str]:
    """The installed ``rdframe`` script beside this Python, else ``python -m rdframe``."""
    script = Path(sys.executable).with_name("rdframe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rdframe"]


def rdframe(
    *args: str, cwd: Path, env: dict[str, str | None] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    """``rdframe ARGS…`` run in ``cwd`` as a user runs it, W&B offline unless ``env`` says
    otherwise (an entry of None removes that variable). W&B's pointer to this test process's
    own W&B service (WANDB_SERVICE, set once a test here has logged to W&B) is not passed on:
    a user's shell has none, and a command using a service torn down here would lose its runs."""
    environment = {**os.environ, "WANDB_MODE": "offline", "WANDB_SERVICE": None, **(env or {})}
    environment = {k: v for k, v in environment.items() if v is not None}
    return subprocess.run([*rdframe_command(), *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def options(group: str) -> list[str]:
    """Every option of a config group, from the yaml files shipped in the package."""
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """The real root config with ``overrides``, as ``rdframe train`` would compose it."""
    GlobalHydra.instance().clear()
    with initialize_config_module("rdframe.conf", version_base="1.3"):
        return compose("config", overrides=[*overrides, f"output_dir={output_dir}"])


@pytest.fixture
def make_config(tmp_path: Path):  # noqa: ANN201
    return lambda *overrides: compose_config(list(overrides), tmp_path)


@pytest.fixture(autouse=True)
def _seed_and_one_thread() -> Iterator[None]:
    """Seeded, on one thread: small models run many times faster than on two busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def float64() -> Iterator[None]:
    """Float64 as torch's default dtype for the test, restored afterwards."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


# --- Added for the value tests (issue 13) -----------------------------------------------------

# The data folder every test reads: RDFRAME_DATA_DIR when set (by the user, or above from
# SHARED_DATA), else the shared folder, so that tests and `rdframe` agree on one place.
DATA_DIR = Path(os.environ.get("RDFRAME_DATA_DIR") or SHARED_DATA)


def trained_run(run_dir: Path) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, object]:
    """(model, x, y, data module) of a finished run: the RDModel rebuilt from rd.json's config
    with the weights of checkpoints/last.ckpt, in float64 and eval mode, and every example of
    the test split in loader order. Loaded here with torch.load, independently of
    ``rdframe evaluate``'s own loading."""
    import json

    from omegaconf import OmegaConf

    from rdframe.build import build_data, build_system

    cfg = OmegaConf.create(json.loads((Path(run_dir) / "rd.json").read_text())["config"])
    data, system = build_data(cfg), build_system(cfg)
    checkpoint = torch.load(Path(run_dir) / "checkpoints" / "last.ckpt", map_location="cpu",
                            weights_only=False)
    system.load_state_dict(checkpoint["state_dict"])
    data.setup("test")
    x, y = data.test_set.tensors
    return system.model.double().eval(), x.double(), y, data

# tests/mutation holds `make mutation`'s script and its mutants, not tests of the default run.
collect_ignore = ["mutation"]
