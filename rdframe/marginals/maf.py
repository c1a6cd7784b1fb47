"""An autoregressive-flow marginal: a masked autoregressive flow (MAF) over codes."""

from __future__ import annotations

from collections.abc import Sequence

import torch  # noqa: F401 (the doctest uses it)
from torch import nn
from torch.distributions import Distribution

from rdframe._zuko import MAF
from rdframe.components import Marginal
from rdframe.errors import ConfigError


class MAFMarginal(Marginal):
    r"""m(z) = N(u; 0, I) |det ∂u/∂z|, u = f_K ∘ … ∘ f_1(z), each f_k masked autoregressive.

    f_k(z)_i = z_i e^{a_i} + b_i with (a_i, b_i) = MADE_k(z_{<i}) (Germain et al., 2015), the
    coordinate order reversed between steps. log m(z) takes one pass (the rate); sampling
    inverts f sequentially, latent_dim passes per step (generation). Papamakarios et al.,
    "Masked Autoregressive Flow for Density Estimation" (NeurIPS 2017); built on zuko's MAF.

    >>> marginal = MAFMarginal(latent_dim=3, transforms=2, hidden=(8,))
    >>> z = marginal().rsample((4,))
    >>> z.shape, marginal().log_prob(z).shape
    (torch.Size([4, 3]), torch.Size([4]))
    """

    def __init__(
        self, latent_dim: int, transforms: int = 3, hidden: Sequence[int] = (64, 64)
    ) -> None:
        super().__init__()
        if transforms < 1:
            raise ConfigError(
                f"MAFMarginal needs transforms >= 1 flow steps; got {transforms}. "
                "Use marginal=standard_normal for a marginal without a flow."
            )
        self.latent_dim = latent_dim
        self.flow = MAF(latent_dim, transforms=transforms, hidden_features=tuple(hidden))

    @property
    def steps(self) -> nn.ModuleList:
        """The K masked autoregressive transforms f_k; ``steps[k]()`` is f_k as a Transform."""
        return self.flow.transform.transforms

    def forward(self) -> Distribution:
        return self.flow()
