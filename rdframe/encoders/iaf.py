"""Gaussian encoder followed by inverse autoregressive flow steps (IAF)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal, Transform, constraints

from rdframe._zuko import ComposedTransform, MaskedAutoregressiveTransform
from rdframe.components import Encoder
from rdframe.errors import ConfigError
from rdframe.nn import mlp, numel

Shape = torch.Size | tuple[int, ...]


class GatedShift(Transform):
    r"""The IAF update, element-wise: y = σ ⊙ x + (1 − σ) ⊙ m with σ = sigmoid(s + b).

    log|dy/dx| = Σ_i log σ_i. ``bias`` b > 0 starts the gate near the identity, as Kingma et
    al. (2016, §4) advise.

    >>> t = GatedShift(shift=torch.zeros(2), gate=torch.zeros(2), bias=0.0)  # σ = ½
    >>> t(torch.ones(2)), t.inv(torch.ones(2))
    (tensor([0.5000, 0.5000]), tensor([2., 2.]))
    """

    domain = constraints.real
    codomain = constraints.real
    bijective = True
    sign = +1

    def __init__(self, shift: Tensor, gate: Tensor, bias: float = 1.0) -> None:
        super().__init__()
        self.shift = shift
        self.log_gate = nn.functional.logsigmoid(gate + bias)
        self.gate = self.log_gate.exp()

    def _call(self, x: Tensor) -> Tensor:
        return self.gate * x + (1 - self.gate) * self.shift

    def _inverse(self, y: Tensor) -> Tensor:
        return (y - (1 - self.gate) * self.shift) / self.gate

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return self.log_gate.expand(x.shape)


class InverseAutoregressiveFlow(Distribution):
    r"""q(z_T|x): z_0 ~ ``base``, z_T = ``flow``(z_0), log q(z_T) = log q(z_0) − log|det ∂z_T/∂z_0|.

    Sampling and its log-density take one pass (``rsample_and_log_prob``, what RDModel
    uses). ``log_prob(z)`` of an arbitrary z must first invert the flow, which is sequential:
    latent_dim network passes per step — correct but slow; use it for checks, not training.

    >>> from torch.distributions.transforms import IndependentTransform
    >>> base = Independent(Normal(torch.zeros(5, 2), torch.ones(5, 2)), 1)
    >>> flow = IndependentTransform(GatedShift(torch.ones(2), torch.zeros(2)), 1)
    >>> q = InverseAutoregressiveFlow(base, flow)
    >>> z, log_q = q.rsample_and_log_prob((3,))
    >>> z.shape, torch.allclose(q.log_prob(z), log_q)
    (torch.Size([3, 5, 2]), True)
    """

    arg_constraints: dict[str, constraints.Constraint] = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self, base: Distribution, flow: Transform, validate_args: bool | None = None
    ) -> None:
        self.base = base
        self.flow = flow
        super().__init__(base.batch_shape, base.event_shape, validate_args=validate_args)

    def expand(
        self, batch_shape: torch.Size, _instance: Distribution | None = None
    ) -> Distribution:
        return InverseAutoregressiveFlow(self.base.expand(batch_shape), self.flow)

    def rsample_and_log_prob(self, sample_shape: Shape = ()) -> tuple[Tensor, Tensor]:
        z0 = self.base.rsample(sample_shape)  # (S, B, Z)
        z, ladj = self.flow.call_and_ladj(z0)  # (S, B, Z), (S, B)
        return z, self.base.log_prob(z0) - ladj

    def rsample(self, sample_shape: Shape = ()) -> Tensor:
        return self.flow(self.base.rsample(sample_shape))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        z0 = self.flow.inv(value)  # sequential inversion: the slow part
        _, ladj = self.flow.call_and_ladj(z0)
        return self.base.log_prob(z0) - ladj


class IAFEncoder(Encoder):
    r"""e(z|x): a Gaussian z_0 and a context h from one MLP, then T inverse autoregressive steps.

    ::

        x ─► MLP ─► μ, σ, h      z_0 = μ + σ ⊙ ε
        for t = 1..T:  [m_t, s_t] = MADE_t(z_{t−1}, h),  σ_t = sigmoid(s_t + gate_bias)
                       z_t = σ_t ⊙ z_{t−1} + (1 − σ_t) ⊙ m_t
        log e(z_T|x) = log N(z_0; μ, σ²) − Σ_t Σ_i log σ_{t,i}

    MADE_t is a masked MLP (Germain et al., 2015), so m_{t,i}, s_{t,i} depend on z_{t−1,<i}
    only; the order of the coordinates is reversed between steps. Kingma et al., "Improved
    Variational Inference with Inverse Autoregressive Flow" (NeurIPS 2016).

    >>> encoder = IAFEncoder(input_shape=(1, 8, 8), latent_dim=2, hidden=(16,), context_dim=4,
    ...                      transforms=2, flow_hidden=(8,))
    >>> posterior = encoder(torch.zeros(5, 1, 8, 8))
    >>> posterior.batch_shape, posterior.event_shape
    (torch.Size([5]), torch.Size([2]))
    >>> z, log_e = posterior.rsample_and_log_prob(torch.Size([3]))
    >>> z.shape, log_e.shape
    (torch.Size([3, 5, 2]), torch.Size([3, 5]))
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        latent_dim: int,
        hidden: Sequence[int] = (256, 256),
        context_dim: int = 32,
        transforms: int = 2,
        flow_hidden: Sequence[int] = (64, 64),
        gate_bias: float = 1.0,
        min_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        if transforms < 1:
            raise ConfigError(
                f"IAFEncoder needs transforms >= 1 flow steps; got {transforms}. "
                "Use encoder=mlp for a Gaussian encoder without a flow."
            )
        self.input_shape = tuple(input_shape)
        self.latent_dim = latent_dim
        self.context_dim = context_dim
        self.min_scale = min_scale
        self.net = mlp([numel(input_shape), *hidden, 2 * latent_dim + context_dim])
        self.steps = nn.ModuleList(
            self._step(order, flow_hidden, gate_bias) for order in self._orders(transforms)
        )

    def _orders(self, transforms: int) -> list[Tensor]:
        """Coordinate orders of the T steps: ascending, descending, ascending, …"""
        ascending = torch.arange(self.latent_dim)
        return [ascending if t % 2 == 0 else ascending.flip(0) for t in range(transforms)]

    def _step(self, order: Tensor, hidden: Sequence[int], gate_bias: float) -> nn.Module:
        """One IAF step: a MADE on (z_{t−1}, h) that parameterises a gated shift."""
        return MaskedAutoregressiveTransform(
            features=self.latent_dim,
            context=self.context_dim,
            order=order,
            univariate=partial(GatedShift, bias=gate_bias),
            shapes=((), ()),
            hidden_features=tuple(hidden),
        )

    def flow(self, context: Tensor | None) -> Transform:
        """z_0 ↦ z_T for the context h (B, context_dim), or None when context_dim is 0."""
        return ComposedTransform(*(step(context) for step in self.steps))

    def forward(self, x: Tensor) -> Distribution:
        out = self.net(x.flatten(-len(self.input_shape)))  # (B, 2Z + H)
        loc, raw_scale, context = out.split([self.latent_dim] * 2 + [self.context_dim], dim=-1)
        scale = nn.functional.softplus(raw_scale) + self.min_scale
        base = Independent(Normal(loc, scale), 1)
        return InverseAutoregressiveFlow(base, self.flow(context if self.context_dim else None))
