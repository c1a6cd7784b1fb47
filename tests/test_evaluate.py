"""``rdframe evaluate``: a trained run's checkpoint → metrics merged into its rd.json."""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conftest import compose_config, rdframe_command, trained_run

from rdframe.cli import main
from rdframe.errors import RDFrameError
from rdframe.estimators import iwae_log_likelihood, predictive_error, rd_terms
from rdframe.evaluate import CHECKPOINT, block_store, draw_pictures, evaluate_run
from rdframe.results import RunResult
from rdframe.train import run

# A β-VAE with a real code: R ≈ 6 nats over 4 active units, against H ≈ 6.6 nats of data, so
# a wrong rate or distortion breaks the bounds and the comparisons below (a collapsed model,
# R ≈ 0, satisfies every bound whatever its numbers).
SYNTHETIC = ["data=synthetic", "data.shape=[1,4,4]", "data.train_size=2000",
             "data.val_size=100", "data.test_size=200", "latent_dim=4", "objective.beta=0.1",
             "optimizer.lr=3e-3", "trainer.max_epochs=8"]
QUICK = ["iwae_samples=20", "logger=none", "trainer.enable_progress_bar=false"]


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _train(folder: Path, overrides: list[str]) -> Path:
    run(compose_config([*overrides, *QUICK], folder))
    assert (folder / CHECKPOINT).is_file()
    return folder


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory, one_thread) -> Path:
    """A β-VAE (β = 0.1) trained for 8 epochs on a binary source of known entropy."""
    return _train(tmp_path_factory.mktemp("vae"), SYNTHETIC)


@pytest.fixture(scope="module")
def ib_run(tmp_path_factory, one_thread) -> Path:
    """A bottleneck (β = 1e-3) trained for 10 epochs on the digits: error below 10 %."""
    overrides = ["objective=ib", "trainer.max_epochs=10", "optimizer.lr=3e-3"]
    return _train(tmp_path_factory.mktemp("ib"), overrides)


def monte_carlo_error(draws: list[float]) -> float:
    """Standard deviation of one draw of an estimate, from independent repeats of it."""
    return torch.tensor(draws, dtype=torch.float64).std().item()


def spread(run_dir: Path, k: int, repeats: int = 30) -> dict[str, float]:
    """The Monte-Carlo standard deviation of each test-split metric (one evaluation's
    sampling error), from ``repeats`` evaluations of the run's weights."""
    model, x, y, _ = trained_run(run_dir)
    labels = y if model.decoder.target == "y" else None
    torch.manual_seed(1)
    rates, distortions, nlls, errors = [], [], [], []
    for _ in range(repeats):
        terms = rd_terms(model, x, labels)
        rates.append(terms.rate.mean().item())
        distortions.append(terms.distortion.mean().item())
        if labels is None:
            nlls.append(-iwae_log_likelihood(model, x, k).mean().item())
        else:
            errors.append(predictive_error(model, x, y))
    elbos = [-(r + d) for r, d in zip(rates, distortions)]
    draws = {"rate": rates, "distortion": distortions, "elbo": elbos, "iwae_nll": nlls,
             "error": errors}
    return {key: monte_carlo_error(values) for key, values in draws.items() if values}


@pytest.fixture
def run_copy(vae_run, tmp_path) -> Path:
    return Path(shutil.copytree(vae_run, tmp_path / "run"))


def test_evaluate_merges_the_metrics_into_rd_json(run_copy):
    before = json.loads((run_copy / "rd.json").read_text())
    metrics = evaluate_run(run_copy, samples=50)
    record = json.loads((run_copy / "rd.json").read_text())
    assert record["evaluation"]["test"] == metrics
    assert {k: record[k] for k in metrics} == metrics  # the test split is also the top level
    assert record["config"] == before["config"] and record["seed"] == before["seed"]
    result = RunResult.read(run_copy / "rd.json")  # still a valid results file
    assert result.iwae_samples == 50 and result.active_units == metrics["active_units"]
    assert result.entropy == pytest.approx(before["entropy"]) and result.entropy > 0


def test_evaluated_metrics_obey_the_bounds(run_copy):
    m = evaluate_run(run_copy, samples=50)
    error = spread(run_copy, k=50, repeats=20)
    assert m["ixz_upper"] == m["rate"] and m["elbo"] == pytest.approx(-m["rate"] - m["distortion"])
    assert m["ixz_lower"] == pytest.approx(json.loads((run_copy / "rd.json").read_text())
                                           ["entropy"] - m["distortion"])
    assert m["ixz_lower"] <= m["ixz_upper"] + 0.1  # H − D ≤ I(X;Z) ≤ R, within MC error
    assert m["ixz_aggregate"] <= math.log(200) and m["ixz_aggregate"] <= m["rate"] + 0.1
    assert m["iwae_nll"] <= m["rate"] + m["distortion"] + 0.05  # IWAE ≥ ELBO
    assert m["iwae_bpd"] == pytest.approx(m["iwae_nll"] / (16 * math.log(2)))
    assert 3 <= m["active_units"] <= 4 and len(m["kl_per_dim"]) == 4
    assert m["rate"] > 3 and m["ixz_lower"] > 1  # a real code: the bounds have content
    assert min(m["kl_per_dim"]) >= 0
    # analytic KL per unit against the Monte-Carlo rate, within 4 standard errors
    assert sum(m["kl_per_dim"]) == pytest.approx(m["rate"], abs=max(0.15, 4 * error["rate"]))


def test_evaluate_reproduces_the_training_runs_test_numbers(run_copy):
    """rd.json's test numbers from training (Lightning's test loop, batch by batch) and from
    ``rdframe evaluate`` (the checkpoint, all at once) are two independent Monte-Carlo
    estimates of the same quantities of the same weights: they differ by sampling error only."""
    trained = json.loads((run_copy / "rd.json").read_text())
    evaluated = evaluate_run(run_copy, samples=trained["iwae_samples"])
    error = spread(run_copy, k=trained["iwae_samples"])
    for key in ("rate", "distortion", "elbo", "iwae_nll"):
        tolerance = 4 * math.sqrt(2) * error[key]  # two independent estimates, 4 σ
        assert evaluated[key] == pytest.approx(trained[key], abs=tolerance), key
    assert 0.02 < error["rate"] < 0.3  # the tolerance is a fraction of a nat, not of R


def test_evaluate_gives_the_same_nll_whatever_the_memory_budget_and_processes(run_copy):
    """A budget of a few kB forces passes of a few rows where the default takes all k = 50
    samples of many examples at once; two processes score alternate blocks of examples.
    Every block draws from its own seed: the same IWAE NLL, to rounding."""
    from omegaconf import OmegaConf

    from rdframe.build import build_system
    from rdframe.memory import iwae_rows

    small, budget = 2e-5, evaluate_run(run_copy, samples=50)["iwae_nll"]
    config = json.loads((run_copy / "rd.json").read_text())["config"]
    system, x = build_system(OmegaConf.create(config)), torch.zeros(1, *config["data_shape"])
    assert iwae_rows(system.model, x, int(small * 2**30)) < 50 < iwae_rows(system.model, x)
    tight = evaluate_run(run_copy, samples=50, memory_gb=small)["iwae_nll"]
    spread_over_two = evaluate_run(run_copy, samples=50, processes=2)["iwae_nll"]
    assert tight == pytest.approx(budget, rel=1e-6, abs=1e-6)
    assert spread_over_two == pytest.approx(budget, rel=1e-6, abs=1e-6)
    assert evaluate_run(run_copy, samples=50, repeats=2)["iwae_nll_repeats"][1] != budget


def test_a_killed_evaluation_resumes_to_the_same_numbers(run_copy, tmp_path, caplog):
    """``rdframe evaluate`` killed outright (SIGKILL) after its first block of examples, then
    run again: the second launch takes the kept block, scores the rest, and rd.json gets the
    numbers of an evaluation that was never interrupted. The kept blocks go once it has."""
    whole = evaluate_run(Path(shutil.copytree(run_copy, tmp_path / "twin")), samples=5000,
                         repeats=2)
    command = [*rdframe_command(), "evaluate", str(run_copy), "--samples", "5000",
               "--repeats", "2"]
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not list((run_copy / "evaluation").glob("*/seed*.pt")):
        assert process.poll() is None and time.monotonic() < deadline, "no block was kept"
        time.sleep(0.02)
    process.kill()
    process.wait()
    assert json.loads((run_copy / "rd.json").read_text())["iwae_samples"] == 20  # untouched
    with caplog.at_level(logging.INFO, logger="rdframe.evaluate"):
        resumed = evaluate_run(run_copy, samples=5000, repeats=2)
    assert "estimate 1 of 2" in caplog.text and "1 of 2 blocks kept from an earlier launch" in (
        caplog.text)
    assert resumed["iwae_nll_repeats"] == pytest.approx(whole["iwae_nll_repeats"], rel=1e-9)
    assert not (run_copy / "evaluation").exists()


def test_kept_blocks_belong_to_one_checkpoint_split_and_k(run_copy):
    """Blocks kept for one evaluation are never read by another: the folder is named by the
    split, k, the number of examples, the kind of device and the checkpoint's bytes (training
    that went on)."""
    checkpoint = run_copy / CHECKPOINT
    store = block_store(run_copy, checkpoint, "test", 50, 200)
    assert store == block_store(run_copy, checkpoint, "test", 50, 200)
    others = {block_store(run_copy, checkpoint, "val", 50, 200),
              block_store(run_copy, checkpoint, "test", 51, 200),
              block_store(run_copy, checkpoint, "test", 50, 100),
              block_store(run_copy, checkpoint, "test", 50, 200, "cuda")}
    state = torch.load(checkpoint, weights_only=False)
    state["state_dict"] = {k: v + 1e-3 for k, v in state["state_dict"].items()}
    torch.save(state, checkpoint)
    others.add(block_store(run_copy, checkpoint, "test", 50, 200))
    assert store not in others and len(others) == 5


def test_evaluation_is_reproducible_and_other_splits_stay_apart(run_copy):
    first = evaluate_run(run_copy, samples=10)
    assert evaluate_run(run_copy, samples=10) == first  # seeded by the run's seed
    val = evaluate_run(run_copy, samples=10, split="val")
    record = json.loads((run_copy / "rd.json").read_text())
    assert set(record["evaluation"]) == {"test", "val"} and record["evaluation"]["val"] == val
    assert record["iwae_nll"] == first["iwae_nll"] != val["iwae_nll"]


def test_evaluate_command(run_copy, capsys):
    main(["evaluate", str(run_copy), "--samples", "5"])
    out = capsys.readouterr().out
    assert out.startswith(f"rdframe: test of {run_copy}: R=") and "(k=5)" in out
    assert json.loads((run_copy / "rd.json").read_text())["iwae_samples"] == 5


def test_evaluate_command_reports_each_estimate_as_it_finishes(run_copy, capsys):
    """An evaluation at k = 5000 runs for an hour on a CPU: each repeat of the estimator is
    shown on stderr when it ends, with the value that rd.json then records."""
    main(["evaluate", str(run_copy), "--samples", "5", "--repeats", "3"])
    lines = capsys.readouterr().err.splitlines()
    repeats = json.loads((run_copy / "rd.json").read_text())["iwae_nll_repeats"]
    assert len(lines) == 3 and len(repeats) == 3
    for i, (line, value) in enumerate(zip(lines, repeats, strict=True), start=1):
        assert line.startswith(f"rdframe: IWAE NLL (k=5), estimate {i} of 3: {value:.3f} nats")


def test_missing_checkpoint_is_one_clear_error(run_copy, capsys):
    (run_copy / CHECKPOINT).unlink()
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", str(run_copy)])
    assert stop.value.code == 2
    assert re.match(r"rdframe: error: no checkpoint at .*last\.ckpt", capsys.readouterr().err)


def test_corrupt_checkpoint_is_one_clear_error(run_copy, capsys):
    checkpoint = run_copy / CHECKPOINT
    checkpoint.write_bytes(checkpoint.read_bytes()[:5000])  # a copy cut short
    with pytest.raises(RDFrameError, match=r"last\.ckpt is corrupt or truncated \("):
        evaluate_run(run_copy)
    checkpoint.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as stop:
        main(["evaluate", str(run_copy)])
    assert stop.value.code == 2
    error = capsys.readouterr().err
    assert re.match(r"rdframe: error: .*last\.ckpt is corrupt or truncated", error)
    torch.save({"weights": torch.zeros(1)}, run_copy / CHECKPOINT)  # readable, no state_dict
    with pytest.raises(RDFrameError, match=r"not a Lightning checkpoint \(it lacks state_dict"):
        evaluate_run(run_copy)
    torch.save({"state_dict": {"model.nothing": torch.zeros(1)}}, run_copy / CHECKPOINT)
    with pytest.raises(RDFrameError, match="does not fit the model this config builds"):
        evaluate_run(run_copy)


def test_missing_results_and_unknown_split(run_copy, tmp_path):
    with pytest.raises(RDFrameError, match="rd.json does not exist: give a run folder"):
        evaluate_run(tmp_path / "nowhere")
    with pytest.raises(RDFrameError, match="unknown split 'bogus'; use one of train, val, test"):
        evaluate_run(run_copy, split="bogus")


def test_evaluate_a_bottleneck_run(ib_run):
    trained = json.loads((ib_run / "rd.json").read_text())
    metrics = evaluate_run(ib_run, samples=5)
    assert "iwae_nll" not in metrics and 0 <= metrics["error"] < 0.9
    assert metrics["label_entropy"] == pytest.approx(math.log(10), abs=0.05)
    assert metrics["izy_lower"] == pytest.approx(metrics["label_entropy"] - metrics["distortion"])
    assert metrics["izy_lower"] <= metrics["ixz_upper"] + 0.1  # H(Y) − D_y ≤ I(Z;Y) ≤ R
    assert RunResult.read(ib_run / "rd.json").error == metrics["error"]
    assert metrics["izy_lower"] > 1 and metrics["error"] < 0.3  # it learned the labels
    error = spread(ib_run, k=0, repeats=20)  # the training run's test numbers, within MC error
    for key in ("rate", "distortion", "error"):
        tolerance = 4 * math.sqrt(2) * error[key] + (1 / 300 if key == "error" else 0)
        assert metrics[key] == pytest.approx(trained[key], abs=tolerance), key
    assert metrics["elbo"] is None and trained["elbo"] is None  # −(D_y + R) is no ELBO
    with pytest.raises(RDFrameError, match="no pictures to draw: its decoder scores the label"):
        draw_pictures(ib_run)


@pytest.mark.parametrize(("decoder", "discrete"),
                         [("mlp", True), ("logistic", True), ("gaussian", False)])
def test_bits_per_dimension_only_for_a_discrete_likelihood(tmp_path, decoder, discrete):
    """iwae_bpd = NLL / (D ln 2) is a code length for Bernoulli pixels and the discretised
    logistic; a Gaussian's NLL is a density (it can be negative), so its iwae_bpd is None,
    in training's rd.json and from ``rdframe evaluate`` alike (issue 9)."""
    grey = "false" if decoder != "mlp" else "true"
    folder = _train(tmp_path, [f"decoder={decoder}", f"data.binarize={grey}", "latent_dim=2",
                               "trainer.max_epochs=1", "trainer.limit_train_batches=2"])
    trained = json.loads((folder / "rd.json").read_text())
    evaluated = evaluate_run(folder, samples=5)
    for record in (trained, evaluated):
        bits = record["iwae_nll"] / (64 * math.log(2))
        assert record["iwae_bpd"] == (pytest.approx(bits, rel=1e-5) if discrete else None)
