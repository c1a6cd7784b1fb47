"""``rdframe evaluate --weights best --repeats N``: the checkpoint chosen on validation, and the
spread of the importance-weighted estimator over independent repeats."""

from __future__ import annotations

import json
import shutil
import statistics

import pytest
from conftest import compose_config

from rdframe.errors import RDFrameError
from rdframe.evaluate import evaluate_run
from rdframe.train import run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    overrides = ["latent_dim=4", "iwae_samples=8", "trainer.max_epochs=3", "logger=none",
                 "trainer.enable_progress_bar=false", "objective.beta=0.3"]
    run(compose_config(overrides, folder))
    return folder


def test_repeats_give_mean_and_spread_of_the_estimator(trained):
    metrics = evaluate_run(trained, samples=8, repeats=3)
    values = metrics["iwae_nll_repeats"]
    assert len(values) == 3 and len(set(values)) == 3  # independent draws differ
    assert metrics["iwae_nll"] == pytest.approx(statistics.fmean(values))
    assert metrics["iwae_nll_sd"] == pytest.approx(statistics.stdev(values))
    record = json.loads((trained / "rd.json").read_text())
    assert record["iwae_nll_repeats"] == values and record["weights"] == "last"
    assert evaluate_run(trained, samples=8, repeats=3)["iwae_nll_repeats"] == values  # seeded


def test_best_weights_are_those_of_the_best_checkpoint(trained, tmp_path):
    """Put an earlier model's weights in best.ckpt: "best" scores them, "last" does not."""
    earlier = tmp_path / "earlier"
    overrides = ["latent_dim=4", "iwae_samples=8", "trainer.max_epochs=1", "logger=none",
                 "trainer.enable_progress_bar=false", "objective.beta=0.3"]
    run(compose_config(overrides, earlier))
    shutil.copy(earlier / "checkpoints" / "last.ckpt", trained / "checkpoints" / "best.ckpt")
    best, last = (evaluate_run(trained, samples=8, weights=w) for w in ("best", "last"))
    reference = evaluate_run(earlier, samples=8)
    assert best["weights"] == "best" and last["weights"] == "last"
    assert best["rate"] == reference["rate"] and best["iwae_nll"] == reference["iwae_nll"]
    assert last["rate"] != best["rate"]
    with pytest.raises(RDFrameError, match="weights must be last or best"):
        evaluate_run(trained, weights="worst")
