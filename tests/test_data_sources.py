"""Sources of known entropy: the stated H(X) and log p(x) against independent computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from scipy import stats

from rdframe.data import BinaryMixtureSource, LinearGaussianSource, SyntheticDataModule
from rdframe.errors import ConfigError


def binary_entropy(p: float) -> float:
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def hamming_log_prob(source: BinaryMixtureSource, x: np.ndarray) -> np.ndarray:
    """log p(x) from the definition: (1/K) Σ_k ε^d_k (1 − ε)^(D − d_k), d_k Hamming distances."""
    prototypes = source.prototypes.numpy()  # (K, D)
    eps, bits = source.flip_prob, prototypes.shape[1]
    distance = (x[:, None, :] != prototypes[None]).sum(-1)  # (N, K)
    p = (eps**distance * (1 - eps) ** (bits - distance)).mean(-1)
    return np.log(p)


def monte_carlo_entropy(log_p: torch.Tensor) -> tuple[float, float]:
    """−mean log p(x) over samples of the source, and its standard error."""
    return float(-log_p.mean()), float(log_p.std() / math.sqrt(len(log_p)))


# --- The binary mixture ----------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "k", "eps"), [((1, 4, 4), 4, 0.1), ((1, 3, 3), 3, 0.3)])
def test_binary_entropy_matches_enumeration_by_hamming_distance(shape, k, eps):
    source = BinaryMixtureSource(shape, k, eps, torch.Generator().manual_seed(1))
    bits = math.prod(shape)
    states = np.array(list(itertools.product([0, 1], repeat=bits)))  # (2^D, D)
    log_p = hamming_log_prob(source, states)
    assert np.exp(log_p).sum() == pytest.approx(1.0, abs=1e-12)  # a normalised source
    assert source.entropy() == pytest.approx(-(np.exp(log_p) * log_p).sum(), abs=1e-10)
    torch_log_p = source.log_prob(torch.as_tensor(states).reshape(-1, *shape))
    np.testing.assert_allclose(torch_log_p.numpy(), log_p, atol=1e-10)


def test_binary_entropy_closed_forms():
    one = BinaryMixtureSource((1, 4, 4), num_prototypes=1, flip_prob=0.2)
    assert one.entropy() == pytest.approx(16 * binary_entropy(0.2), abs=1e-10)
    # Far-apart prototypes barely overlap: H ≈ log K + D h(ε), and never above it.
    source = BinaryMixtureSource((1, 4, 4), 4, 0.01, torch.Generator().manual_seed(0))
    upper = math.log(4) + 16 * binary_entropy(0.01)
    assert upper - 0.05 < source.entropy() <= upper + 1e-12


def test_binary_samples_follow_the_stated_density():
    source = BinaryMixtureSource((1, 4, 4), 4, 0.1, torch.Generator().manual_seed(0))
    x, y = source.sample(100_000, torch.Generator().manual_seed(1))
    assert x.shape == (100_000, 1, 4, 4) and set(x.unique().tolist()) == {0.0, 1.0}
    estimate, error = monte_carlo_entropy(source.log_prob(x))
    assert abs(estimate - source.entropy()) < 4 * error
    flipped = (x.flatten(1) != source.prototypes[y]).double().mean()  # label = prototype
    assert flipped.item() == pytest.approx(0.1, abs=3e-3)
    assert torch.bincount(y).double().div(len(y)).sub(0.25).abs().max() < 0.01


# --- The linear-Gaussian source --------------------------------------------------------------


@pytest.fixture
def gaussian() -> LinearGaussianSource:
    return LinearGaussianSource((1, 4, 4), 2, 0.1, torch.Generator().manual_seed(0))


def _scipy(source: LinearGaussianSource):
    covariance = source.weight @ source.weight.T + source.noise_scale**2 * torch.eye(
        16, dtype=torch.float64
    )
    return stats.multivariate_normal(source.bias.numpy(), covariance.numpy())


def test_gaussian_entropy_and_density_match_scipy(gaussian):
    reference = _scipy(gaussian)
    assert gaussian.entropy() == pytest.approx(float(reference.entropy()), abs=1e-9)
    x, y = gaussian.sample(1_000, torch.Generator().manual_seed(1))
    np.testing.assert_allclose(gaussian.log_prob(x), reference.logpdf(x.flatten(1)), atol=1e-8)
    assert y.eq(-1).all() and gaussian.log_prob(x).shape == (1_000,)


def test_gaussian_samples_follow_the_stated_density(gaussian):
    x, _ = gaussian.sample(200_000, torch.Generator().manual_seed(2))
    estimate, error = monte_carlo_entropy(gaussian.log_prob(x))
    assert abs(estimate - gaussian.entropy()) < 4 * error
    flat = x.flatten(1)
    covariance = gaussian.weight @ gaussian.weight.T + 0.01 * torch.eye(16)
    assert torch.allclose(flat.mean(0), gaussian.bias, atol=0.02)
    assert torch.allclose(flat.T.cov(), covariance, atol=0.05, rtol=0.02)


def test_gaussian_entropy_closed_form_for_one_factor():
    """One factor w: det(σ² I + w wᵀ) = σ^(2D) (1 + |w|²/σ²) (matrix determinant lemma)."""
    source = LinearGaussianSource((1, 2, 3), factors=1, noise_scale=0.5)
    squared = float(source.weight.square().sum())
    expected = 3 * math.log(2 * math.pi * math.e) + 6 * math.log(0.5)
    expected += 0.5 * math.log1p(squared / 0.25)
    assert source.entropy() == pytest.approx(expected, abs=1e-10)


# --- The data module -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["binary", "gaussian"])
def test_synthetic_module_reports_the_source(kind):
    data = SyntheticDataModule(
        source=kind, train_size=500, val_size=50, test_size=70, source_seed=3
    )
    data.setup()
    assert [len(s) for s in (data.train_set, data.val_set, data.test_set)] == [500, 50, 70]
    assert data.entropy == data.source.entropy() and isinstance(data.entropy, float)
    x, y = next(iter(data.train_dataloader()))
    assert x.shape == (100, 1, 4, 4) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert data.log_prob(x).shape == (100,) and data.log_prob(x).dtype == torch.float64
    if kind == "binary":
        assert data.num_classes == 4 and 0 <= y.min() and y.max() < 4
    else:
        assert data.num_classes == 0 and y.eq(-1).all()


def test_synthetic_module_is_seeded():
    def draw(seed: int) -> tuple[torch.Tensor, float]:
        data = SyntheticDataModule(train_size=20, val_size=5, test_size=5, source_seed=seed)
        data.setup()
        return data.test_set.tensors[0], data.entropy

    (a, h_a), (b, h_b), (c, h_c) = draw(0), draw(0), draw(1)
    assert torch.equal(a, b) and h_a == h_b
    assert not torch.equal(a, c) and h_a != h_c


def test_synthetic_test_set_entropy_estimate():
    """−mean log p over the module's own test split estimates the entropy it reports."""
    data = SyntheticDataModule(source="gaussian", test_size=20_000, train_size=10, val_size=10)
    data.setup()
    estimate, error = monte_carlo_entropy(data.log_prob(data.test_set.tensors[0]))
    assert abs(estimate - data.entropy) < 4 * error + 1e-3  # + float32 rounding of x


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"source": "laplace"}, "unknown source 'laplace'"),
        ({"shape": (1, 5, 5)}, "at most 16 bits"),
        ({"flip_prob": 0.0}, "0 < flip_prob < 1"),
        ({"source": "gaussian", "factors": 17}, "0 < factors <= 16"),
        ({"source": "gaussian", "noise_scale": 0.0}, "noise_scale > 0"),
        ({"val_size": 0}, "split sizes must be >= 1"),
    ],
)
def test_synthetic_rejects_bad_arguments(arguments, message):
    with pytest.raises(ConfigError, match=message):
        SyntheticDataModule(**arguments)
