"""A user's own component, declared only in a config folder outside rdframe, trains by _target_."""

from __future__ import annotations

import json
import os
import textwrap

from test_cli import rdframe

PLUGIN = '''
from torch.distributions import Distribution
from rdframe.encoders import GaussianMLPEncoder


class TemperedEncoder(GaussianMLPEncoder):
    """A user's subclass: the posterior's scale multiplied by a fixed temperature."""

    def __init__(self, temperature: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.temperature = temperature

    def forward(self, x) -> Distribution:
        posterior = super().forward(x)
        posterior.base_dist.scale = posterior.base_dist.scale * self.temperature
        return posterior
'''

CONFIG = """
_target_: my_components.TemperedEncoder
input_shape: ${data_shape}
latent_dim: ${latent_dim}
hidden: [64]
temperature: 0.5
"""


def test_user_encoder_plugs_in_from_its_own_config_folder(tmp_path, monkeypatch):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "my_components.py").write_text(textwrap.dedent(PLUGIN))
    (tmp_path / "conf" / "encoder").mkdir(parents=True)
    (tmp_path / "conf" / "encoder" / "tempered.yaml").write_text(CONFIG)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "code") + os.pathsep + os.environ.get(
        "PYTHONPATH", ""))
    done = rdframe("train", "encoder=tempered", f"hydra.searchpath=[file://{tmp_path}/conf]",
                   "trainer.max_epochs=1", "iwae_samples=8", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "run" / "rd.json").read_text())
    assert record["encoder"] == "tempered"
    assert record["config"]["encoder"]["_target_"] == "my_components.TemperedEncoder"
    assert record["distortion"] < 64 * 0.69  # it trained: below the cost of coin flips
