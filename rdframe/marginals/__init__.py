"""Marginals m(z): the distribution over codes used for the rate and for generation."""

from rdframe.components import Marginal
from rdframe.marginals.standard_normal import StandardNormal

__all__ = ["Marginal", "StandardNormal"]
