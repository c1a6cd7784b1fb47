"""Encoders e(z|x): modules that map x to a distribution over codes z."""

from rdframe.components import Encoder
from rdframe.encoders.bodies import GatedConvBody, MLPBody
from rdframe.encoders.conv import GaussianConvEncoder
from rdframe.encoders.gated import GatedMLPEncoder
from rdframe.encoders.iaf import IAFEncoder
from rdframe.encoders.mlp import GaussianMLPEncoder

__all__ = [
    "Encoder",
    "GatedConvBody",
    "GatedMLPEncoder",
    "GaussianConvEncoder",
    "GaussianMLPEncoder",
    "IAFEncoder",
    "MLPBody",
]
