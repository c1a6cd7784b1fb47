"""rdframe: rate–distortion analysis of latent-variable models.

Compose an encoder e(z|x), a decoder d(x|z) and a marginal m(z) into an :class:`RDModel`;
its :meth:`~RDModel.terms` gives per-example rate and distortion in nats.
"""

from rdframe.components import Decoder, Encoder, Marginal
from rdframe.model import RDModel, RDTerms
from rdframe.objectives import ELBO, BetaVAE, Objective

__all__ = ["ELBO", "BetaVAE", "Decoder", "Encoder", "Marginal", "Objective", "RDModel", "RDTerms"]
