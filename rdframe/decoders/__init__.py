"""Decoders d(x|z): modules that map a code z to a distribution over data x."""

from rdframe.components import Decoder
from rdframe.decoders.mlp import BernoulliMLPDecoder

__all__ = ["BernoulliMLPDecoder", "Decoder"]
