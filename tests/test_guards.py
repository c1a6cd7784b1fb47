"""Guards of a run: the seed decides every random draw and the batch order, non-finite numbers
stop (or skip) training without spoiling the last checkpoint, Trainer arguments work as
typed, and files are written whole or not at all."""

from __future__ import annotations

import math
import os

import pytest
import pytorch_lightning as pl
import torch
from conftest import compose_config

from rdframe.atomic import atomic_path, atomic_write
from rdframe.build import build_data, build_system
from rdframe.checkpointing import AtomicCheckpointIO
from rdframe.data.sampler import EpochSampler
from rdframe.errors import NonFiniteError
from rdframe.model import RDTerms
from rdframe.objectives import BetaVAE
from rdframe.system import nonfinite_gradient
from rdframe.train import run

QUICK = ["latent_dim=4", "iwae_samples=8", "logger=none", "~callbacks.checkpoint",
         "trainer.enable_progress_bar=false"]


class NaNLossAt(BetaVAE):
    """β-VAE whose loss is NaN at the listed optimisation steps (a blow-up on cue)."""

    def __init__(self, steps: list[int], beta: float = 1.0) -> None:
        super().__init__(beta)
        self.steps = set(steps)

    def loss(self, terms: RDTerms, step: int) -> torch.Tensor:
        loss = super().loss(terms, step)
        return loss * math.nan if step in self.steps else loss


class NaNGradientAt(BetaVAE):
    """β-VAE whose loss is finite but whose gradient is NaN at the listed steps: the
    ``where`` passes no value of its unused branch, √(−1 − |R|), but NaN times 0 in backward."""

    def __init__(self, steps: list[int], beta: float = 1.0) -> None:
        super().__init__(beta)
        self.steps = set(steps)

    def loss(self, terms: RDTerms, step: int) -> torch.Tensor:
        loss = super().loss(terms, step)
        if step not in self.steps:
            return loss
        poison = torch.sqrt(-1.0 - terms.rate.abs())  # NaN, and so its gradient
        return loss + torch.where(torch.ones_like(loss, dtype=torch.bool), 0 * loss, poison)


class PoisonDecoderAt(pl.Callback):
    """Test-only: at the start of training step ``step`` the decoder's last layer becomes NaN,
    as weights blown up by a bad update would be (``+callbacks.poison``)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, module, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                module.model.decoder.net[-1].weight.fill_(math.nan)


def test_nonfinite_parameters_are_named_by_their_distribution(tmp_path):
    """The training step runs without torch.distributions' argument checks (they cost a few per
    cent of a step); when a step goes non-finite it is rerun with them, so the message still
    names the parameter that went bad, not only the loss."""
    cfg = compose_config([*QUICK, "checkpoint_every=5", "+callbacks.poison._target_="
                          "test_guards.PoisonDecoderAt", "+callbacks.poison.step=7"], tmp_path)
    with pytest.raises(NonFiniteError, match="the Bernoulli's logits became non-finite at step 7"):
        run(cfg)
    assert last_checkpoint(tmp_path)["global_step"] == 5
    assert torch.distributions.Distribution._validate_args  # validation is on again outside


def objective(name: str, steps: list[int]) -> list[str]:
    return [f"objective._target_=test_guards.{name}", f"+objective.steps={steps}"]


def last_checkpoint(tmp_path) -> dict:
    return torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)


@pytest.mark.parametrize(("name", "term"), [("NaNLossAt", "the loss"),
                                             ("NaNGradientAt", "the gradient of model.")])
def test_nonfinite_stops_naming_step_and_term_and_keeps_the_checkpoint(tmp_path, name, term):
    cfg = compose_config([*QUICK, *objective(name, [7]), "checkpoint_every=5"], tmp_path)
    with pytest.raises(NonFiniteError, match=f"{term}.* became non-finite at step 7 ") as error:
        run(cfg)
    assert "skip_nonfinite=true" in str(error.value)
    checkpoint = last_checkpoint(tmp_path)
    assert checkpoint["global_step"] == 5
    assert all(torch.isfinite(w).all() for w in checkpoint["state_dict"].values())
    assert not (tmp_path / "rd.json").exists()


@pytest.mark.parametrize("name", ["NaNLossAt", "NaNGradientAt"])
def test_skip_nonfinite_skips_those_batches_and_counts_them(tmp_path, name):
    overrides = [*QUICK, *objective(name, [3, 9]), "skip_nonfinite=true",
                 "trainer.max_epochs=2", "logger=csv"]
    result = run(compose_config(overrides, tmp_path))
    assert math.isfinite(result.elbo) and result.steps == 24  # skipped batches still count
    assert last_checkpoint(tmp_path)["skipped_batches"] == 2
    log = (tmp_path / "logs" / "metrics.csv").read_text().splitlines()
    column = log[0].split(",").index("train/skipped_batches")
    assert max(float(row.split(",")[column] or 0) for row in log[1:]) == 2


def test_skipped_batches_leave_the_weights_alone(tmp_path):
    """With every batch's gradient NaN, skipping keeps the initial weights to the bit."""
    overrides = [*QUICK, *objective("NaNGradientAt", list(range(12))), "skip_nonfinite=true",
                 "trainer.max_epochs=1"]
    cfg = compose_config(overrides, tmp_path)
    run(cfg)
    pl.seed_everything(cfg.seed, verbose=False)  # as run() does before building the model
    build_data(cfg)
    initial = build_system(cfg).state_dict()
    final = last_checkpoint(tmp_path)["state_dict"]
    assert final.keys() == initial.keys()
    assert all(torch.equal(final[k], initial[k]) for k in initial)


def test_trainer_arguments_work_as_typed(tmp_path):
    overrides = [*QUICK, "trainer.max_steps=7", "trainer.limit_val_batches=1",
                 "trainer.limit_test_batches=2", "trainer.gradient_clip_val=1.0",
                 "trainer.accumulate_grad_batches=2", "trainer.deterministic=true",
                 "trainer.check_val_every_n_epoch=1", "trainer.val_check_interval=1.0",
                 "trainer.precision=32-true", "trainer.limit_train_batches=1.0"]
    result = run(compose_config(overrides, tmp_path))
    assert result.steps == 7 and result.epochs == 2  # 14 batches: into the second epoch


def test_seed_decides_the_batch_order(make_config):
    def first_batches(seed: int) -> list[torch.Tensor]:
        data = build_data(make_config(f"seed={seed}"))
        data.setup("fit")
        loader = data.train_dataloader()
        return [y for _, y in loader]

    same, again, other = first_batches(0), first_batches(0), first_batches(1)
    assert all(torch.equal(a, b) for a, b in zip(same, again))
    assert not all(torch.equal(a, b) for a, b in zip(same, other))
    assert torch.equal(torch.cat(same).sort().values, torch.cat(other).sort().values)


def test_sampler_epochs_differ_and_resume_skips_exactly():
    sampler = EpochSampler(10, shuffle=True, seed=3)
    epochs = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        epochs.append(list(sampler))
    assert all(sorted(order) == list(range(10)) for order in epochs)
    assert epochs[0] != epochs[1] != epochs[2]
    sampler.resume_at(epoch=1, start=4)
    assert list(sampler) == epochs[1][4:] and list(sampler) == epochs[1]
    sampler.resume_at(epoch=1, start=10)  # the epoch was complete: the next one, whole
    assert sampler.epoch == 2 and list(sampler) == epochs[2]


def test_a_failed_write_leaves_the_previous_file(tmp_path):
    target = atomic_write(tmp_path / "rd.json", '{"rate": 1.0}\n')
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"rate": 2')
        raise RuntimeError("killed mid-write")
    assert target.read_text() == '{"rate": 1.0}\n' and os.listdir(tmp_path) == ["rd.json"]
    umask = os.umask(0o022)
    try:
        assert (atomic_write(tmp_path / "new.json", "{}").stat().st_mode & 0o777) == 0o644
    finally:
        os.umask(umask)


def test_a_failed_checkpoint_save_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"global_step": 5}, path)
    with pytest.raises(Exception):  # noqa: B017 - torch.save of a lambda fails while pickling
        io.save_checkpoint({"global_step": 6, "bad": lambda: None}, path)
    assert torch.load(path, weights_only=False) == {"global_step": 5}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_a_finished_run_asked_for_more_epochs_continues_exactly(tmp_path):
    """Training 2 epochs, then the same run to 4, ends where 4 epochs in one go end."""
    overrides = [*QUICK, "checkpoint_every=1000"]
    run(compose_config([*overrides, "trainer.max_epochs=2"], tmp_path / "extended"))
    extended = run(compose_config([*overrides, "trainer.max_epochs=4"], tmp_path / "extended"))
    direct = run(compose_config([*overrides, "trainer.max_epochs=4"], tmp_path / "direct"))
    keys = ("rate", "distortion", "elbo", "iwae_nll", "steps", "epochs")
    assert [getattr(extended, k) for k in keys] == [getattr(direct, k) for k in keys]
    assert extended.steps == 48


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_the_gradient_check_finds_each_nonfinite_value_and_changes_none(dtype):
    """Every NaN and infinity is found, in any tensor of a mixed list; finite gradients, also
    ones whose squares overflow (a norm would call them infinite), pass; no value changes."""
    finite = [torch.randn(5, 3, dtype=torch.float64), torch.full((4,), 1e30, dtype=dtype)]
    assert not nonfinite_gradient([g.clone() for g in finite]) and not nonfinite_gradient([])
    for bad in (math.nan, math.inf, -math.inf):
        for i in range(len(finite)):
            grads = [g.clone() for g in finite]
            grads[i].view(-1)[-1] = bad
            kept = [g.clone() for g in grads]
            assert nonfinite_gradient(grads)
            assert all(torch.equal(g.nan_to_num(), k.nan_to_num()) for g, k in zip(grads, kept))
