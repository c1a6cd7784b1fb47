"""A binary source small enough to enumerate, so that its entropy is exact."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Categorical, Independent, MixtureSameFamily

from rdframe.errors import ConfigError

MAX_BITS = 16


class BinaryMixtureSource:
    r"""p(x) = (1/K) Σ_k Π_i ε^[x_i ≠ μ_ki] (1 − ε)^[x_i = μ_ki]: one of K random binary
    prototypes μ_k, each of its D ≤ 16 bits flipped independently with probability ε.

    H(X) = −Σ_x p(x) log p(x) is summed exactly over all 2^D images (nats per example); the
    label y of an example is the index k of its prototype. A source of known entropy puts the
    bound R = H − D of Alemi et al., "Fixing a Broken ELBO" (2018), on the plot from truth.

    >>> source = BinaryMixtureSource((1, 2, 2), num_prototypes=1, flip_prob=0.5)
    >>> round(source.entropy() / math.log(2), 6)  # four fair coins: 4 bits
    4.0
    """

    def __init__(
        self,
        shape: Sequence[int] = (1, 4, 4),
        num_prototypes: int = 4,
        flip_prob: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> None:
        self.shape = tuple(shape)
        bits = math.prod(self.shape)
        if bits > MAX_BITS or num_prototypes < 1 or not 0 < flip_prob < 1:
            raise ConfigError(
                f"synthetic binary source: needs at most {MAX_BITS} bits, num_prototypes >= 1 "
                f"and 0 < flip_prob < 1; got shape {self.shape}, {num_prototypes}, {flip_prob}"
            )
        self.flip_prob = flip_prob
        prototypes = torch.randint(0, 2, (num_prototypes, bits), generator=generator)
        self.prototypes = prototypes.double()  # (K, D)
        on = self.prototypes * (1 - flip_prob) + (1 - self.prototypes) * flip_prob  # (K, D)
        self.distribution = MixtureSameFamily(
            Categorical(logits=torch.zeros(num_prototypes, dtype=torch.float64)),
            Independent(Bernoulli(probs=on), 1),
        )

    @property
    def num_classes(self) -> int:
        return len(self.prototypes)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """n images of ``shape`` in {0, 1} (float64) and the index of their prototype."""
        k = torch.randint(0, len(self.prototypes), (n,), generator=generator)  # (n,)
        flips = torch.rand(n, self.prototypes.shape[1], generator=generator) < self.flip_prob
        x = (self.prototypes[k] != flips.double()).double()  # (n, D): prototype XOR flips
        return x.reshape(n, *self.shape), k

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact log p(x) in nats, one value per image: shape x.shape[:-len(shape)]."""
        flat = x.to(torch.float64).flatten(-len(self.shape))  # (..., D)
        return self.distribution.log_prob(flat)

    def entropy(self) -> float:
        """H(X) in nats, by summing over all 2^D images."""
        bits = self.prototypes.shape[1]
        states = (torch.arange(2**bits)[:, None] >> torch.arange(bits)) & 1  # (2^D, D)
        log_p = self.distribution.log_prob(states.double())  # (2^D,)
        return float(-(log_p.exp() * log_p).sum())
