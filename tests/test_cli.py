"""The ``rdframe`` command end to end on the digits: train, sweep, plot, report, bad input."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch
from conftest import rdframe, trained_run
from test_plot_report import check_cells, markdown_cells, runs_drawn

from rdframe.evaluation.plot import rd_plane_figure
from rdframe.results import find_results

QUICK = ["trainer.max_epochs=2", "iwae_samples=16", "latent_dim=4"]


def _check_record(record: dict, steps: int = 2 * 12) -> None:
    """Finite, consistent numbers; ``steps``: 2 epochs of 1,197 images in batches of 100."""
    for key in ("rate", "distortion", "elbo", "iwae_nll"):
        assert math.isfinite(record[key]), key
    assert math.isclose(record["elbo"], -(record["rate"] + record["distortion"]), rel_tol=1e-5)
    assert record["iwae_nll"] <= -record["elbo"] + 0.5  # IWAE tightens the bound (MC slack)
    assert record["rate"] > -0.5 and record["distortion"] > 0
    assert (record["encoder"], record["decoder"], record["marginal"]) == (
        "mlp", "mlp", "standard_normal")
    assert record["dataset"] == "digits" and record["entropy"] is None
    assert record["epochs"] == 2 and record["steps"] == steps
    assert record["config"]["latent_dim"] == 4 and record["iwae_samples"] == 16


def test_train_writes_results_checkpoint_and_logs(tmp_path):
    done = rdframe("train", *QUICK, "objective.beta=0.5", "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "run" / "rd.json").read_text())
    _check_record(record)
    assert record["beta"] == 0.5 and record["objective"] == "beta_vae"
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").stat().st_size > 0
    assert (tmp_path / "run" / "logs" / "metrics.csv").exists()
    assert "rdframe: beta=0.5 mlp/mlp/standard_normal on digits" in done.stdout


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("sweep")
    done = rdframe("sweep", *QUICK, "objective.beta=0.25,1", "hydra.sweep.dir=out", cwd=cwd)
    assert done.returncode == 0, done.stderr
    return cwd / "out"


def test_sweep_trains_each_run_and_summarises(sweep):
    records = [json.loads((sweep / n / "rd.json").read_text()) for n in ("0", "1")]
    for record in records:
        _check_record(record)
    assert [r["beta"] for r in records] == [0.25, 1.0]
    assert records[0]["rate"] > records[1]["rate"]  # a larger β buys a lower rate
    assert (sweep / "rd_plane.png").read_bytes()[:4] == b"\x89PNG"
    assert (sweep / "rd_plane.pdf").read_bytes()[:4] == b"%PDF"
    report = (sweep / "report.md").read_text()
    assert len([line for line in report.splitlines() if line.startswith("| ")]) == 2 + 1
    assert "Pareto frontier" in report and "Best ELBO" in report
    figures = ("rd_plane_families.png", "rd_plane_same_elbo.png")
    assert [(sweep / name).exists() for name in figures] == [True, False]  # no ELBO group


def test_plot_and_report_read_the_sweep(sweep, tmp_path):
    done = rdframe("plot", str(sweep), "-o", str(tmp_path / "plane"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "plane.png").stat().st_size > 10_000
    assert (tmp_path / "plane_families.png").stat().st_size > 1_000  # the runs have pictures
    done = rdframe("report", str(sweep), "--csv", str(tmp_path / "t.csv"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 3 and rows[0].startswith("| beta |")
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 3
    results = find_results([sweep])
    check_cells(*markdown_cells(done.stdout), results)  # every cell is its rd.json value
    header, *body = csv.reader((tmp_path / "t.csv").read_text().splitlines())
    check_cells(header, body, results)
    fig = rd_plane_figure(results)
    ((family, (offsets, betas)),) = runs_drawn(fig).items()
    assert family == "mlp/mlp/standard_normal" and betas.tolist() == [0.25, 1.0]
    assert offsets.tolist() == [[r.distortion, r.rate] for r in results]  # (D, R) as recorded
    plt.close(fig)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["encoder=nope"], "unknown option encoder=nope; the options of encoder are conv"),
        (["trainer.max_epochs=1", "not_a_key=3"], "unknown key 'not_a_key'"),
        (["objective.beta=-1"], "objective.beta must be"),
        (["+objective.betta=1"], "objective.betta is not a parameter of BetaVAE"),
        (["data.binarize=false"], "does not fit decoder BernoulliMLPDecoder"),
        (["data=mnist", "data.data_dir=."], "mnist: 4 of 4 files missing"),
    ],
)
def test_bad_input_stops_with_one_line(tmp_path, args, expected):
    done = rdframe("train", *args, cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rdframe: error:"), done.stderr
    assert expected in lines[0]
    assert not list(tmp_path.rglob("*.ckpt"))  # stopped before training


def test_plot_without_results_says_so(tmp_path):
    done = rdframe("plot", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and "no rd.json found" in done.stderr
    expected = f"rdframe: error: no rd.json found under {tmp_path}"
    assert done.stderr.strip().splitlines() == [expected]


def test_ddp_on_two_cpu_processes_writes_one_result(tmp_path):
    """Two ranks, each scoring half of the 300 test digits (rank r: positions r, r + 2, …):
    the metrics in rd.json are the means over all 300, as one process computes them. The
    analytic rate is exact per example, so its mean must agree to float precision, where the
    mean of rank 0's half alone (what an unreduced log gives) is far off; distortion and IWAE
    are Monte-Carlo and agree within their sampling error."""
    done = rdframe("train", *QUICK, "trainer=ddp_cpu", "analytic_rate=true", "objective.beta=0.3",
                   "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "run" / "rd.json").read_text())
    _check_record(record, steps=2 * 6)  # each of the 2 ranks sees half of every epoch
    assert done.stdout.count("rdframe: beta=") == 1  # only rank 0 reports
    model, x, _, _ = trained_run(tmp_path / "run")
    with torch.no_grad():
        rate = model.terms(x).rate  # (300,): KL(e(z|x) ‖ m(z)) in closed form
    assert len(x) == 300 and record["rate"] > 2  # a real rate, nats per example
    assert record["rate"] == pytest.approx(rate.mean().item(), rel=1e-5, abs=1e-6)
    assert abs(rate[0::2].mean() - rate.mean()) > 10 * 1e-5 * rate.mean()  # rank 0's half
    for key, per_example in monte_carlo_terms(model, x, record["iwae_samples"]).items():
        mean, error = per_example.mean().item(), per_example.var(0).mean().sqrt().item()
        assert record[key] == pytest.approx(mean, abs=4 * error / math.sqrt(len(x))), key


def test_ddp_bottleneck_error_is_the_mean_over_both_ranks(tmp_path):
    """The test error of a bottleneck under DDP is the error over all 300 test digits. Each
    rank's batches draw z from generators seeded by (seed, "test", batch, rank), so what each
    rank computed is recomputed here exactly: rank r scores positions r, r + 2, … in batches
    of 100. rd.json must hold the two ranks' pooled error, not rank 0's alone."""
    from rdframe.estimators import predictive_error
    from rdframe.seeding import seed_batch

    done = rdframe("train", "trainer=ddp_cpu", "trainer.max_epochs=1", "objective=ib",
                   "decoder=classifier", "latent_dim=4", "seed=3", "hydra.run.dir=run",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "run" / "rd.json").read_text())
    model, x, y, data = trained_run(tmp_path / "run")
    model, x = model.float(), x.float()  # as trained: the draws depend on the dtype
    wrong = {}
    with torch.no_grad():
        for rank in (0, 1):
            shard = zip(x[rank::2].split(data.eval_batch_size), y[rank::2].split(
                data.eval_batch_size), strict=True)
            wrong[rank] = 0.0
            for batch, (xs, ys) in enumerate(shard):
                seed_batch(3, "test", batch, rank)
                wrong[rank] += predictive_error(model, xs, ys) * len(ys)
    pooled, rank_zero = (wrong[0] + wrong[1]) / len(y), wrong[0] / len(y[0::2])
    assert rank_zero != pytest.approx(pooled, abs=1e-6)  # else this run could not tell them apart
    assert record["error"] == pytest.approx(pooled, abs=1e-6)


def monte_carlo_terms(model, x: torch.Tensor, k: int, repeats: int = 50) -> dict:
    """Per-example draws (repeats, N) of the one-sample distortion and the k-sample IWAE NLL."""
    torch.manual_seed(0)
    with torch.no_grad():
        return {
            "distortion": torch.stack([model.terms(x).distortion for _ in range(repeats)]),
            "iwae_nll": torch.stack([-model.log_likelihood(x, k) for _ in range(repeats)]),
        }


def test_ddp_sweep_launches_each_job_once(tmp_path):
    """A sweep under trainer=ddp_cpu: each job starts its further rank for itself alone, so
    the sweep is launched once, each of its 2 runs trained once on 2 ranks (half of each
    epoch's 12 batches each), and its summary written once."""
    done = rdframe("sweep", *QUICK, "trainer=ddp_cpu", "objective.beta=0.5,2",
                   "hydra.sweep.dir=out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert output.count("Launching 2 jobs") == 1
    assert output.count("rdframe: beta=") == 2 and output.count("rdframe: wrote") == 1
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "out").rglob("rd.json"))]
    assert [(r["beta"], r["steps"]) for r in records] == [(0.5, 2 * 6), (2.0, 2 * 6)]
    assert (tmp_path / "out" / "report.md").is_file()


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local"])
def test_sweep_through_a_launcher_plugin(tmp_path, launcher):
    done = rdframe("sweep", *QUICK, f"hydra/launcher={launcher}", "objective.beta=0.5,2",
                   "hydra.sweep.dir=out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    betas = sorted(json.loads(p.read_text())["beta"] for p in (tmp_path / "out").glob("*/rd.json"))
    assert betas == [0.5, 2.0] and (tmp_path / "out" / "report.md").exists()
