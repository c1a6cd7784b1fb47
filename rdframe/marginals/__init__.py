"""Marginals m(z): the distribution over codes used for the rate and for generation."""

from rdframe.components import Marginal
from rdframe.marginals.gaussian import DiagonalGaussian
from rdframe.marginals.maf import MAFMarginal
from rdframe.marginals.mog import MixtureOfGaussians
from rdframe.marginals.standard_normal import StandardNormal
from rdframe.marginals.vamp import UniformMixture, VampPrior

__all__ = [
    "DiagonalGaussian",
    "MAFMarginal",
    "Marginal",
    "MixtureOfGaussians",
    "StandardNormal",
    "UniformMixture",
    "VampPrior",
]
