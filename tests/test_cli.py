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
    assert not (tmp_path / "plane_same_elbo.png").exists()  # ELBOs apart: no group by default
    done = rdframe("plot", str(sweep), "-o", str(tmp_path / "loose"), "--elbo-tolerance", "1e6",
                   "--min-rate-gap", "0", cwd=tmp_path)  # any two runs make a group
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "loose_same_elbo.png").stat().st_size > 1_000
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


def single_process_test(run_dir: Path) -> dict[str, float]:
    """What ``trainer.test`` logs in this one process for the run's last weights, on the CPU:
    the reference a DDP run's test metrics must equal."""
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    from rdframe.build import build_data, build_system

    cfg = OmegaConf.create(json.loads((run_dir / "rd.json").read_text())["config"])
    data, system = build_data(cfg), build_system(cfg)
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    system.load_state_dict(checkpoint["state_dict"])
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False,
                         enable_checkpointing=False, enable_model_summary=False)
    metrics = trainer.test(system, datamodule=data, verbose=False)[0]
    return {key.removeprefix("test/"): float(value) for key, value in metrics.items()}


def test_ddp_on_two_cpu_processes_logs_what_one_process_logs(tmp_path):
    """Two ranks score the 300 test digits in whole batches of 100 (rank 0 batches 0 and 2,
    rank 1 batch 1), each batch's draws seeded by its place in the split: rd.json's rate,
    distortion, ELBO and IWAE NLL equal what one process logs for the same weights, to 1e-5.
    The analytic rate shows that the difference would be seen: rank 0's batches alone give
    another mean."""
    done = rdframe("train", *QUICK, "trainer=ddp_cpu", "analytic_rate=true", "objective.beta=0.3",
                   "hydra.run.dir=run", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "run" / "rd.json").read_text())
    _check_record(record, steps=2 * 6)  # each of the 2 ranks sees half of every epoch
    assert done.stdout.count("rdframe: beta=") == 1  # only rank 0 reports
    single = single_process_test(tmp_path / "run")
    for key in ("rate", "distortion", "elbo", "iwae_nll"):
        assert record[key] == pytest.approx(single[key], rel=1e-5, abs=1e-6), key
    model, x, _, _ = trained_run(tmp_path / "run")
    with torch.no_grad():
        rate = model.terms(x).rate  # (300,): KL(e(z|x) ‖ m(z)) in closed form
    rank_zero = torch.cat([rate[:100], rate[200:]]).mean()
    assert len(x) == 300 and record["rate"] > 2  # a real rate, nats per example
    assert abs(rank_zero - rate.mean()) > 10 * 1e-5 * rate.mean()


def test_ddp_bottleneck_error_is_the_error_one_process_finds(tmp_path):
    """The test error of a bottleneck under DDP is the error over all 300 test digits, as one
    process finds it for the same weights, not rank 0's alone. Rank 0's is recomputed here
    (its batches 0 and 2, seeded by (seed, "test", batch)) to show that the two differ."""
    from rdframe.estimators import predictive_error
    from rdframe.seeding import seed_batch

    done = rdframe("train", "trainer=ddp_cpu", "trainer.max_epochs=1", "objective=ib",
                   "decoder=classifier", "latent_dim=4", "seed=3", "hydra.run.dir=run",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads((tmp_path / "run" / "rd.json").read_text())
    single = single_process_test(tmp_path / "run")
    assert record["error"] == pytest.approx(single["error"], abs=1e-6)
    model, x, y, data = trained_run(tmp_path / "run")
    model, x = model.float(), x.float()  # as trained: the draws depend on the dtype
    wrong = 0.0
    with torch.no_grad():
        for batch in (0, 2):
            rows = slice(batch * data.eval_batch_size, (batch + 1) * data.eval_batch_size)
            seed_batch(3, "test", batch)
            wrong += predictive_error(model, x[rows], y[rows]) * len(y[rows])
    assert wrong / 200 != pytest.approx(single["error"], abs=1e-6)  # rank 0's own is another


def monte_carlo_terms(model, x: torch.Tensor, k: int, repeats: int = 50) -> dict:
    """Per-example draws (repeats, N) of the one-sample distortion and the k-sample IWAE NLL."""
    torch.manual_seed(0)
    with torch.no_grad():
        return {
            "distortion": torch.stack([model.terms(x).distortion for _ in range(repeats)]),
            "iwae_nll": torch.stack([-model.log_likelihood(x, k) for _ in range(repeats)]),
        }


def test_bf16_mixed_precision_keeps_rate_and_distortion_in_float32(tmp_path):
    """trainer.precision=bf16-mixed (on GPUs, and on the CPU here): the network runs in
    bfloat16, its rate and distortion are summed and logged in float32, close to the float32
    run of the same seed (bfloat16 keeps 8 bits of mantissa: a few per cent, not more)."""
    runs = {}
    for precision in ("32-true", "bf16-mixed"):
        done = rdframe("train", *QUICK, f"trainer.precision={precision}",
                       f"hydra.run.dir={precision}", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        runs[precision] = json.loads((tmp_path / precision / "rd.json").read_text())
    _check_record(runs["bf16-mixed"])
    for key in ("rate", "distortion", "iwae_nll"):
        assert runs["bf16-mixed"][key] == pytest.approx(runs["32-true"][key], rel=0.05), key
    assert runs["bf16-mixed"]["distortion"] != runs["32-true"]["distortion"]  # bf16 did run


def test_ddp_sweep_launches_each_job_once(tmp_path):
    """A sweep under trainer=ddp_cpu: each job starts its further rank for itself alone, so
    the sweep is launched once, each of its 2 runs trained once on 2 ranks (half of each
    epoch's 12 batches each), and its summary written once."""
    done = rdframe("sweep", *QUICK, "trainer=ddp_cpu", "objective.beta=0.5,2",
                   "hydra.sweep.dir=out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    output = done.stdout + done.stderr
    assert output.count("Launching 2 jobs") == 1
    assert output.count("rdframe: beta=") == 2 and output.count("rd_plane.png") == 1
    records = [json.loads(p.read_text()) for p in sorted((tmp_path / "out").rglob("rd.json"))]
    assert [(r["beta"], r["steps"]) for r in records] == [(0.5, 2 * 6), (2.0, 2 * 6)]
    assert (tmp_path / "out" / "report.md").is_file()


# submitit_local: slow (12 s); test_resume's requeued submitit job runs that launcher anyway
@pytest.mark.parametrize("launcher", ["joblib", pytest.param("submitit_local",
                                                             marks=pytest.mark.slow)])
def test_sweep_through_a_launcher_plugin(tmp_path, launcher):
    done = rdframe("sweep", *QUICK, f"hydra/launcher={launcher}", "objective.beta=0.5,2",
                   "hydra.sweep.dir=out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    betas = sorted(json.loads(p.read_text())["beta"] for p in (tmp_path / "out").glob("*/rd.json"))
    assert betas == [0.5, 2.0] and (tmp_path / "out" / "report.md").exists()
