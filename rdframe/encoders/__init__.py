"""Encoders e(z|x): modules that map x to a distribution over codes z."""

from rdframe.components import Encoder
from rdframe.encoders.conv import GaussianConvEncoder
from rdframe.encoders.iaf import IAFEncoder
from rdframe.encoders.mlp import GaussianMLPEncoder

__all__ = ["Encoder", "GaussianConvEncoder", "GaussianMLPEncoder", "IAFEncoder"]
