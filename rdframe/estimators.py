"""Estimators over a data set: the importance-weighted bound and the information metrics.

Everything is in nats per example unless a name says bits. Work is chunked over samples and
over examples so that a pass holds at most ``rows`` (sample, example) pairs, whatever k and N:
k = 5000 on the 10,000 MNIST test images streams through a few hundred MB. How many rows fit
a memory budget on a device: :mod:`rdframe.memory`.

::

    IWAE       log p(x) ≥ log (1/k) Σ_i d(x|z_i) m(z_i) / e(z_i|x),   z_i ~ e(z|x)
    bounds     H − D ≤ I(X;Z) ≤ R            (H from the data when known)
    aggregate  I(X;Z) ≳ E_i[log e(z_i|x_i) − log (1/N) Σ_j e(z_i|x_j)]   (≤ log N)
    active     #{u : Var_x(E[z_u|x]) > 0.01}   (Burda et al., 2016; Cov of two independent
               Monte-Carlo means where E[z|x] has no closed form)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, kl_divergence

from rdframe.components import rsample_and_log_prob

if TYPE_CHECKING:
    from rdframe.model import RDModel, RDTerms

ROWS = 10_000  # (sample, example) pairs per pass: bounds the memory of every estimator
ACTIVE_THRESHOLD = 0.01  # Burda et al.'s activity threshold on Var_x(E[z|x])


def log_mean_exp(chunks: Iterable[Tensor]) -> Tensor:
    """log (1/k) Σ_i exp(a_i) along dim 0 of chunks that together hold k rows, streamed.

    >>> a = torch.randn(10, 3, dtype=torch.float64)  # float64: exact to rounding, even near 0
    >>> torch.allclose(log_mean_exp(a.split(3)), a.logsumexp(0) - math.log(10))
    True
    """
    total, count = None, 0
    for chunk in chunks:
        part = torch.logsumexp(chunk, dim=0)
        total = part if total is None else torch.logaddexp(total, part)
        count += len(chunk)
    if total is None:
        raise ValueError("log_mean_exp needs at least one row")
    return total - math.log(count)


def log_weights(
    model: RDModel, marginal: Distribution, x: Tensor, z: Tensor, log_e: Tensor
) -> Tensor:
    """log d(x|z) + log m(z) − log e(z|x) of draws z (n, B, Z) of the examples x (B, …) whose
    log e(z|x) is ``log_e`` (n, B): the importance log-weights, shape (n, B)."""
    return model.decoder.log_likelihood(z, x) + marginal.log_prob(z) - log_e


def importance_log_weights(
    model: RDModel, x: Tensor, samples: int, chunk_size: int
) -> Iterator[Tensor]:
    """:func:`log_weights` of ``samples`` draws z ~ e(z|x), chunk by chunk."""
    posterior, marginal = model.encoder(x), model.marginal()
    for start in range(0, samples, chunk_size):
        n = min(chunk_size, samples - start)
        z, log_e = rsample_and_log_prob(posterior, torch.Size([n]))  # (n, B, Z), (n, B)
        yield log_weights(model, marginal, x, z, log_e)


def example_chunk(sample_chunk: int, rows: int = ROWS) -> int:
    """How many examples go through together when each carries ``sample_chunk`` samples."""
    return max(1, rows // max(1, sample_chunk))


@torch.no_grad()
def iwae_log_likelihood(model: RDModel, x: Tensor, samples: int, rows: int = ROWS) -> Tensor:
    """The k-sample importance-weighted bound on log p(x) for every example, shape (N,).

    The k draws z ~ e(z|x) are made example by example, all k of one example at once, in the
    order of ``x``; only then are they scored, ``rows`` (sample, example) pairs per pass. So
    from a given random state the estimate is the same whatever ``rows`` (the memory a pass may
    take, see :mod:`rdframe.memory`) and however ``x`` is split into calls, to rounding."""
    marginal = model.marginal()
    parts = []
    for part in x.split(example_chunk(samples, rows)):
        draws = [rsample_and_log_prob(model.encoder(example.unsqueeze(0)), torch.Size([samples]))
                 for example in part]
        z = torch.cat([d[0] for d in draws], dim=1)  # (k, G, Z)
        log_e = torch.cat([d[1] for d in draws], dim=1)  # (k, G)
        chunk = max(1, rows // len(part))  # samples per pass
        parts.append(log_mean_exp(log_weights(model, marginal, part, zs, log_es)
                                  for zs, log_es in zip(z.split(chunk), log_e.split(chunk))))
    return torch.cat(parts)


def bits_per_dim(nats: Tensor | float, dims: int) -> Tensor | float:
    """Nats per example → bits per data dimension (a code length only for a discrete
    likelihood: see :func:`discrete_likelihood`)."""
    return nats / (dims * math.log(2))


@torch.no_grad()
def discrete_likelihood(model: RDModel) -> bool:
    """Whether d(x|z) gives probabilities of discrete values (Bernoulli pixels, PixelCNN, a
    discretised logistic on its grid of ``num_levels``), so that −log p(x) / (D ln 2) is a
    code length in bits per dimension; False for a density (a Gaussian), whose NLL can be
    negative and whose bits per dimension would need a dequantised model and + log 256 per
    dimension. Read from the decoder's distribution at a zero code."""
    parameter = next(model.decoder.parameters(), None)
    options = {} if parameter is None else {"dtype": parameter.dtype, "device": parameter.device}
    likelihood = model.decoder(torch.zeros(1, model.encoder.latent_dim, **options))
    while isinstance(likelihood, Independent):
        likelihood = likelihood.base_dist
    if hasattr(likelihood, "num_levels"):
        return True
    try:
        return bool(likelihood.support.is_discrete)
    except NotImplementedError:
        return False


@torch.no_grad()
def rd_terms(
    model: RDModel, x: Tensor, target: Tensor | None = None, samples: int = 1, rows: int = ROWS
) -> RDTerms:
    """Rate and distortion of every example (``samples`` draws each), shape (N,) each."""
    from rdframe.model import RDTerms

    size = example_chunk(samples, rows)
    targets = x.split(size) if target is None else target.split(size)
    parts = [model.terms(xs, ts, samples) for xs, ts in zip(x.split(size), targets)]
    rate = torch.cat([p.rate for p in parts])
    return RDTerms(rate=rate, distortion=torch.cat([p.distortion for p in parts]))


def _pairwise_log_density(posteriors: list[Distribution], z: Tensor) -> Tensor:
    """log (1/N) Σ_j e(z_i|x_j) for each row z_i of ``z`` (M, Z), over posteriors of all x_j."""
    z = z.unsqueeze(1)  # (M, 1, Z) against a batch (N_j,) of posteriors
    return log_mean_exp(posterior.log_prob(z).T for posterior in posteriors)  # (M,)


@torch.no_grad()
def aggregate_posterior_mi(model: RDModel, x: Tensor, rows: int = ROWS) -> float:
    r"""I(X;Z) through the aggregate posterior q(z) = (1/N) Σ_j e(z|x_j) of the N examples.

    Î = (1/N) Σ_i [log e(z_i|x_i) − log (1/N) Σ_j e(z_i|x_j)], z_i ~ e(z|x_i): the
    minibatch estimate (InfoNCE with critic log e; Poole et al., ICML 2019), a lower bound on
    I(X;Z) in expectation and never above log N. Costs N² encoder densities, chunked.
    """
    size = max(1, math.isqrt(rows))  # size × size pairs per pass
    posteriors = [model.encoder(part) for part in x.split(size)]
    total = 0.0
    for posterior in posteriors:
        z, log_e = rsample_and_log_prob(posterior)  # (B, Z), (B,)
        total += (log_e - _pairwise_log_density(posteriors, z)).sum().item()
    return total / len(x)


def posterior_means(posterior: Distribution, samples: int = 100) -> tuple[Tensor, Tensor]:
    """Two estimates of E[z|x], shape (B, Z) each, with independent errors: the exact mean
    twice where the family knows it, else the means of two disjoint halves of ``samples``
    draws."""
    try:
        return posterior.mean, posterior.mean
    except NotImplementedError:
        z = rsample_and_log_prob(posterior, torch.Size([samples]))[0]  # (S, B, Z)
        return z[: samples // 2].mean(0), z[samples // 2 :].mean(0)


def column_covariance(a: Tensor, b: Tensor) -> Tensor:
    """Cov(a_u, b_u) over the rows of (N, Z) tensors, per column u, shape (Z,) (the variance
    when b is a).

    >>> a = torch.tensor([[0.0, 1.0], [2.0, 1.0]])
    >>> column_covariance(a, a), column_covariance(a, 2 * a)
    (tensor([1., 0.]), tensor([2., 0.]))
    """
    return ((a - a.mean(0)) * (b - b.mean(0))).mean(0)


@torch.no_grad()
def active_units(
    model: RDModel, x: Tensor, threshold: float = ACTIVE_THRESHOLD, rows: int = ROWS
) -> tuple[int, Tensor]:
    """Units u with Var_x(E[z_u|x]) > ``threshold`` (Burda et al., "Importance Weighted
    Autoencoders", 2016): their number and every unit's variance, shape (Z,).

    Where E[z|x] has no closed form (a flow), the variance of Monte-Carlo means would add
    their noise, ≈ Var(z|x)/S, enough to count an encoder that ignores x as active; the
    covariance across x of two independent means of S/2 draws each has no such term (their
    errors are independent of each other): an unbiased estimate of Var_x E[z|x]."""
    parts = x.split(example_chunk(100, rows))
    pairs = [posterior_means(model.encoder(part)) for part in parts]
    first, second = (torch.cat(means) for means in zip(*pairs))  # (N, Z) each
    variance = column_covariance(first, second)
    return int((variance > threshold).sum()), variance


def _factor_kl(posterior: Distribution, marginal: Distribution) -> Tensor | None:
    """KL per latent dimension, shape (B, Z), when both sides factorise over dimensions."""
    if not (isinstance(posterior, Independent) and isinstance(marginal, Independent)):
        return None
    if posterior.reinterpreted_batch_ndims != 1 or marginal.reinterpreted_batch_ndims != 1:
        return None
    try:
        return kl_divergence(posterior.base_dist, marginal.base_dist)
    except NotImplementedError:
        return None


@torch.no_grad()
def kl_per_dimension(model: RDModel, x: Tensor, rows: int = ROWS) -> Tensor | None:
    """E_x KL(e(z_u|x) ‖ m(z_u)) for each latent dimension u, shape (Z,), in nats; ``None``
    unless encoder and marginal both factorise with a closed-form KL per factor."""
    marginal = model.marginal()
    parts = [_factor_kl(model.encoder(part), marginal) for part in x.split(rows)]
    if any(part is None for part in parts):
        return None
    return torch.cat(parts).mean(0)


@torch.no_grad()
def predictive_error(
    model: RDModel, x: Tensor, y: Tensor, samples: int = 12, rows: int = ROWS
) -> float:
    """Error rate of argmax_y (1/S) Σ_s c(y|z_s), z_s ~ e(z|x), for a classifier decoder."""
    wrong, size = 0, example_chunk(samples, rows)
    for xs, ys in zip(x.split(size), y.split(size)):
        z = model.encoder(xs).rsample(torch.Size([samples]))  # (S, B, Z)
        probs = model.decoder(z).probs.mean(0)  # (B, C)
        wrong += int((probs.argmax(-1) != ys).sum())
    return wrong / len(y)


def label_entropy(y: Tensor) -> float:
    """H(Y) of the empirical label distribution, in nats (the plug-in estimate)."""
    p = torch.bincount(y.flatten()).double() / y.numel()
    p = p[p > 0]
    return float(-(p * p.log()).sum())
