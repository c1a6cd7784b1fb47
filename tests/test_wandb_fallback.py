"""W&B that cannot be reached does not stop a run: it logs offline and says so once.

For real, without mocks: W&B online, with an API key of the right form, pointed at a closed
port on the loopback address, where every connection is refused.
"""

from __future__ import annotations

import json

from conftest import rdframe

from rdframe.loggers import reason

UNREACHABLE = {
    "WANDB_MODE": "online",
    "WANDB_API_KEY": "0123456789abcdef" * 2 + "01234567",  # 40 characters, not a real key
    "WANDB_BASE_URL": "http://127.0.0.1:9",  # the discard port, closed here
}


def test_unreachable_wandb_trains_offline_and_says_so_once(tmp_path):
    env = {**UNREACHABLE, "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
           "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"), "WANDB_DATA_DIR": str(tmp_path)}
    done = rdframe("train", "logger=wandb", "logger.init_timeout=2", "trainer.max_epochs=1",
                   "iwae_samples=8", "latent_dim=4", "hydra.run.dir=run", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "rd.json").read_text())["epochs"] == 1
    notices = [line for line in done.stderr.splitlines() if line.startswith("rdframe: W&B")]
    assert len(notices) == 1, done.stderr
    (offline,) = (tmp_path / "run" / "wandb").glob("offline-run-*")
    assert notices[0].startswith("rdframe: W&B unavailable (")
    assert notices[0].endswith(f"); logging offline to {offline} (sync later with `wandb sync`)")
    assert list(offline.glob("*.wandb"))  # the run's log, to sync later


def test_the_reason_is_the_first_line_of_the_error():
    assert reason(ConnectionError("refused\nretry with a longer timeout")) == "refused"
    assert reason(TimeoutError()) == "TimeoutError"
