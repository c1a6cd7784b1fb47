"""Decoders d(x|z): modules that map a code z to a distribution over data x."""

from rdframe.components import Decoder
from rdframe.decoders.classifier import CategoricalDecoder
from rdframe.decoders.conv import BernoulliConvDecoder
from rdframe.decoders.gated import GatedBernoulliDecoder
from rdframe.decoders.gaussian import GaussianMLPDecoder
from rdframe.decoders.logistic import DiscretizedLogistic, LogisticMLPDecoder
from rdframe.decoders.mlp import BernoulliMLPDecoder
from rdframe.decoders.pixelcnn import PixelCNNDecoder, PixelCNNDistribution

__all__ = [
    "BernoulliConvDecoder",
    "BernoulliMLPDecoder",
    "CategoricalDecoder",
    "Decoder",
    "GatedBernoulliDecoder",
    "DiscretizedLogistic",
    "GaussianMLPDecoder",
    "LogisticMLPDecoder",
    "PixelCNNDecoder",
    "PixelCNNDistribution",
]
