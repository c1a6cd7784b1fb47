"""rdframe: rate–distortion analysis of latent-variable models.

Compose an encoder e(z|x), a decoder d(x|z) and a marginal m(z) into an :class:`RDModel`;
its :meth:`~RDModel.terms` gives per-example rate and distortion in nats.

The names below are imported on first use, so that ``rdframe report``, ``rdframe plot`` and a
command line with a mistake in it answer without loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rdframe.components import Decoder, Encoder, Marginal
    from rdframe.model import RDModel, RDTerms
    from rdframe.objectives import ELBO, BetaVAE, Objective

_MODULES = {
    "Decoder": "rdframe.components",
    "Encoder": "rdframe.components",
    "Marginal": "rdframe.components",
    "RDModel": "rdframe.model",
    "RDTerms": "rdframe.model",
    "ELBO": "rdframe.objectives",
    "BetaVAE": "rdframe.objectives",
    "Objective": "rdframe.objectives",
}

__all__ = ["ELBO", "BetaVAE", "Decoder", "Encoder", "Marginal", "Objective", "RDModel", "RDTerms"]


def __getattr__(name: str) -> Any:
    if name not in _MODULES:
        raise AttributeError(f"module 'rdframe' has no attribute {name!r}")
    return getattr(importlib.import_module(_MODULES[name]), name)
