"""scikit-learn's 8×8 handwritten digits: the embedded default data set, no download needed."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from rdframe.data.base import RDDataModule
from rdframe.data.tensors import Tensors
from rdframe.errors import ConfigError


class DigitsDataModule(RDDataModule):
    """1,797 grey 8×8 digits (UCI optdigits, as shipped by scikit-learn), labels 0–9.

    Grey levels 0–16 are scaled to [0, 1]; with ``binarize`` they are thresholded at
    ``threshold`` to {0, 1} for a Bernoulli decoder. The split is fixed by ``split_seed``:
    ``val_size`` and ``test_size`` examples, the rest (1,197 by default) for training.

    >>> data = DigitsDataModule()
    >>> data.setup()
    >>> [len(s) for s in (data.train_set, data.val_set, data.test_set)]
    [1197, 300, 300]
    """

    name = "digits"
    shape = (1, 8, 8)
    num_classes = 10

    def __init__(
        self,
        batch_size: int = 100,
        binarize: bool = True,
        threshold: float = 0.5,
        val_size: int = 300,
        test_size: int = 300,
        split_seed: int = 0,
        **loader_options: int | bool | None,
    ) -> None:
        super().__init__(batch_size, **loader_options)
        if val_size < 1 or test_size < 1 or val_size + test_size >= 1797:
            raise ConfigError(f"digits: val_size={val_size}, test_size={test_size} leave no split")
        self.binarize, self.threshold = binarize, threshold
        self.sizes = (1797 - val_size - test_size, val_size, test_size)
        self.split_seed = split_seed

    def setup(self, stage: str | None = None) -> None:
        images, labels = load_digits(return_X_y=True)
        x = torch.as_tensor(images, dtype=torch.float32).reshape(-1, *self.shape) / 16.0
        if self.binarize:
            x = (x > self.threshold).float()
        y = torch.as_tensor(labels, dtype=torch.long)
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(self.split_seed))
        train, val, test = order.split(self.sizes)
        self.train_set = Tensors(x[train], y[train])
        self.val_set = Tensors(x[val], y[val])
        self.test_set = Tensors(x[test], y[test])
