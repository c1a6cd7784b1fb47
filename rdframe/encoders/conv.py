"""Gaussian encoder with the gated-convolution body of "Fixing a Broken ELBO", Appendix F."""

from __future__ import annotations

from collections.abc import Sequence

import torch  # noqa: F401 (the doctest uses it)
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from rdframe.components import Encoder
from rdframe.encoders.bodies import GatedConvBody, body_features, check_body
from rdframe.nn import softplus


class GaussianConvEncoder(Encoder):
    r"""e(z|x) = N(z; μ(h), diag σ(h)²), h the gated-convolution body of Appendix F.

    ::

        x (C, H, W) ─► GatedConvBody ─► h (features,) ─► linear ─► μ, softplus(·) + min_scale ─► σ

    The body (:class:`~rdframe.encoders.bodies.GatedConvBody`) is built from ``channels``,
    ``strides``, ``kernel_size`` and ``features`` unless ``body`` gives one (any module x ↦ h;
    those four are then unused): the same body carries the IAF encoder's flow, so that the
    paper's "−" and "+" encoders differ by the flow alone. Alemi et al., "Fixing a Broken
    ELBO" (ICML 2018), Appendix F.

    >>> encoder = GaussianConvEncoder(input_shape=(1, 8, 8), latent_dim=2, channels=(4, 4),
    ...                               strides=(1, 2), features=8)
    >>> posterior = encoder(torch.zeros(5, 1, 8, 8))
    >>> posterior.batch_shape, posterior.event_shape
    (torch.Size([5]), torch.Size([2]))
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int = 64,
        channels: Sequence[int] = (32, 32, 64, 64),
        strides: Sequence[int] = (1, 2, 1, 2),
        kernel_size: int = 5,
        features: int = 256,
        min_scale: float = 1e-4,
        body: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.latent_dim = latent_dim
        self.min_scale = min_scale
        if body is None:
            body = GatedConvBody(input_shape, channels, strides, kernel_size, features)
        check_body(body, input_shape)
        self.body = body
        self.head = nn.Linear(body_features(body, input_shape), 2 * latent_dim)

    def forward(self, x: Tensor) -> Distribution:
        loc, raw_scale = self.head(self.body(x)).chunk(2, dim=-1)  # (B, Z)
        scale = softplus(raw_scale) + self.min_scale
        return Independent(Normal(loc, scale), 1)
