"""The reproduction presets: the architecture of the reference, counted parameter by
parameter, and one optimisation step through the whole run."""

from __future__ import annotations

import pytest
from conftest import SHARED_DATA, compose_config

from rdframe.build import build_data, build_system
from rdframe.train import run

ONE_STEP = ["trainer.max_steps=1", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
            "iwae_samples=2", "logger=none"]


def dense(inputs: int, outputs: int) -> int:
    """Weights and biases of one fully connected layer."""
    return inputs * outputs + outputs


REFERENCE_PARAMETERS = {
    # 784-400-(40 means, 40 scales) encoder; 40-400-784 Bernoulli decoder: 676,864
    "repro_vae": dense(784, 400) + dense(400, 80) + dense(40, 400) + dense(400, 784),
    # 784-1024-1024-(256 means, 256 scales) encoder; 256-10 softmax classifier: 2,380,810
    "repro_vib": dense(784, 1024) + dense(1024, 1024) + dense(1024, 512) + dense(256, 10),
    # Tomczak & Welling: gated layers (two dense layers each) 784-300-300, then (40 means,
    # 40 log-variances); gated 40-300-300, then 300-784 Bernoulli logits: 1,116,864
    "repro_vampprior_standard": 2 * dense(784, 300) + 2 * dense(300, 300) + dense(300, 80)
    + 2 * dense(40, 300) + 2 * dense(300, 300) + dense(300, 784),
}
# ... plus K = 500 pseudo-inputs of 784 pixels, a linear map of one-hot inputs without bias:
# 1,508,864
REFERENCE_PARAMETERS["repro_vampprior"] = REFERENCE_PARAMETERS["repro_vampprior_standard"] + (
    500 * 784
)
DATA = {"repro_vae": "BinarizedMNIST", "repro_vib": "MNIST", "repro_vampprior": "BinarizedMNIST",
        "repro_vampprior_standard": "BinarizedMNIST"}


@pytest.fixture(autouse=True)
def _shared_data():
    if not all((SHARED_DATA / folder).is_dir() for folder in DATA.values()):
        pytest.skip("MNIST and static binarised MNIST are not on this machine")


@pytest.mark.parametrize("preset", sorted(REFERENCE_PARAMETERS))
def test_parameter_count_is_the_reference_one(make_config, preset):
    cfg = make_config(f"experiment={preset}")
    build_data(cfg)
    system = build_system(cfg)
    assert sum(p.numel() for p in system.parameters()) == REFERENCE_PARAMETERS[preset]


@pytest.mark.parametrize("preset", sorted(REFERENCE_PARAMETERS))
def test_preset_runs_one_step(tmp_path, preset):
    result = run(compose_config([f"experiment={preset}", *ONE_STEP], tmp_path))
    assert result.steps == 1
    assert result.config["data"]["_target_"].endswith(f".{DATA[preset]}DataModule")
