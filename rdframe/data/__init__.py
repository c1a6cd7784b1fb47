"""Data modules: batches of (x, y) with the shape, classes and entropy of the source."""

from rdframe.data.base import RDDataModule
from rdframe.data.digits import DigitsDataModule

__all__ = ["DigitsDataModule", "RDDataModule"]
