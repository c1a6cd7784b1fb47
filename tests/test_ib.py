"""The variational information bottleneck: classifier decoder, configs, and the digits."""

from __future__ import annotations

import csv
import json
import math

import pytest
import pytorch_lightning as pl
import torch
from test_objectives import digits, fit
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from rdframe.build import build_data, build_system
from rdframe.decoders import BernoulliMLPDecoder, CategoricalDecoder
from rdframe.encoders import GaussianMLPEncoder
from rdframe.errors import ConfigError
from rdframe.estimators import label_entropy, predictive_error, rd_terms
from rdframe.marginals import StandardNormal
from rdframe.model import RDModel
from rdframe.nn import mlp
from rdframe.objectives import BetaVAE, InformationBottleneck
from rdframe.system import RDSystem, check_target

SHAPE, LATENT, HIDDEN, STEPS = (1, 8, 8), 8, 128, 600


def ib_model() -> RDModel:
    return RDModel(GaussianMLPEncoder(SHAPE, LATENT, (HIDDEN,)),
                   CategoricalDecoder(LATENT, 10, (HIDDEN,)), StandardNormal(LATENT))


@pytest.fixture(scope="module")
def trained() -> RDSystem:
    """A bottleneck with β = 1e-3 trained on the digits' training split."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = digits()
    system = fit(ib_model(), InformationBottleneck(beta=1e-3), x, y, steps=STEPS)
    torch.set_num_threads(threads)
    return system


def test_classifier_is_normalised_over_labels():
    decoder = CategoricalDecoder(latent_dim=3, num_classes=7, hidden=(16,)).double()
    z = torch.randn(4, 5, 3, dtype=torch.float64)  # (S, B, Z)
    likelihood = decoder(z)
    log_probs = torch.stack([likelihood.log_prob(torch.full((5,), c)) for c in range(7)])
    assert likelihood.batch_shape == (4, 5) and log_probs.shape == (7, 4, 5)
    assert torch.allclose(log_probs.logsumexp(0), torch.zeros(4, 5, dtype=torch.float64))


def test_ib_objective_picks_the_classifier(make_config):
    cfg = make_config("objective=ib")
    assert cfg.decoder._target_ == "rdframe.decoders.CategoricalDecoder"
    build_data(cfg)
    system = build_system(cfg)
    assert system.objective.target == "y" and system.model.decoder.target == "y"
    assert cfg.decoder.num_classes == 10
    check_target(system.model, system.objective)  # consistent: no error


def test_ib_experiment_sweeps_beta(make_config):
    cfg = make_config("experiment=ib")
    assert cfg.objective._target_ == "rdframe.objectives.InformationBottleneck"
    assert cfg.decoder._target_ == "rdframe.decoders.CategoricalDecoder"


@pytest.mark.parametrize(
    ("objective", "decoder"),
    [
        (InformationBottleneck(1e-3), BernoulliMLPDecoder(LATENT, SHAPE, (8,))),
        (BetaVAE(1.0), CategoricalDecoder(LATENT, 10, (8,))),
    ],
)
def test_objective_and_decoder_must_score_the_same_thing(objective, decoder):
    model = RDModel(GaussianMLPEncoder(SHAPE, LATENT, (8,)), decoder, StandardNormal(LATENT))
    with pytest.raises(ConfigError, match="scores .* but the decoder .* use objective=ib"):
        check_target(model, objective)
    x, y = digits()
    trainer = pl.Trainer(max_steps=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ConfigError, match="decoder=classifier"):  # before any step is taken
        trainer.fit(RDSystem(model, objective), DataLoader(TensorDataset(x, y), batch_size=10))


def plain_classifier_error(steps: int) -> float:
    """A deterministic MLP of the bottleneck's size, 64 → 128 → 8 → 128 → 10, same training."""
    torch.manual_seed(0)
    x, y = digits()
    body, head = mlp([64, HIDDEN, LATENT]), mlp([LATENT, HIDDEN, 10])
    net = nn.Sequential(nn.Flatten(), body, nn.ReLU(), head)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loader = DataLoader(TensorDataset(x, y), 100, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    step = 0
    while step < steps:
        for xs, ys in loader:
            loss = nn.functional.cross_entropy(net(xs), ys)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
    x_test, y_test = digits("test")
    with torch.no_grad():
        return (net(x_test).argmax(-1) != y_test).double().mean().item()


def test_ib_on_digits_matches_a_plain_classifier(trained):
    x_test, y_test = digits("test")
    error = predictive_error(trained.model, x_test, y_test, samples=12)
    baseline = plain_classifier_error(STEPS)
    assert error < 0.12 and error <= baseline + 0.03, (error, baseline)


def error_by_hand(model: RDModel, x: torch.Tensor, y: torch.Tensor, samples: int) -> float:
    """The fraction of examples whose label is not argmax_c (1/S) Σ_s softmax(logits(z_s))_c,
    z_s = μ(x) + σ(x)·ε_s drawn from the encoder's Gaussian: the predictive error counted
    directly from the network outputs."""
    posterior = model.encoder(x).base_dist  # Normal(μ, σ), batch (B, Z)
    eps = torch.randn(samples, *posterior.loc.shape)  # (S, B, Z)
    z = posterior.loc + posterior.scale * eps
    probs = torch.softmax(model.decoder.net(z), dim=-1).mean(0)  # (B, C)
    return (probs.argmax(-1) != y).sum().item() / len(y)


@torch.no_grad()
def test_predictive_error_counts_the_averaged_classifier_mistakes(trained):
    x_test, y_test = digits("test")
    for samples in (1, 12):  # the same draws of z (same seed): the same count exactly
        torch.manual_seed(3)
        by_hand = error_by_hand(trained.model, x_test, y_test, samples)
        torch.manual_seed(3)
        assert predictive_error(trained.model, x_test, y_test, samples) == by_hand
    assert 0 < by_hand < 0.12  # a trained classifier, with a few mistakes to count


def test_ib_test_stage_logs_the_error(trained):
    x_test, y_test = digits("test")
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    metrics = trainer.test(trained, DataLoader(TensorDataset(x_test, y_test), 100),
                           verbose=False)[0]
    assert "test/iwae_nll" not in metrics
    expected = predictive_error(trained.model, x_test, y_test)
    assert metrics["test/error"] == pytest.approx(expected, abs=0.03)
    torch.manual_seed(0)
    with torch.no_grad():  # 200 draws: the predictive argmax almost without sampling noise
        by_hand = error_by_hand(trained.model, x_test, y_test, samples=200)
    assert metrics["test/error"] == pytest.approx(by_hand, abs=0.02)  # ≤ 6 of 300 digits


def test_beta_moves_along_the_information_plane(trained):
    """H(Y) − D_y ≤ I(Z;Y) ≤ I(Z;X) ≤ R for any model (Y → X → Z); larger β, less of both."""
    torch.manual_seed(0)
    x, y = digits()
    squeezed = fit(ib_model(), InformationBottleneck(beta=0.5), x, y, steps=STEPS // 2).model
    x_test, y_test = digits("test")
    h_y = label_entropy(y_test)
    planes = []
    for model in (trained.model, squeezed):
        terms = rd_terms(model, x_test, y_test, samples=20)
        rate, distortion = terms.rate.mean().item(), terms.distortion.mean().item()
        assert h_y - distortion <= rate + 0.05
        planes.append((rate, h_y - distortion))
    (rate_free, information_free), (rate_squeezed, information_squeezed) = planes
    assert rate_squeezed < rate_free - 1.0 and information_squeezed < information_free


def test_a_bottleneck_run_reports_its_cross_entropy_and_no_elbo(tmp_path):
    """rd.json of an ib run: elbo null (−(D_y + R) bounds nothing), distortion the test split's
    label cross-entropy −E log c(y|z) in nats, checked against a 200-draw estimate by hand
    within 4 standard errors of the run's one-draw estimate; the logs name no ELBO, and the
    best checkpoint is chosen by the validation D_y (issue 9)."""
    from conftest import compose_config, trained_run

    from rdframe.train import run

    run(compose_config(["objective=ib", "trainer.max_epochs=2", "optimizer.lr=3e-3",
                        "trainer.enable_progress_bar=false"], tmp_path))
    record = json.loads((tmp_path / "rd.json").read_text())
    model, x, y, _ = trained_run(tmp_path)
    with torch.no_grad():
        z = model.encoder(x).rsample(torch.Size([200]))  # (S, N, Z)
        logits = model.decoder.net(z)  # (S, N, C)
        nats = -logits.log_softmax(-1).gather(-1, y.expand(200, -1).unsqueeze(-1)).squeeze(-1)
    one_draw_error = nats.var(0).mean().sqrt().item() / math.sqrt(len(y))
    assert record["elbo"] is None and record["error"] is not None
    assert record["distortion"] == pytest.approx(nats.mean().item(), abs=4 * one_draw_error)
    assert 0.3 < record["distortion"] < 2.0  # it learned something: the check has content
    with open(tmp_path / "logs" / "metrics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert not [key for key in rows[0] if key.endswith("elbo")]
    validations = [row for row in rows if row["val/selection"]]
    assert len(validations) == 2  # the best checkpoint is chosen by D_y, whatever β is
    assert all(row["val/selection"] == row["val/distortion"] for row in validations)
