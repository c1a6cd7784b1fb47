"""The real data sets, read from the shared read-only copies: sizes, values, splits, configs."""

from __future__ import annotations

import inspect
import itertools
from pathlib import Path

import pytest
import torch
from conftest import DATA_DIR
from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets import MNIST

from rdframe.data import (
    BinarizedMNISTDataModule,
    DigitsDataModule,
    DynamicBinarization,
    FashionMNISTDataModule,
    MNISTDataModule,
    RDDataModule,
    SyntheticDataModule,
)
from rdframe.data.tensors import Tensors
from rdframe.errors import ConfigError

CONF = Path(__file__).resolve().parents[1] / "rdframe" / "conf" / "data"

# Published facts about the sets, independent of any loader.
MNIST_TRAIN_LABELS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_LABELS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_MEAN, FASHION_MEAN = 0.1307, 0.2860  # mean grey level of the 60k training images


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """RDFRAME_DATA_DIR (the shared folder unless the environment names another), as the
    configs read it."""
    if not all((DATA_DIR / name).is_dir() for name in ("MNIST", "FashionMNIST", "BinarizedMNIST")):
        pytest.skip(f"the data folder {DATA_DIR} (RDFRAME_DATA_DIR) lacks the MNIST sets here")
    return DATA_DIR


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rdframe-cache")


@pytest.fixture(scope="session")
def mnist(data_dir, cache_dir) -> MNISTDataModule:
    data = MNISTDataModule(data_dir=data_dir, cache_dir=cache_dir)
    data.setup()
    return data


@pytest.fixture(scope="session")
def binarized(data_dir, cache_dir) -> BinarizedMNISTDataModule:
    """Parses the 110 MB of .amat once per session, into the session's cache."""
    data = BinarizedMNISTDataModule(data_dir=data_dir, cache_dir=cache_dir)
    data.prepare_data()
    data.setup()
    return data


def tensors(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    return dataset.tensors  # type: ignore[attr-defined]


def binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all() and x.min() == 0 and x.max() == 1)


def sizes(data: RDDataModule) -> list[int]:
    return [len(s) for s in (data.train_set, data.val_set, data.test_set)]


# --- MNIST and Fashion-MNIST -----------------------------------------------------------------


def test_mnist_split_sizes_values_and_labels(mnist):
    assert sizes(mnist) == [50_000, 10_000, 10_000]
    x, y = tensors(mnist.train_set)
    assert x.shape == (50_000, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() == 0 and x.max() == 1
    assert len(x[:1000].unique()) == 256  # grey levels k/255, not binarised
    fit_and_val = torch.cat([y, tensors(mnist.val_set)[1]])
    assert torch.bincount(fit_and_val).tolist() == MNIST_TRAIN_LABELS
    assert torch.bincount(tensors(mnist.test_set)[1]).tolist() == MNIST_TEST_LABELS
    all_train = torch.cat([x, tensors(mnist.val_set)[0]])
    assert all_train.double().mean().item() == pytest.approx(MNIST_MEAN, abs=1e-4)


def test_mnist_split_is_a_partition_of_the_official_training_set(mnist, data_dir):
    official = MNIST(data_dir, train=True).data.reshape(60_000, -1).double().sum(1)  # (60000,)
    ours = torch.cat([tensors(mnist.train_set)[0], tensors(mnist.val_set)[0]])
    ours = (ours.reshape(60_000, -1).double() * 255).round().sum(1)
    assert torch.equal(ours.sort().values, official.sort().values)
    test_official = MNIST(data_dir, train=False).data.unsqueeze(1).float() / 255
    assert torch.equal(tensors(mnist.test_set)[0], test_official)  # test set: official order


def test_mnist_split_follows_its_seed(data_dir, cache_dir, mnist):
    other = MNISTDataModule(data_dir=data_dir, cache_dir=cache_dir, split_seed=1)
    other.setup()
    again = MNISTDataModule(data_dir=data_dir, cache_dir=cache_dir)
    again.setup()
    assert torch.equal(tensors(again.val_set)[0], tensors(mnist.val_set)[0])
    assert not torch.equal(tensors(other.val_set)[1], tensors(mnist.val_set)[1])


def test_mnist_without_validation_trains_on_every_training_image(data_dir, cache_dir):
    """val_size=0, as the VIB's reference reads MNIST: all 60,000 training images, every
    digit in its published count, and a validation loader with no batch."""
    data = MNISTDataModule(data_dir=data_dir, cache_dir=cache_dir, val_size=0)
    data.setup()
    assert sizes(data) == [60_000, 0, 10_000]
    assert torch.bincount(tensors(data.train_set)[1]).tolist() == MNIST_TRAIN_LABELS
    assert len(data.val_dataloader()) == 0
    with pytest.raises(ConfigError, match=r"val_size must lie in \[0, 60000\), got -1"):
        MNISTDataModule(data_dir=data_dir, val_size=-1)


def test_a_run_without_validation_trains_and_tests(data_dir, tmp_path):
    """``data.val_size=0``: no validation loop, no best checkpoint; the run still trains,
    saves its last checkpoint and scores the test split."""
    from conftest import compose_config

    from rdframe.train import run

    result = run(compose_config(["experiment=repro_vib", "data.val_size=0", "logger=none",
                                 "trainer.max_epochs=1", "trainer.limit_train_batches=3"],
                                tmp_path))
    assert result.steps == 3 and 0 <= result.error <= 1
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()


def test_fashion_mnist_loads_with_balanced_classes(data_dir, cache_dir):
    data = FashionMNISTDataModule(data_dir=data_dir, cache_dir=cache_dir, val_size=5_000)
    data.setup()
    assert sizes(data) == [55_000, 5_000, 10_000]
    labels = torch.cat([tensors(s)[1] for s in (data.train_set, data.val_set)])
    assert torch.bincount(labels).tolist() == [6_000] * 10
    assert torch.bincount(tensors(data.test_set)[1]).tolist() == [1_000] * 10
    x = torch.cat([tensors(s)[0] for s in (data.train_set, data.val_set)])
    assert x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert x.double().mean().item() == pytest.approx(FASHION_MEAN, abs=1e-4)


def test_static_threshold_binarisation(data_dir, cache_dir, mnist):
    data = MNISTDataModule(data_dir=data_dir, cache_dir=cache_dir, binarize=True, dynamic=False)
    data.setup()
    for ours, grey in [(data.train_set, mnist.train_set), (data.val_set, mnist.val_set)]:
        assert torch.equal(tensors(ours)[0], (tensors(grey)[0] > 0.5).float())


def test_dynamic_binarisation_of_mnist(data_dir, cache_dir, mnist):
    data = MNISTDataModule(data_dir=data_dir, cache_dir=cache_dir, binarize=True)
    data.setup()
    assert isinstance(data.train_set, DynamicBinarization)
    first, again = data.train_set[0][0], data.train_set[0][0]
    assert binary(first) and not torch.equal(first, again)  # a fresh draw at every read
    loader = data.train_dataloader()
    draws = torch.cat([x for x, _ in itertools.islice(loader, 100)])  # 10,000 images
    assert draws.dtype == torch.float32 and binary(draws)
    grey_mean = tensors(mnist.train_set)[0].double().mean().item()
    assert draws.double().mean().item() == pytest.approx(grey_mean, abs=3e-3)  # E[x] = g
    # Evaluation sets are drawn once: binary, fixed across set-ups, means near the grey ones.
    again = MNISTDataModule(data_dir=data_dir, cache_dir=cache_dir, binarize=True)
    again.setup()
    assert torch.equal(tensors(again.test_set)[0], tensors(data.test_set)[0])
    assert binary(tensors(data.test_set)[0])
    assert not torch.equal(tensors(data.val_set)[0][:100], tensors(data.test_set)[0][:100])


# --- Dynamic binarisation --------------------------------------------------------------------


def _read_all(images: DynamicBinarization) -> torch.Tensor:
    return torch.stack([images[i][0] for i in range(len(images))])


def test_dynamic_binarization_is_fresh_reproducible_and_unbiased():
    grey = torch.linspace(0, 1, 64).reshape(1, 1, 8, 8).expand(500, 1, 8, 8)
    images = DynamicBinarization(grey, torch.zeros(500, dtype=torch.long), seed=3)
    a, b = _read_all(images), _read_all(images)
    assert not torch.equal(a, b)  # a fresh draw every epoch
    replay = DynamicBinarization(grey, torch.zeros(500, dtype=torch.long), seed=3)
    assert torch.equal(_read_all(replay), a)
    mean = torch.cat([a, b]).mean(0)  # 1000 draws per pixel: standard error <= 0.016
    assert (mean - grey[0]).abs().max() < 0.07
    assert a[:, 0, 0, 0].eq(0).all() and a[:, 0, -1, -1].eq(1).all()  # g = 0 and g = 1


def test_dynamic_binarization_gathers_a_batch_with_the_same_law():
    """A gathered batch (rdframe's loaders) draws in one call what reading example by example
    draws pixel by pixel: fresh, reproducible from the seed, unbiased, labels in step."""
    grey = torch.linspace(0, 1, 64).reshape(1, 1, 8, 8).expand(500, 1, 8, 8)
    images = DynamicBinarization(grey, torch.arange(500), seed=3)
    a, labels = images.gather(list(range(500)))
    assert torch.equal(labels, torch.arange(500)) and a.shape == (500, 1, 8, 8)
    assert not torch.equal(images.gather(list(range(500)))[0], a)
    replay = DynamicBinarization(grey, torch.arange(500), seed=3)
    assert torch.equal(replay.gather(range(500))[0], a)  # a slice draws as the list did
    assert (a.mean(0) - grey[0]).abs().max() < 0.1  # 500 draws per pixel: SE <= 0.023
    assert a[:, 0, 0, 0].eq(0).all() and a[:, 0, -1, -1].eq(1).all()


class _CountedReads(Tensors):
    """Tensors that count the examples read one at a time."""

    reads = 0

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        type(self).reads += 1
        return super().__getitem__(index)


@pytest.mark.parametrize("train", [True, False], ids=["train", "evaluation"])
def test_loaders_serve_whole_batches_equal_to_example_by_example_ones(train):
    """rdframe's loaders gather a batch in one index per tensor (no example read alone) and
    serve the batches, in the same order, that the DataLoader's own per-example reading
    and stacking gives."""
    data = DigitsDataModule(batch_size=32, seed=5)
    data.setup()
    dataset = _CountedReads(*data.train_set.tensors)
    loader = data._loader(dataset, train=train, batch_size=32)
    gathered = list(loader)
    assert _CountedReads.reads == 0
    order = {"batch_size": 32, "sampler": loader.sampler} if train else {
        "batch_sampler": loader.batch_sampler}
    stacked = list(DataLoader(Tensors(*dataset.tensors), **order))
    assert len(gathered) == len(stacked) == -(-len(dataset) // 32)
    for (x, y), (x0, y0) in zip(gathered, stacked):
        assert torch.equal(x, x0) and torch.equal(y, y0)


def _worker_draws() -> list[torch.Tensor]:
    images = DynamicBinarization(torch.full((8, 1, 8, 8), 0.5), torch.arange(8))
    loader = DataLoader(images, 1, num_workers=2, generator=torch.Generator().manual_seed(0))
    return [x for x, _ in loader]


def test_dynamic_binarization_workers_draw_different_noise_reproducibly():
    draws = _worker_draws()  # batches alternate between the two workers
    assert not torch.equal(draws[0], draws[1])  # equal with probability 2^-64
    assert all(torch.equal(a, b) for a, b in zip(draws, _worker_draws()))


# --- Binarized MNIST -------------------------------------------------------------------------


def test_binarized_mnist_sizes_values_and_labels(binarized):
    assert sizes(binarized) == [50_000, 10_000, 10_000]
    for dataset in (binarized.train_set, binarized.val_set, binarized.test_set):
        x, y = tensors(dataset)
        assert x.shape[1:] == (1, 28, 28) and x.dtype == torch.float32
        assert binary(x) and y.dtype == torch.int64 and y.eq(-1).all()
    assert binarized.num_classes == 0 and binarized.entropy is None


def test_binarized_mnist_is_a_bernoulli_draw_of_upright_mnist(binarized, mnist):
    """E[x] is MNIST's grey level, pixel by pixel: the images are neither transposed nor
    shifted (the standard error of a pixel mean over 50,000 images is at most 0.0023)."""
    binary = tensors(binarized.train_set)[0].double().mean(0)  # (1, 28, 28)
    grey = torch.cat([tensors(mnist.train_set)[0], tensors(mnist.val_set)[0]]).double().mean(0)
    assert (binary - grey).abs().max() < 0.02
    assert (binary - grey.transpose(-1, -2)).abs().max() > 0.2


def test_binarized_mnist_caches_outside_the_data_folder(binarized, data_dir, cache_dir):
    cached = sorted(p.name for p in (cache_dir / "binarized_mnist").glob("*.npy"))
    assert cached == sorted(f"{spec.sha256}.npy" for spec in binarized.files)
    assert sorted(p.name for p in (data_dir / "BinarizedMNIST").iterdir()) == [
        f"binarized_mnist_{split}.amat" for split in ("test", "train", "valid")
    ]
    assert (cache_dir / "verified.json").is_file()


def test_loaders_give_x_y_batches(binarized):
    x, y = next(iter(binarized.train_dataloader()))
    assert x.shape == (100, 1, 28, 28) and y.shape == (100,)
    x, _ = next(iter(binarized.test_dataloader()))
    assert torch.equal(x, tensors(binarized.test_set)[0][:100])  # evaluation is not shuffled


# --- Digits (the embedded default) keeps its behaviour ---------------------------------------


def test_digits_keeps_its_split_and_values():
    data = DigitsDataModule()
    data.setup()
    assert sizes(data) == [1197, 300, 300]
    x, y = tensors(data.train_set)
    assert set(x.unique().tolist()) == {0.0, 1.0} and y.max() == 9
    order = torch.randperm(1797, generator=torch.Generator().manual_seed(0))
    from sklearn.datasets import load_digits

    _, labels = load_digits(return_X_y=True)
    assert torch.equal(tensors(data.test_set)[1], torch.as_tensor(labels)[order[1497:]])


# --- Loader defaults -------------------------------------------------------------------------


def test_loader_defaults_and_overrides():
    assert DigitsDataModule().loader_options == {
        "num_workers": 0,
        "pin_memory": False,  # no trainer on CUDA attached
        "persistent_workers": False,
    }
    workers = DigitsDataModule(num_workers=2, pin_memory=True, eval_batch_size=7)
    assert workers.loader_options == {
        "num_workers": 2,
        "pin_memory": True,
        "persistent_workers": True,
    }
    workers.setup()
    assert {len(batch) for batch in workers.val_dataloader().batch_sampler} == {7, 300 % 7}
    assert (
        DigitsDataModule(num_workers=2, persistent_workers=False).loader_options[
            "persistent_workers"
        ]
        is False
    )


# --- Configs ---------------------------------------------------------------------------------

CLASSES = {
    "digits": DigitsDataModule,
    "mnist": MNISTDataModule,
    "fashion_mnist": FashionMNISTDataModule,
    "binarized_mnist": BinarizedMNISTDataModule,
    "synthetic": SyntheticDataModule,
}


def _arguments(cls: type) -> set[str]:
    names = set()
    for klass in (cls, RDDataModule):
        for p in inspect.signature(klass.__init__).parameters.values():
            if p.name != "self" and p.kind != p.VAR_KEYWORD:
                names.add(p.name)
    return names


def _compose(option: str):
    GlobalHydra.instance().clear()
    with initialize_config_module("rdframe.conf", version_base="1.3"):
        return compose("config", overrides=[f"data={option}"])


@pytest.mark.parametrize("option", sorted(CLASSES))
def test_config_lists_every_argument_and_builds_the_class(option, monkeypatch, tmp_path):
    monkeypatch.setenv("RDFRAME_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RDFRAME_CACHE_DIR", str(tmp_path / "cache"))
    cfg = _compose(option)
    assert set(cfg.data) - {"_target_"} == _arguments(CLASSES[option])
    data = instantiate(cfg.data)
    assert type(data) is CLASSES[option]
    if "data_dir" in cfg.data:
        assert data.data_dir == str(tmp_path / "data")
        assert data.cache_dir == str(tmp_path / "cache")


def test_config_options_are_the_design_names():
    assert sorted(p.stem for p in CONF.glob("*.yaml")) == sorted(CLASSES)
