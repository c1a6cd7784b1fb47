"""Runs that survive kills: a run or a sweep killed at any moment and relaunched ends exactly
where an uninterrupted one does; checkpoints that cannot be trusted are refused up front."""

from __future__ import annotations

import csv
import json
import os
import signal
import signal as signal_module
import subprocess
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import rdframe_command

# 1,197 training digits in batches of 100: 12 steps an epoch, 96 in all; a checkpoint every
# 5 steps (and at each epoch's end); the learning rate falls tenfold at epochs 2 and 5.
ARGS = ["trainer.max_epochs=8", "iwae_samples=16", "latent_dim=4", "checkpoint_every=5",
        "trainer.enable_progress_bar=false", "trainer.log_every_n_steps=1",
        "scheduler=step", "scheduler.scheduler.milestones=[2,5]"]  # the scheduler resumes too
STEPS_PER_EPOCH = 12
TESTS = str(Path(__file__).parent)  # on the subprocesses' path, for SignalAt
ENV = {**os.environ, "WANDB_MODE": "offline", "PYTHONPATH": TESTS}
METRICS = ("rate", "distortion", "elbo", "iwae_nll", "steps", "epochs")


class SignalAt(pl.Callback):
    """Test-only: the run sends itself ``signal`` at the end of training step ``step``, before
    that step's checkpoint is written (``+callbacks.signal._target_=test_resume.SignalAt``)."""

    def __init__(self, step: int, signal: str = "SIGKILL") -> None:
        self.step, self.signum = step, getattr(signal_module, signal)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


def signal_at(step: int, name: str = "SIGKILL") -> list[str]:
    return ["+callbacks.signal._target_=test_resume.SignalAt", f"+callbacks.signal.step={step}",
            f"+callbacks.signal.signal={name}"]


def launch(*args: str, cwd: Path) -> subprocess.Popen:
    """``rdframe`` in its own process group, so that a kill reaches every process of it."""
    return subprocess.Popen([*rdframe_command(), *args], cwd=cwd, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ENV)


def finish(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([*rdframe_command(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr
    return done


def kill_after_checkpoint(process: subprocess.Popen, checkpoint: Path, past_step: int) -> int:
    """SIGKILL ``process`` (its whole group) once ``checkpoint`` holds a step beyond
    ``past_step``; the step of the checkpoint it leaves."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if checkpoint.is_file() and step_of(checkpoint) > past_step:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return step_of(checkpoint)


def step_of(checkpoint: Path) -> int:
    try:
        return torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]
    except Exception:  # being replaced right now: atomic rename, so retry later
        return -1


def record(run: Path) -> dict:
    return json.loads((run / "rd.json").read_text())


def logged(run: Path) -> set[tuple[str, str, str]]:
    """Every (step, metric, value) of the run's CSV log."""
    with (run / "logs" / "metrics.csv").open(newline="") as stream:
        return {(r["step"], k, v) for r in csv.DictReader(stream) for k, v in r.items() if v}


def weights(run: Path) -> dict[str, torch.Tensor]:
    path = run / "checkpoints" / "last.ckpt"
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("uninterrupted")
    finish("train", *ARGS, "hydra.run.dir=run", cwd=cwd)
    return cwd / "run"


# (20, 15), a kill before the scheduler's first milestone, goes the same way: slow, 13 s
@pytest.mark.parametrize(("killed_at", "checkpoint"),
                         [pytest.param(20, 15, marks=pytest.mark.slow), (47, 45)])
def test_sigkill_mid_epoch_then_relaunch_ends_bit_identical(
    tmp_path, uninterrupted, killed_at, checkpoint
):
    run = tmp_path / "run"
    killed = subprocess.run([*rdframe_command(), "train", *ARGS, *signal_at(killed_at),
                             "hydra.run.dir=run"], cwd=tmp_path, env=ENV, capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    assert killed_at % STEPS_PER_EPOCH != 0 and checkpoint % STEPS_PER_EPOCH != 0  # mid-epoch
    assert step_of(run / "checkpoints" / "last.ckpt") == checkpoint
    assert not (run / "rd.json").exists()
    done = finish("train", *ARGS, "hydra.run.dir=run", cwd=tmp_path)
    assert f"resuming from {run / 'checkpoints' / 'last.ckpt'} (step {checkpoint})" in done.stdout
    resumed, expected = record(run), record(uninterrupted)
    assert {k: resumed[k] for k in METRICS} == {k: expected[k] for k in METRICS}
    for name, tensor in weights(uninterrupted).items():
        assert torch.equal(weights(run)[name], tensor), name
    assert logged(run) == logged(uninterrupted)  # one log of every step, none twice


def test_resume_option_names_the_run_folder(tmp_path, uninterrupted):
    process = launch("train", *ARGS, "hydra.run.dir=run", cwd=tmp_path)
    kill_after_checkpoint(process, tmp_path / "run" / "checkpoints" / "last.ckpt", 10)
    finish("train", *ARGS, f"resume={tmp_path / 'run'}", cwd=tmp_path)
    resumed, expected = record(tmp_path / "run"), record(uninterrupted)
    assert {k: resumed[k] for k in METRICS} == {k: expected[k] for k in METRICS}
    assert resumed["train_seconds"] > 0


# SIGUSR1 takes rdframe's handler of SIGUSR2, which the requeued submitit job below
# receives: slow, 13 s
@pytest.mark.parametrize("name", ["SIGTERM", pytest.param("SIGUSR1", marks=pytest.mark.slow)])
def test_preemption_signal_checkpoints_exits_and_resumes_exactly(tmp_path, uninterrupted, name):
    run = tmp_path / "run"
    stopped = subprocess.run(
        [*rdframe_command(), "train", *ARGS, *signal_at(30, name), "checkpoint_every=1000",
         "hydra.run.dir=run"], cwd=tmp_path, env=ENV, capture_output=True, text=True)
    signum = getattr(signal_module, name)
    assert stopped.returncode == 128 + signum, stopped.stderr
    assert f"rdframe: stopped by {name} at step 30: saved" in stopped.stderr
    assert "Traceback" not in stopped.stderr
    assert step_of(run / "checkpoints" / "last.ckpt") == 30
    finish("train", *ARGS, "checkpoint_every=1000", "hydra.run.dir=run", cwd=tmp_path)
    resumed, expected = record(run), record(uninterrupted)
    assert {k: resumed[k] for k in METRICS} == {k: expected[k] for k in METRICS}


def test_finished_run_is_not_repeated(tmp_path, uninterrupted):
    before = (uninterrupted / "rd.json").read_bytes(), (uninterrupted / "rd.json").stat()
    done = finish("train", *ARGS, f"hydra.run.dir={uninterrupted}", cwd=tmp_path)
    assert "already holds this run; not repeated" in done.stdout
    assert (uninterrupted / "rd.json").read_bytes() == before[0]
    assert (uninterrupted / "rd.json").stat().st_mtime_ns == before[1].st_mtime_ns


def test_sweep_killed_in_its_second_run_resumes_every_run_once(tmp_path):
    sweep = ["sweep", *ARGS, "objective.beta=0.5,1,2"]
    process = launch(*sweep, "hydra.sweep.dir=out", cwd=tmp_path)
    out = tmp_path / "out"
    kill_after_checkpoint(process, out / "1" / "checkpoints" / "last.ckpt", 20)
    assert (out / "0" / "rd.json").is_file() and not (out / "1" / "rd.json").exists()
    first = (out / "0" / "rd.json").stat().st_mtime_ns
    done = finish(*sweep, f"resume={out}", cwd=tmp_path)
    assert done.stdout.count("not repeated") == 1 and "resuming from" in done.stdout
    assert (out / "0" / "rd.json").stat().st_mtime_ns == first
    runs = sorted(out.glob("*/rd.json"))
    assert [record(p.parent)["beta"] for p in runs] == [0.5, 1.0, 2.0]
    table = [row for row in (out / "report.md").read_text().splitlines()
             if row.startswith("| ")][1:]
    assert sorted(row.split("|")[1].strip() for row in table) == ["0.5", "1", "2"]
    assert (out / "rd_plane.png").stat().st_size > 0


def refused(*args: str, cwd: Path) -> str:
    """The one line of a run refused with exit code 2, before any work."""
    done = subprocess.run([*rdframe_command(), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env=ENV)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("rdframe: error:"), done.stderr
    return lines[0]


def copy_run(source: Path, target: Path, checkpoint: bytes | None = None) -> Path:
    """A copy of the run folder ``source`` without its results, its checkpoint replaced."""
    (target / "checkpoints").mkdir(parents=True)
    original = (source / "checkpoints" / "last.ckpt").read_bytes()
    path = target / "checkpoints" / "last.ckpt"
    path.write_bytes(original if checkpoint is None else checkpoint)
    return path


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda data: data[: len(data) // 2], "is corrupt or truncated"),
        (lambda data: b"\0" * 64 + data[64:], "is corrupt or truncated"),
        (lambda data: b"", "is corrupt or truncated"),
    ],
    ids=["truncated", "overwritten-header", "empty"],
)
def test_damaged_checkpoint_is_refused_and_left_alone(tmp_path, uninterrupted, damage, expected):
    bad = damage((uninterrupted / "checkpoints" / "last.ckpt").read_bytes())
    path = copy_run(uninterrupted, tmp_path / "run", bad)
    line = refused("train", *ARGS, "hydra.run.dir=run", cwd=tmp_path)
    assert str(path) in line and expected in line and "nothing was changed" in line
    assert path.read_bytes() == bad and not (tmp_path / "run" / "rd.json").exists()


def test_checkpoint_of_another_config_is_refused(tmp_path, uninterrupted):
    path = copy_run(uninterrupted, tmp_path / "run")
    before = path.read_bytes()
    line = refused("train", *ARGS, "objective.beta=0.5", "hydra.run.dir=run", cwd=tmp_path)
    assert "another config (objective.beta: 1.0 there, 0.5 here)" in line
    assert "overwrite=true" in line and path.read_bytes() == before


def set_everywhere(tree: dict, key: str, value: object) -> None:
    """Set ``key`` to ``value`` wherever it occurs in a nested config."""
    for name, child in tree.items():
        if name == key:
            tree[name] = value
        elif isinstance(child, dict):
            set_everywhere(child, key, value)


def test_checkpoint_of_another_architecture_is_refused(tmp_path, uninterrupted):
    checkpoint = torch.load(uninterrupted / "checkpoints" / "last.ckpt", weights_only=False)
    set_everywhere(checkpoint["rdframe_config"], "latent_dim", 6)  # config 6, weights 4
    torch.save(checkpoint, tmp_path / "ckpt")
    path = copy_run(uninterrupted, tmp_path / "run", (tmp_path / "ckpt").read_bytes())
    line = refused("train", *ARGS, "latent_dim=6", "hydra.run.dir=run", cwd=tmp_path)
    assert "does not fit the model this config builds" in line and "size mismatch" in line
    assert path.read_bytes() == (tmp_path / "ckpt").read_bytes()


def test_results_of_another_config_are_not_overwritten(tmp_path, uninterrupted):
    run = tmp_path / "run"
    run.mkdir()
    (run / "rd.json").write_bytes((uninterrupted / "rd.json").read_bytes())
    line = refused("train", *ARGS, "latent_dim=3", "hydra.run.dir=run", cwd=tmp_path)
    assert "already holds a finished run of another config (latent_dim: 4 there, 3 here)" in line
    assert (run / "rd.json").read_bytes() == (uninterrupted / "rd.json").read_bytes()
    done = finish("train", *ARGS, "latent_dim=3", "overwrite=true", "hydra.run.dir=run",
                  cwd=tmp_path)
    assert record(run)["config"]["latent_dim"] == 3 and "rdframe: beta=1" in done.stdout


def test_resume_of_a_folder_without_a_run_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    line = refused("train", *ARGS, f"resume={tmp_path / 'empty'}", cwd=tmp_path)
    assert "no checkpoint at" in line and "resume=" in line


def test_preempted_submitit_job_is_requeued_and_resumes_exactly(tmp_path, uninterrupted):
    """Under submitit (here its local executor, the code path of SLURM's), the preemption
    signal SIGUSR2 at step 30: the run saves its checkpoint, hands the signal to submitit,
    which requeues the job; the requeued job resumes and ends as the uninterrupted run."""
    done = finish("sweep", *ARGS, *signal_at(30, "SIGUSR2"), "checkpoint_every=1000",
                  "hydra/launcher=submitit_local", "hydra.sweep.dir=out", cwd=tmp_path)
    logs = "".join(p.read_text() for p in (tmp_path / "out" / ".submitit").rglob("*_log.*"))
    assert "rdframe: stopped by SIGUSR2 at step 30: saved" in logs, done.stdout
    assert "Requeued job" in logs
    assert "(step 30)" in logs  # "resuming from …/last.ckpt (step 30)"
    resumed, expected = record(tmp_path / "out" / "0"), record(uninterrupted)
    assert {k: resumed[k] for k in METRICS} == {k: expected[k] for k in METRICS}


class KillAtIwae(pl.Callback):
    """Test-only: the run kills itself (SIGKILL) as its test reaches the IWAE pass."""

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if pl_module.test_passes == ("iwae",):
            os.kill(os.getpid(), signal.SIGKILL)


def test_run_killed_while_scoring_iwae_keeps_its_results_and_scores_again(
    tmp_path, uninterrupted
):
    """rd.json is written once training is tested, before the long IWAE pass: a run killed
    there keeps rate and distortion, marked pending; the same command scores the IWAE bound
    from the checkpoint, without training, and ends as the uninterrupted run."""
    killed = subprocess.run([*rdframe_command(), "train", *ARGS, "hydra.run.dir=run",
                             "+callbacks.kill._target_=test_resume.KillAtIwae"],
                            cwd=tmp_path, env=ENV, capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL
    expected, interim = record(uninterrupted), record(tmp_path / "run")
    assert interim["pending"] == ["iwae_nll"] and interim["iwae_nll"] is None
    assert {k: interim[k] for k in ("rate", "distortion", "elbo", "steps")} == {
        k: expected[k] for k in ("rate", "distortion", "elbo", "steps")}
    done = finish("train", *ARGS, "hydra.run.dir=run", cwd=tmp_path)
    assert "stopped while scoring it; scoring again" in done.stdout
    resumed = record(tmp_path / "run")
    assert {k: resumed[k] for k in METRICS} == {k: expected[k] for k in METRICS}
    assert resumed["pending"] == []
    assert f"(step {expected['steps']})" in done.stdout  # resumed at the end: no training step


def saved_with(uninterrupted: Path, target: Path, change) -> Path:  # noqa: ANN001
    """A copy of the run's last checkpoint in ``target``, ``change`` applied to its dict."""
    checkpoint = torch.load(uninterrupted / "checkpoints" / "last.ckpt", weights_only=False)
    change(checkpoint)
    target.mkdir(parents=True)
    (target / "checkpoints").mkdir()
    torch.save(checkpoint, target / "checkpoints" / "last.ckpt")
    return target / "checkpoints" / "last.ckpt"


def test_a_run_recorded_before_a_key_existed_resumes_if_the_key_keeps_its_default(
    tmp_path, uninterrupted
):
    """A key added to rdframe since the run was launched (its saved config lacks it) is no
    change of config at its default, the value the component took without it; at any other
    value it is refused."""
    path = saved_with(uninterrupted, tmp_path / "run",
                      lambda checkpoint: checkpoint["rdframe_config"]["data"].pop("train_fraction"))
    line = refused("train", *ARGS, "data.train_fraction=0.5", "hydra.run.dir=run", cwd=tmp_path)
    assert "another config (data.train_fraction: None there, 0.5 here)" in line
    done = finish("train", *ARGS, "hydra.run.dir=run", cwd=tmp_path)
    assert f"data.train_fraction is set in only one of this config and {path}'s" in done.stdout
    assert record(tmp_path / "run")["steps"] == record(uninterrupted)["steps"]


def test_a_resume_may_not_change_how_the_best_checkpoint_is_chosen(tmp_path, uninterrupted):
    copy_run(uninterrupted, tmp_path / "run")
    line = refused("train", *ARGS, "callbacks.checkpoint.mode=max", "hydra.run.dir=run",
                   cwd=tmp_path)
    assert "(callbacks.checkpoint.mode: 'min' there, 'max' here)" in line


def test_a_moved_run_keeps_its_record_of_the_best_checkpoint(tmp_path, uninterrupted):
    """The run folder copied elsewhere and trained two epochs longer: its best checkpoint is
    still chosen against the best so far, in one file of the new folder (Lightning alone would
    forget the record and write best-v1.ckpt beside best.ckpt)."""
    before = torch.load(uninterrupted / "checkpoints" / "last.ckpt", weights_only=False)
    key = next(k for k in before["callbacks"] if "ModelCheckpoint" in k)
    run = tmp_path / "moved"
    (run / "checkpoints").mkdir(parents=True)
    for name in ("last.ckpt", "best.ckpt"):
        source = uninterrupted / "checkpoints" / name
        (run / "checkpoints" / name).write_bytes(source.read_bytes())
    finish("train", *ARGS, "trainer.max_epochs=10", "hydra.run.dir=moved", cwd=tmp_path)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    after = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["callbacks"][key]
    assert after["best_model_path"] == str(run / "checkpoints" / "best.ckpt")
    assert after["best_model_score"] <= before["callbacks"][key]["best_model_score"]


def test_a_missing_best_checkpoint_is_named_not_a_traceback(tmp_path, uninterrupted):
    """test_weights=best after the best file went missing: one line naming it, exit 2; the
    training is in last.ckpt, so putting the file back and relaunching tests it."""
    run = tmp_path / "run"  # last.ckpt alone, of a run that tests its best weights
    saved_with(uninterrupted, run,
               lambda checkpoint: checkpoint["rdframe_config"].update(test_weights="best"))
    line = refused("train", *ARGS, "test_weights=best", "hydra.run.dir=run", cwd=tmp_path)
    assert f"best checkpoint {run / 'checkpoints' / 'best.ckpt'}" in line
    assert "is missing" in line and "test_weights=last" in line
