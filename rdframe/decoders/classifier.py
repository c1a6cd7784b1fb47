"""Categorical classifier c(y|z) over labels, the decoder of the information bottleneck."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import torch  # noqa: F401 (the doctest uses it)
from torch import Tensor
from torch.distributions import Categorical, Distribution

from rdframe.components import Decoder
from rdframe.nn import mlp


class CategoricalDecoder(Decoder):
    r"""c(y|z) = Categorical(y; softmax(f(z))), f an MLP; y ∈ {0, …, num_classes − 1}.

    Scores the label y, not x (``target = "y"``): D_y = −log c(y|z) in nats per example.
    Alemi et al., "Deep Variational Information Bottleneck" (ICLR 2017).

    >>> decoder = CategoricalDecoder(latent_dim=2, num_classes=10, hidden=(16,))
    >>> classifier = decoder(torch.zeros(3, 5, 2))               # (S, B, Z)
    >>> classifier.log_prob(torch.arange(5)).shape               # (S, B)
    torch.Size([3, 5])
    """

    target: ClassVar[Literal["x", "y"]] = "y"

    def __init__(self, latent_dim: int, num_classes: int, hidden: Sequence[int] = (256,)) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.net = mlp([latent_dim, *hidden, num_classes])

    def forward(self, z: Tensor) -> Distribution:
        return Categorical(logits=self.net(z))  # batch shape z.shape[:-1]
