"""Larochelle & Murray's statically binarised MNIST, read from the published ``.amat`` files."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from rdframe.data.amat import load_amat
from rdframe.data.base import RDDataModule
from rdframe.data.checksums import published
from rdframe.data.files import FileSpec, cache_root, data_root, download, require, verify
from rdframe.data.tensors import Tensors

URL = "http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist"
SPLITS = ("train", "valid", "test")


def _amat(split: str) -> FileSpec:
    name = f"binarized_mnist_{split}.amat"
    return published(f"BinarizedMNIST/{name}", url=f"{URL}/{name}")


class BinarizedMNISTDataModule(RDDataModule):
    """MNIST binarised once by sampling (Larochelle & Murray, "The Neural Autoregressive
    Distribution Estimator", AISTATS 2011; Salakhutdinov & Murray, 2008): the fixed benchmark
    of "Fixing a Broken ELBO" and most VAE papers, split 50,000 / 10,000 / 10,000 as published.

    Read from ``{data_dir}/BinarizedMNIST/binarized_mnist_{train,valid,test}.amat``; each file
    is checked against its published sha256 once, parsed once, and cached as a uint8 ``.npy``
    under ``{cache_dir}/binarized_mnist/`` (``cache_dir`` defaults to ``$RDFRAME_CACHE_DIR``,
    else ``~/.cache/rdframe``), never in the data folder. The set has no labels: y is -1 and
    ``num_classes`` is 0, so it serves the rate–distortion objectives, not the bottleneck.

    >>> BinarizedMNISTDataModule().shape
    (1, 28, 28)
    """

    name = "binarized_mnist"
    shape = (1, 28, 28)
    num_classes = 0
    files = tuple(_amat(split) for split in SPLITS)
    origin = f"Larochelle's site, {URL}/binarized_mnist_{{train,valid,test}}.amat"

    def __init__(
        self,
        data_dir: str | os.PathLike | None = None,
        download: bool = False,
        batch_size: int = 100,
        cache_dir: str | os.PathLike | None = None,
        **loader_options: int | bool | None,
    ) -> None:
        super().__init__(batch_size, **loader_options)
        self.data_dir, self.download, self.cache_dir = data_dir, download, cache_dir

    def prepare_data(self) -> None:
        """Download missing files when asked, check them, and parse each into the cache."""
        if self.download:
            for spec in self.files:
                download(spec, data_root(self.data_dir, self.name), self.name)
        self._load()

    def _load(self) -> list[torch.Tensor]:
        """The three splits as uint8 tensors of shape (N, 784), checked and cached."""
        root = data_root(self.data_dir, self.name)
        require(root, self.files, self.name, self.origin)
        cache = cache_root(self.cache_dir)
        return [self._pixels(root / spec.path, spec, cache) for spec in self.files]

    def _pixels(self, path: Path, spec: FileSpec, cache: Path) -> torch.Tensor:
        verify(path, spec, self.name, cache, self.origin)
        name = f"{self.name}: {path}"
        pixels = load_amat(path, spec.sha256, cache / self.name, name, self.origin)
        return torch.from_numpy(pixels)

    def setup(self, stage: str | None = None) -> None:
        sets = []
        for pixels in self._load():
            x = pixels.float().reshape(-1, *self.shape)  # (N, 1, 28, 28) in {0, 1}
            sets.append(Tensors(x, torch.full((len(x),), -1, dtype=torch.long)))
        self.train_set, self.val_set, self.test_set = sets
