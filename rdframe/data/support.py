"""Can the decoder model the data at all? Values outside its support have no likelihood."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, constraints

from rdframe.errors import DataError


def check_support(decoder: nn.Module, latent_dim: int, x: Tensor, dataset: str) -> None:
    """Raise DataError if some values of ``x`` lie outside the support of ``decoder``'s
    distribution (grey levels into a Bernoulli decoder, say), which would make the distortion
    −log d(x|z) meaningless. The distribution is built on a zero latent batch of x's size.
    A distribution whose support is undeclared or dependent is not checked.

    >>> from rdframe.decoders import BernoulliMLPDecoder
    >>> decoder = BernoulliMLPDecoder(latent_dim=2, output_shape=(1, 2, 2), hidden=(4,))
    >>> check_support(decoder, 2, torch.ones(3, 1, 2, 2), "ones")  # binary: fine
    >>> check_support(decoder, 2, torch.full((3, 1, 2, 2), 0.5), "greys")
    Traceback (most recent call last):
    ...
    rdframe.errors.DataError: data 'greys' does not fit decoder BernoulliMLPDecoder: ...
    """
    distribution = _distribution(decoder, latent_dim, x)
    try:
        support = distribution.support
    except NotImplementedError:
        return
    if constraints.is_dependent(support):
        return
    x = x.to(_device(decoder, x))
    inside = support.check(x)  # (B,) through Independent, or elementwise
    if not bool(inside.all()):
        raise DataError(_message(decoder, distribution, support, x, dataset))


def _device(decoder: nn.Module, x: Tensor) -> torch.device:
    parameter = next(decoder.parameters(), None)
    return x.device if parameter is None else parameter.device


def _distribution(decoder: nn.Module, latent_dim: int, x: Tensor) -> Distribution:
    parameter = next(decoder.parameters(), None)
    dtype = x.dtype if parameter is None else parameter.dtype
    z = torch.zeros(len(x), latent_dim, dtype=dtype, device=_device(decoder, x))  # (B, Z)
    with torch.no_grad():
        return decoder(z)


def _elementwise(support: constraints.Constraint) -> constraints.Constraint:
    while isinstance(support, constraints.independent):
        support = support.base_constraint
    return support


def _message(
    decoder: nn.Module,
    distribution: Distribution,
    support: constraints.Constraint,
    x: Tensor,
    dataset: str,
) -> str:
    base = _elementwise(support)
    outside = x[~base.check(x)] if base.event_dim == 0 else x.flatten()
    return (
        f"data {dataset!r} does not fit decoder {type(decoder).__name__}: its distribution "
        f"{_name(distribution)} has support {_describe(base)}, but {outside.numel():,} of "
        f"{x.numel():,} values of the batch lie outside it, ranging over "
        f"[{outside.min().item():.4g}, {outside.max().item():.4g}]; {_fix(base)}"
    )


def _name(distribution: Distribution) -> str:
    while isinstance(distribution, Independent):
        distribution = distribution.base_dist
    return type(distribution).__name__


def _describe(support: constraints.Constraint) -> str:
    if support is constraints.boolean:
        return "{0, 1}"
    if isinstance(support, constraints.interval):
        return f"[{support.lower_bound}, {support.upper_bound}]"
    return type(support).__name__.lstrip("_")


def _fix(support: constraints.Constraint) -> str:
    if support is constraints.boolean:
        return (
            "binarise the data (data.binarize=true, or data=binarized_mnist) or model grey "
            "levels with a continuous decoder (decoder=logistic or decoder=gaussian)"
        )
    return "rescale the data into that support or choose a decoder whose support holds it"
