"""Gaussian encoder followed by inverse autoregressive flow steps (IAF)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal, Transform, constraints

from rdframe._zuko import ComposedTransform, MaskedAutoregressiveTransform
from rdframe.components import Encoder
from rdframe.encoders.bodies import MLPBody, body_features, check_body
from rdframe.encoders.fixed_point import implicit_fixed_point
from rdframe.errors import ConfigError
from rdframe.nn import softplus

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


class IAFStep(Transform):
    r"""One IAF step for a context h: z_t = σ ⊙ z_{t−1} + (1 − σ) ⊙ m, (m, s) = MADE(z_{t−1}, h).

    The forward direction is one pass of the masked network. The inverse, which the density
    of an arbitrary z needs (the VampPrior evaluates e(z|u_k) at every code z for every
    pseudo-input u_k), is the fixed point of z_{t−1} ↦ (z_t − (1 − σ) ⊙ m) / σ with (m, σ)
    read at the current guess: started at z_t, it stops when a pass changes nothing —
    exact, and after far fewer than the latent_dim passes of a plain sequential inversion
    when the step is near the identity (see :mod:`rdframe.encoders.fixed_point`). The
    context's share of the first masked layer is computed once, not once per pass, and no
    graph is kept for the passes: gradients follow from the implicit function theorem.

    >>> from rdframe._zuko import MaskedAutoregressiveTransform
    >>> made = MaskedAutoregressiveTransform(3, 2, univariate=GatedShift, shapes=((), ()))
    >>> step = IAFStep(made, torch.randn(2))
    >>> x = torch.randn(3)
    >>> torch.allclose(step.inv(step(x)), x, atol=1e-6)
    True
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, made: MaskedAutoregressiveTransform, context: Tensor | None) -> None:
        super().__init__()
        self.made = made
        self.transform = made(context)  # the forward direction, as zuko computes it
        self.context = context

    def _call(self, x: Tensor) -> Tensor:
        return self.transform(x)

    def call_and_ladj(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.transform.call_and_ladj(x)

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        return self.transform.log_abs_det_jacobian(x, y)

    def _inverse(self, y: Tensor) -> Tensor:
        if not isinstance(self.made, MaskedAutoregressiveTransform):  # latent_dim 1: no MADE
            return self.transform.inv(y)  # element-wise, in closed form
        return implicit_fixed_point(self._update(y), y, max_iter=self.made.passes + 1)

    def _update(self, y: Tensor) -> Callable[[Tensor], Tensor]:
        """x ↦ (y − (1 − σ(x)) ⊙ m(x)) / σ(x), the context term of the first layer made once."""
        first, *rest = self.made.hyper  # a masked linear layer, then activations and layers
        features = y.shape[-1]
        weight = first.mask * first.weight  # (H₁, Z + C): x's columns, then the context's
        bias = first.bias
        if self.context is not None:
            bias = nn.functional.linear(self.context, weight[:, features:], bias)  # (…, H₁)
        x_weight = weight[:, :features]

        def update(x: Tensor) -> Tensor:
            phi = nn.functional.linear(x, x_weight) + bias  # (…, H₁)
            for layer in rest:
                phi = layer(phi)  # … (…, 2Z)
            shift, gate = phi.unflatten(-1, (-1, 2)).unbind(-1)  # (…, Z) each
            return self.made.univariate(shift, gate).inv(y)

        return update


class InverseAutoregressiveFlow(Distribution):
    r"""q(z_T|x): z_0 ~ ``base``, z_T = ``flow``(z_0), log q(z_T) = log q(z_0) − log|det ∂z_T/∂z_0|.

    Sampling and its log-density take one pass (``rsample_and_log_prob``, what RDModel
    uses). ``log_prob(z)`` of an arbitrary z first inverts the flow, step by step from the
    last (:class:`IAFStep`: a fixed-point iteration, exact, usually a few passes per step),
    then runs it forward once for log|det|.

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
        z0 = self.flow.inv(value)  # step by step, last step first
        _, ladj = self.flow.call_and_ladj(z0)
        return self.base.log_prob(z0) - ladj


class IAFEncoder(Encoder):
    r"""e(z|x): a body h = body(x), a Gaussian z_0 and a context c from h, then T IAF steps.

    ::

        x ─► body ─► h ─► linear ─► μ, σ, c      z_0 = μ + σ ⊙ ε
        for t = 1..T:  [m_t, s_t] = MADE_t(z_{t−1}, c),  σ_t = sigmoid(s_t + gate_bias)
                       z_t = σ_t ⊙ z_{t−1} + (1 − σ_t) ⊙ m_t
        log e(z_T|x) = log N(z_0; μ, σ²) − Σ_t Σ_i log σ_{t,i}

    The body is any module x ↦ h (:mod:`rdframe.encoders.bodies`): by default an MLP of
    ``hidden`` widths; with :class:`~rdframe.encoders.bodies.GatedConvBody` this is the "+"
    encoder of Alemi et al. (2018), the conv encoder's body with a flow on top. MADE_t is a
    masked MLP (Germain et al., 2015), so m_{t,i}, s_{t,i} depend on z_{t−1,<i} only; the
    order of the coordinates is reversed between steps. Kingma et al., "Improved Variational
    Inference with Inverse Autoregressive Flow" (NeurIPS 2016).

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
        hidden: Sequence[int] | None = None,
        context_dim: int = 32,
        transforms: int = 2,
        flow_hidden: Sequence[int] = (64, 64),
        gate_bias: float = 1.0,
        min_scale: float = 1e-4,
        body: nn.Module | None = None,
    ) -> None:
        super().__init__()
        if transforms < 1:
            raise ConfigError(
                f"IAFEncoder needs transforms >= 1 flow steps; got {transforms}. "
                "Use encoder=mlp or encoder=conv for a Gaussian encoder without a flow."
            )
        self.input_shape = tuple(input_shape)
        self.latent_dim = latent_dim
        self.context_dim = context_dim
        self.min_scale = min_scale
        self.body = _body(body, hidden, self.input_shape)
        self.head = nn.Linear(body_features(self.body, input_shape), 2 * latent_dim + context_dim)
        self.steps = nn.ModuleList(
            self._step(order, flow_hidden, gate_bias) for order in self._orders(transforms)
        )

    def _orders(self, transforms: int) -> list[Tensor]:
        """Coordinate orders of the T steps: ascending, descending, ascending, …"""
        ascending = torch.arange(self.latent_dim)
        return [ascending if t % 2 == 0 else ascending.flip(0) for t in range(transforms)]

    def _step(self, order: Tensor, hidden: Sequence[int], gate_bias: float) -> nn.Module:
        """One IAF step: a MADE on (z_{t−1}, c) that parameterises a gated shift."""
        return MaskedAutoregressiveTransform(
            features=self.latent_dim,
            context=self.context_dim,
            order=order,
            univariate=partial(GatedShift, bias=gate_bias),
            shapes=((), ()),
            hidden_features=tuple(hidden),
        )

    def flow(self, context: Tensor | None) -> Transform:
        """z_0 ↦ z_T for the context c (B, context_dim), or None when context_dim is 0."""
        return ComposedTransform(*(IAFStep(step, context) for step in self.steps))

    def forward(self, x: Tensor) -> Distribution:
        out = self.head(self.body(x))  # (B, 2Z + C)
        loc, raw_scale, context = out.split([self.latent_dim] * 2 + [self.context_dim], dim=-1)
        scale = softplus(raw_scale) + self.min_scale
        base = Independent(Normal(loc, scale), 1)
        return InverseAutoregressiveFlow(base, self.flow(context if self.context_dim else None))


def _body(body: nn.Module | None, hidden: Sequence[int] | None, shape: tuple) -> nn.Module:
    """The given body, else an MLP of ``hidden`` widths (256, 256 by default)."""
    if body is None:
        return MLPBody(shape, (256, 256) if hidden is None else hidden)
    if hidden is not None:
        raise ConfigError(
            f"IAFEncoder takes a body or hidden widths, not both; got hidden={list(hidden)} "
            "and a body: set the widths on the body (encoder.body.hidden=…)"
        )
    check_body(body, shape)
    return body


@contextmanager
def sequential_inverse() -> Iterator[None]:
    """Within it, :class:`IAFStep` inverts by zuko's plain inverse (latent_dim passes, every one
    differentiated) instead of the fixed point: the reference the fast path is checked and
    timed against."""
    fast = IAFStep._inverse
    IAFStep._inverse = lambda self, y: self.transform.inv(y)
    try:
        yield
    finally:
        IAFStep._inverse = fast
