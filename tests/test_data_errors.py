"""Bad input fails with one clear DataError: missing sets, bad checksums, truncated files,
and data outside the decoder's support. Malformed files are small and made in a temp dir."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DATA_DIR

from rdframe.data import (
    BinarizedMNISTDataModule,
    FashionMNISTDataModule,
    MNISTDataModule,
    check_support,
)
from rdframe.data.amat import load_amat, parse_amat
from rdframe.data.files import FileSpec, verify
from rdframe.decoders import BernoulliMLPDecoder, GaussianMLPDecoder, LogisticMLPDecoder
from rdframe.errors import DataError

SPLITS = ("train", "valid", "test")


def amat_text(pixels: np.ndarray) -> bytes:
    """The published layout: one image a line, pixels separated by single spaces."""
    return "".join(" ".join(map(str, row)) + "\n" for row in pixels).encode()


def tiny_pixels(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, (rows, 784), dtype=np.uint8)


def spec_of(path: Path, root: Path, url: str = "") -> FileSpec:
    content = path.read_bytes()
    digest = hashlib.sha256(content).hexdigest()
    return FileSpec(str(path.relative_to(root)), len(content), digest, url)


@pytest.fixture
def tiny(tmp_path) -> tuple[type[BinarizedMNISTDataModule], Path]:
    """A data folder of three small .amat files (3, 2 and 2 images) and a module whose
    published checksums are theirs: the real loading code on files made here."""
    root = tmp_path / "data"
    (root / "BinarizedMNIST").mkdir(parents=True)
    files = []
    for i, (split, rows) in enumerate(zip(SPLITS, (3, 2, 2))):
        path = root / "BinarizedMNIST" / f"binarized_mnist_{split}.amat"
        path.write_bytes(amat_text(tiny_pixels(rows, i)))
        files.append(spec_of(path, root, url=path.as_uri()))

    class Tiny(BinarizedMNISTDataModule):
        pass

    Tiny.files = tuple(files)
    return Tiny, root


def shared(name: str) -> Path:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"the data folder {DATA_DIR} (RDFRAME_DATA_DIR) lacks {name} here")
    return path


# --- Missing sets ----------------------------------------------------------------------------


def test_missing_mnist_names_the_files_and_their_source(tmp_path):
    data = MNISTDataModule(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match=r"mnist: 4 of 4 files missing") as error:
        data.setup()
    message = str(error.value)
    assert "MNIST/raw/train-images-idx3-ubyte" in message and str(tmp_path) in message
    assert "torchvision.datasets.MNIST" in message and "data.download=true" in message


def test_missing_binarized_mnist_names_larochelles_files(tmp_path):
    data = BinarizedMNISTDataModule(data_dir=tmp_path, cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match=r"binarized_mnist: 3 of 3 files missing") as error:
        data.prepare_data()
    assert "BinarizedMNIST/binarized_mnist_valid.amat" in str(error.value)
    assert "www.cs.toronto.edu/~larocheh" in str(error.value)


def test_no_data_folder_at_all(monkeypatch):
    monkeypatch.delenv("RDFRAME_DATA_DIR", raising=False)
    with pytest.raises(DataError, match=r"fashion_mnist: no data folder.*RDFRAME_DATA_DIR"):
        FashionMNISTDataModule().setup()


def test_data_dir_defaults_to_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RDFRAME_DATA_DIR", str(tmp_path / "from-env"))
    with pytest.raises(DataError, match="from-env"):
        BinarizedMNISTDataModule(cache_dir=tmp_path).setup()


# --- Checksums and truncation, on the published specs ----------------------------------------


def test_corrupt_mnist_file_fails_its_checksum(tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        (raw / name).symlink_to(shared(f"MNIST/raw/{name}"))
    labels = bytearray(shared("MNIST/raw/t10k-labels-idx1-ubyte").read_bytes())
    labels[-1] = (labels[-1] + 1) % 10  # one wrong label, same size
    (raw / "t10k-labels-idx1-ubyte").write_bytes(bytes(labels))
    data = MNISTDataModule(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte fails its checksum") as error:
        data.setup()
    assert "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2" in str(error.value)


def test_truncated_amat_is_named_truncated(tmp_path):
    folder = tmp_path / "data" / "BinarizedMNIST"
    folder.mkdir(parents=True)
    for split in ("valid", "test"):
        name = f"binarized_mnist_{split}.amat"
        (folder / name).symlink_to(shared(f"BinarizedMNIST/{name}"))
    with shared("BinarizedMNIST/binarized_mnist_train.amat").open("rb") as stream:
        (folder / "binarized_mnist_train.amat").write_bytes(stream.read(1568 * 10 + 99))
    data = BinarizedMNISTDataModule(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match=r"binarized_mnist_train.amat is truncated: 15,779 bytes"):
        data.setup()


def test_bad_checksum_on_a_small_amat(tiny, tmp_path):
    module, root = tiny
    path = root / "BinarizedMNIST" / "binarized_mnist_valid.amat"
    text = bytearray(path.read_bytes())
    text[0] = ord("1") if text[0] == ord("0") else ord("0")  # one pixel flipped
    path.write_bytes(bytes(text))
    with pytest.raises(DataError, match=r"binarized_mnist: .*valid.amat fails its checksum"):
        module(data_dir=root, cache_dir=tmp_path / "cache").setup()


def test_truncated_amat_with_a_matching_checksum_fails_to_parse(tiny, tmp_path):
    """A file cut mid-line whose checksum was registered as it is: the parser catches it."""
    module, root = tiny
    path = root / "BinarizedMNIST" / "binarized_mnist_test.amat"
    path.write_bytes(path.read_bytes()[:-101])
    files = list(module.files)
    files[2] = spec_of(path, root)
    module.files = tuple(files)
    with pytest.raises(DataError, match=r"test.amat is truncated or malformed: 1,518 values") as e:
        module(data_dir=root, cache_dir=tmp_path / "cache").setup()
    assert str(e.value).startswith("binarized_mnist: ") and "larocheh" in str(e.value)


# --- The small-file path end to end ----------------------------------------------------------


def test_small_amat_set_loads_and_caches_outside_the_data_folder(tiny, tmp_path):
    module, root = tiny
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    data = module(data_dir=root, cache_dir=tmp_path / "cache")
    data.setup()
    assert [len(s) for s in (data.train_set, data.val_set, data.test_set)] == [3, 2, 2]
    expected = torch.as_tensor(tiny_pixels(3, 0)).float().reshape(3, 1, 28, 28)
    assert torch.equal(data.train_set.tensors[0], expected)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    cached = {p.name for p in (tmp_path / "cache" / "binarized_mnist").iterdir()}
    assert cached == {f"{spec.sha256}.npy" for spec in module.files}


def test_download_fetches_missing_files_from_their_urls(tiny, tmp_path):
    """``download=True`` fetches each missing file from its URL (here file://, no network)."""
    module, root = tiny
    mirror = tmp_path / "mirror"
    shutil.copytree(root, mirror)
    module.files = tuple(
        FileSpec(f.path, f.size, f.sha256, (mirror / f.path).as_uri()) for f in module.files
    )
    empty = tmp_path / "empty"
    data = module(data_dir=empty, download=True, cache_dir=tmp_path / "cache")
    data.prepare_data()
    data.setup()
    assert len(data.train_set) == 3
    assert (empty / "BinarizedMNIST" / "binarized_mnist_test.amat").is_file()


def test_failed_download_is_a_data_error(tiny, tmp_path):
    module, _ = tiny
    module.files = tuple(
        FileSpec(f.path, f.size, f.sha256, (tmp_path / "nowhere" / "x.amat").as_uri())
        for f in module.files
    )
    data = module(data_dir=tmp_path / "empty", download=True, cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match=r"binarized_mnist: could not download file://"):
        data.prepare_data()
    assert not list((tmp_path / "empty").rglob("*.part"))


# --- Verification records and the parse cache ------------------------------------------------


def test_verification_is_recorded_by_size_and_mtime(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"0123456789")
    spec = FileSpec("file.bin", 10, hashlib.sha256(b"0123456789").hexdigest())
    cache = tmp_path / "cache"
    verify(path, spec, "toy", cache, "nowhere")
    stamp = path.stat()
    path.write_bytes(b"9876543210")  # same size; put the old mtime back
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    verify(path, spec, "toy", cache, "nowhere")  # trusted: not hashed again
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))
    with pytest.raises(DataError, match="toy: .*file.bin fails its checksum"):
        verify(path, spec, "toy", cache, "nowhere")


def test_parsed_arrays_are_read_from_the_cache_by_checksum(tmp_path):
    path = tmp_path / "a.amat"
    path.write_bytes(amat_text(tiny_pixels(2, 0)))
    first = load_amat(path, "feed", tmp_path / "cache")
    path.write_bytes(amat_text(tiny_pixels(2, 1)))  # same checksum key: the cache answers
    np.testing.assert_array_equal(load_amat(path, "feed", tmp_path / "cache"), first)
    assert load_amat(path, "beef", tmp_path / "cache").tolist() == tiny_pixels(2, 1).tolist()


def test_parse_accepts_any_whitespace_and_rejects_non_binary_values():
    pixels = tiny_pixels(3, 0)
    other = b"".join(b"\t".join(str(v).encode() for v in row) + b"  \r\n" for row in pixels)
    np.testing.assert_array_equal(parse_amat(amat_text(pixels)), pixels)
    np.testing.assert_array_equal(parse_amat(other), pixels)
    with pytest.raises(DataError, match="values other than 0 and 1"):
        parse_amat(amat_text(pixels).replace(b"1", b"2", 1))
    with pytest.raises(DataError, match="truncated or malformed: 0 values on 0 lines"):
        parse_amat(b"")
    with pytest.raises(DataError, match="truncated or malformed: 2,352 values on 4 lines"):
        parse_amat(amat_text(pixels) + b"\n")  # a blank line is not an image


# --- Data outside the decoder's support ------------------------------------------------------


def decoder(cls: type, latent_dim: int = 2) -> torch.nn.Module:
    return cls(latent_dim=latent_dim, output_shape=(1, 4, 4), hidden=(8,)).double()


def test_grey_levels_into_a_bernoulli_decoder():
    grey = torch.rand(5, 1, 4, 4, dtype=torch.float64) * 0.5 + 0.25  # in [0.25, 0.75]
    with pytest.raises(DataError) as error:
        check_support(decoder(BernoulliMLPDecoder), 2, grey, "mnist")
    message = str(error.value)
    assert "'mnist'" in message and "BernoulliMLPDecoder" in message and "{0, 1}" in message
    assert "80 of 80 values" in message
    assert f"[{grey.min().item():.4g}, {grey.max().item():.4g}]" in message
    assert "data.binarize=true" in message and "decoder=logistic" in message


def test_binary_data_fits_a_bernoulli_decoder_and_names_only_offending_values():
    binary = torch.randint(0, 2, (5, 1, 4, 4)).double()
    check_support(decoder(BernoulliMLPDecoder), 2, binary, "binary")
    binary[2, 0, 1, 1] = 0.5
    with pytest.raises(DataError, match=r"1 of 80 values .* ranging over \[0.5, 0.5\]"):
        check_support(decoder(BernoulliMLPDecoder), 2, binary, "binary")


def test_unit_interval_and_real_supports():
    grey = torch.rand(4, 1, 4, 4, dtype=torch.float64)
    check_support(decoder(LogisticMLPDecoder), 2, grey, "mnist")
    check_support(decoder(GaussianMLPDecoder), 2, grey * 10 - 5, "synthetic")
    with pytest.raises(DataError, match=r"LogisticMLPDecoder.*\[0(\.0)?, 1(\.0)?\].*rescale"):
        check_support(decoder(LogisticMLPDecoder), 2, grey * 10 - 5, "synthetic")
    with pytest.raises(DataError, match="'synthetic' does not fit decoder GaussianMLPDecoder"):
        check_support(decoder(GaussianMLPDecoder), 2, grey.clone().fill_(float("nan")), "synthetic")
