"""MNIST and Fashion-MNIST, read by torchvision's own classes from torchvision's folder layout."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import datasets

from rdframe.data.base import RDDataModule
from rdframe.data.binarize import DynamicBinarization
from rdframe.data.checksums import published
from rdframe.data.files import FileSpec, cache_root, data_root, require, verify
from rdframe.data.tensors import Tensors
from rdframe.errors import ConfigError, DataError, one_line
from rdframe.seeding import derive_seed

TRAIN_SIZE = 60_000
TEST_SIZE = 10_000
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class IdxDataModule(RDDataModule):
    """A 28×28 grey set in torchvision's layout (``{data_dir}/{Class}/raw/*-idx?-ubyte``).

    Split (``val_size=10000`` by default): train and validation are the official 60,000
    training images split 50,000/10,000 by a permutation seeded with ``split_seed``
    (``val_size=0``: all 60,000 train, and no validation runs); test is the official 10,000.
    x holds grey levels in [0, 1]; with ``binarize`` it is binary: a fresh Bernoulli draw of
    the grey levels each epoch (``dynamic``; the validation and test images drawn once with
    ``binarize_seed``, the training draws with the run's ``seed`` too) or grey levels above
    ``threshold``. Files are checked against the published checksums on first
    use (the record is kept in ``cache_dir``).
    """

    dataset_class: type[datasets.MNIST]
    files: tuple[FileSpec, ...]
    shape = (1, 28, 28)
    num_classes = 10

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        download: bool = False,
        batch_size: int = 100,
        binarize: bool = False,
        dynamic: bool = True,
        threshold: float = 0.5,
        val_size: int = 10_000,
        split_seed: int = 0,
        binarize_seed: int = 0,
        cache_dir: str | os.PathLike | None = None,
        **loader_options: int | bool | None,
    ) -> None:
        super().__init__(batch_size, **loader_options)
        if not 0 <= val_size < TRAIN_SIZE:
            raise ConfigError(
                f"{self.name}: val_size must lie in [0, {TRAIN_SIZE}), got {val_size} (0: train "
                f"on all {TRAIN_SIZE:,} training images, with no validation)"
            )
        self.data_dir, self.download, self.cache_dir = data_dir, download, cache_dir
        self.binarize, self.dynamic, self.threshold = binarize, dynamic, threshold
        self.val_size, self.split_seed, self.binarize_seed = val_size, split_seed, binarize_seed

    @property
    def origin(self) -> str:
        mirrors = " or ".join(self.dataset_class.mirrors)
        return f"torchvision.datasets.{self.dataset_class.__name__} ({mirrors})"

    def prepare_data(self) -> None:
        """Download (once, on one process) when asked, then check every file."""
        if self.download:
            self._download(data_root(self.data_dir, self.name))
        self._check()

    def _check(self) -> Path:
        """The data folder, once every file is there and matches its published checksum."""
        root = data_root(self.data_dir, self.name)
        require(root, self.files, self.name, self.origin)
        for spec in self.files:
            verify(root / spec.path, spec, self.name, cache_root(self.cache_dir), self.origin)
        return root

    def _download(self, root: Path) -> None:
        try:
            self.dataset_class(root, train=True, download=True)
            self.dataset_class(root, train=False, download=True)
        except RuntimeError as error:
            raise DataError(f"{self.name}: download from {self.origin} failed: {error}") from error

    def setup(self, stage: str | None = None) -> None:
        root = self._check()  # a file verified before costs one stat
        train, test = self._read(root, train=True), self._read(root, train=False)
        self._check_size(root, train, "train", TRAIN_SIZE)
        self._check_size(root, test, "t10k", TEST_SIZE)
        order = torch.randperm(TRAIN_SIZE, generator=torch.Generator().manual_seed(self.split_seed))
        fit, val = order[self.val_size :], order[: self.val_size]
        rng = torch.Generator().manual_seed(self.binarize_seed)  # the fixed draws of val and test
        self.val_set = self._pairs(train.data[val], train.targets[val], rng)
        self.test_set = self._pairs(test.data, test.targets, rng)
        self.train_set = self._pairs(train.data[fit], train.targets[fit], rng, fixed=False)

    def _read(self, root: Path, train: bool) -> datasets.MNIST:
        """One split as torchvision reads it; a DataError if its files do not parse."""
        try:
            return self.dataset_class(root, train=train, download=False)
        except Exception as error:  # torchvision's idx parser fails in many ways on bad bytes
            files = self._split_files(root, "train" if train else "t10k")
            raise DataError(
                f"{self.name}: {files} cannot be read as idx files ({type(error).__name__}: "
                f"{one_line(error)}); delete them and download them again from {self.origin}"
            ) from None

    def _check_size(self, root: Path, split: datasets.MNIST, name: str, size: int) -> None:
        """A DataError unless ``split`` holds ``size`` images of 28×28 and as many labels."""
        images, labels = tuple(split.data.shape), tuple(split.targets.shape)
        if images != (size, *self.shape[1:]) or labels != (size,):
            raise DataError(
                f"{self.name}: {self._split_files(root, name)} hold images of shape {images} "
                f"and labels of shape {labels}, not the published {size:,} of 28×28; delete "
                f"them and download them again from {self.origin}"
            )

    def _split_files(self, root: Path, name: str) -> str:
        """``{root}/MNIST/raw/train-{images,labels}-idx?-ubyte``, for messages."""
        return f"{root / self.files[0].path.rsplit('/', 1)[0]}/{name}-{{images,labels}}-idx?-ubyte"

    def _pairs(
        self, images: Tensor, labels: Tensor, rng: torch.Generator, fixed: bool = True
    ) -> Dataset:
        """(x, y) pairs: grey, thresholded, or binarised once (``fixed``) or at every read."""
        x = images.unsqueeze(1).float() / 255  # (N, 1, 28, 28), grey levels in [0, 1]
        y = labels.long()
        if not self.binarize:
            return Tensors(x, y)
        if not self.dynamic:
            return Tensors((x > self.threshold).float(), y)
        if fixed:
            return Tensors(torch.bernoulli(x, generator=rng), y)
        return DynamicBinarization(x, y, seed=derive_seed(self.seed, self.binarize_seed))


class MNISTDataModule(IdxDataModule):
    """MNIST (LeCun, Cortes & Burges), 28×28 grey handwritten digits, labels 0–9.

    Split 50,000 / 10,000 / 10,000 (train, validation from the official training set; test).

    >>> MNISTDataModule(binarize=True).shape
    (1, 28, 28)
    """

    name = "mnist"
    dataset_class = datasets.MNIST
    files = tuple(published(f"MNIST/raw/{file}") for file in IDX_FILES)


class FashionMNISTDataModule(IdxDataModule):
    """Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017), 28×28 grey clothing images, 10 classes.

    Split 50,000 / 10,000 / 10,000 as for MNIST.

    >>> FashionMNISTDataModule().num_classes
    10
    """

    name = "fashion_mnist"
    dataset_class = datasets.FashionMNIST
    files = tuple(published(f"FashionMNIST/raw/{file}") for file in IDX_FILES)
