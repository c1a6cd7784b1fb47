"""Data modules: batches of (x, y) with the shape, classes and entropy of the source."""

from rdframe.data.base import RDDataModule
from rdframe.data.binarize import DynamicBinarization
from rdframe.data.binarized_mnist import BinarizedMNISTDataModule
from rdframe.data.binary_source import BinaryMixtureSource
from rdframe.data.digits import DigitsDataModule
from rdframe.data.gaussian_source import LinearGaussianSource
from rdframe.data.mnist import FashionMNISTDataModule, MNISTDataModule
from rdframe.data.support import check_support
from rdframe.data.synthetic import SyntheticDataModule

__all__ = [
    "BinarizedMNISTDataModule",
    "BinaryMixtureSource",
    "DigitsDataModule",
    "DynamicBinarization",
    "FashionMNISTDataModule",
    "LinearGaussianSource",
    "MNISTDataModule",
    "RDDataModule",
    "SyntheticDataModule",
    "check_support",
]
