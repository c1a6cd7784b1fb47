"""Properties of the checks on what a user hands in, over many generated inputs.

- Config values: for any latent_dim, iwae_samples, batch size, learning rate, β and σ, valid
  or not, :func:`check_config` either passes (and the config builds) or raises a ConfigError
  that names an offending key; never another exception.
- Data files: any bytes given as a binarised-MNIST ``.amat`` file or an MNIST idx file give
  the pixels or a DataError; never another exception.
"""

from __future__ import annotations

import hashlib
import math
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from conftest import compose_config
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rdframe.build import build_data, build_system
from rdframe.data import MNISTDataModule
from rdframe.data.amat import PIXELS, load_amat, parse_amat
from rdframe.data.files import FileSpec
from rdframe.data.mnist import IDX_FILES
from rdframe.errors import ConfigError, DataError
from rdframe.signatures import override_text
from rdframe.validate import check_config

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

# --- Config values ---------------------------------------------------------------------------

NOT_A_NUMBER = st.sampled_from(["abc", True, False, None, [1, 2]])
WHOLE = (st.integers(1, 12),
         st.one_of(st.integers(-5, 0), st.sampled_from([2.5, 1.0, -0.5]), NOT_A_NUMBER))
POSITIVE = (st.floats(1e-6, 10),
            st.one_of(st.floats(-1, 0), st.sampled_from([math.inf, math.nan]), NOT_A_NUMBER))
AT_LEAST_ZERO = (st.floats(0, 10),
                 st.one_of(st.floats(-1, -1e-6), st.sampled_from([math.inf, -math.inf]),
                           NOT_A_NUMBER))


def is_whole(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def is_real(value: object, low: float, strict: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value > low if strict else value >= low


@st.composite
def config_values(draw: st.DrawFn) -> dict[str, object]:
    """Values for the keys that take numbers; a few keys (often none) drawn from outside
    their range. Which values are invalid is decided by :func:`offending`, not here."""
    objective = draw(st.sampled_from(["beta_vae", "target_rate"]))
    kinds = {"latent_dim": WHOLE, "iwae_samples": WHOLE, "data.batch_size": WHOLE,
             "optimizer.lr": POSITIVE,
             "objective.beta" if objective == "beta_vae" else "objective.sigma": AT_LEAST_ZERO}
    bad = draw(st.sets(st.sampled_from(sorted(kinds)), max_size=2))
    values = {key: draw(kind[key in bad]) for key, kind in kinds.items()}
    return {"objective": objective, **values}


def offending(values: dict[str, object]) -> set[str]:
    """The keys whose value is invalid, by the rules the docs state."""
    rules = {
        "latent_dim": lambda v: is_whole(v, 1),
        "iwae_samples": lambda v: is_whole(v, 1),
        "data.batch_size": lambda v: is_whole(v, 1),
        "optimizer.lr": lambda v: is_real(v, 0, strict=True),
        "objective.beta": lambda v: is_real(v, 0),
        "objective.sigma": lambda v: is_real(v, 0),
    }
    return {key for key, valid in rules.items() if key in values and not valid(values[key])}


@SETTINGS
@given(values=config_values())
def test_check_config_passes_or_names_the_offending_key(values):
    overrides = [f"{key}={override_text(value)}" for key, value in values.items()]
    with tempfile.TemporaryDirectory() as folder:
        cfg = compose_config(overrides, Path(folder))
        bad = offending(values)
        event("valid" if not bad else "invalid")
        if not bad:
            check_config(cfg)
            build_data(cfg)
            build_system(cfg)
            return
        with pytest.raises(ConfigError) as error:
            check_config(cfg)
    assert str(error.value).split()[0] in bad, (str(error.value), bad)


# --- .amat files -----------------------------------------------------------------------------


def amat_bytes(pixels: np.ndarray) -> bytes:
    return "".join(" ".join(map(str, row)) + "\n" for row in pixels).encode()


@st.composite
def pixel_arrays(draw: st.DrawFn) -> np.ndarray:
    rows, seed = draw(st.integers(1, 3)), draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).integers(0, 2, (rows, PIXELS), dtype=np.uint8)


@st.composite
def damaged(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` cut short, with bytes changed, inserted or dropped, or replaced outright."""
    at = draw(st.integers(0, len(valid)))
    junk = draw(st.binary(min_size=1, max_size=16))
    kind = draw(st.sampled_from(["cut", "change", "insert", "drop", "header", "random"]))
    if kind == "cut":
        return valid[:at]
    if kind == "change":
        return valid[:at] + junk + valid[at + len(junk):]
    if kind == "insert":
        return valid[:at] + junk + valid[at:]
    if kind == "drop":
        return valid[:at] + valid[at + len(junk):]
    if kind == "header":
        return junk + b"\n" + valid
    return draw(st.binary(max_size=4 * PIXELS))


def check_pixels_or_data_error(text: bytes) -> None:
    try:
        pixels = parse_amat(text, "x.amat")
    except DataError:
        return
    assert pixels.dtype == np.uint8 and pixels.ndim == 2 and pixels.shape[1] == PIXELS
    assert set(np.unique(pixels)) <= {0, 1}


@SETTINGS
@given(data=st.data(), pixels=pixel_arrays())
def test_any_amat_bytes_give_pixels_or_a_data_error(data, pixels):
    check_pixels_or_data_error(data.draw(damaged(amat_bytes(pixels))))


@SETTINGS
@given(pixels=pixel_arrays(), gap=st.sampled_from([b" ", b"\t", b"  "]),
       end=st.sampled_from([b"\n", b"\r\n", b" \n"]))
def test_valid_amat_parses_to_its_pixels_however_spaced(pixels, gap, end):
    text = b"".join(gap.join(str(v).encode() for v in row) + end for row in pixels)
    np.testing.assert_array_equal(parse_amat(text), pixels)


@SETTINGS
@given(data=st.data(), pixels=pixel_arrays())
def test_a_damaged_cache_is_parsed_again(data, pixels):
    """A cache file that is not an array of binary pixels (cut short, overwritten) is not
    trusted: the source is parsed again, and never does an exception escape."""
    with tempfile.TemporaryDirectory() as folder:
        path, cache = Path(folder) / "x.amat", Path(folder) / "cache"
        path.write_bytes(amat_bytes(pixels))
        load_amat(path, "key", cache)
        cached = cache / "key.npy"
        cached.write_bytes(data.draw(damaged(cached.read_bytes())))
        loaded = load_amat(path, "key", cache)
    assert loaded.shape[1] == PIXELS and set(np.unique(loaded)) <= {0, 1}


# --- idx files -------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    """The idx layout of unsigned bytes: magic 0x0000080N, N big-endian dimensions, data."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@st.composite
def idx_sets(draw: st.DrawFn) -> dict[str, bytes]:
    """The four MNIST files, small, one of them (or none) damaged, or its header altered."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    n = draw(st.integers(1, 4))
    files = {}
    for name in IDX_FILES:
        shape = (n, 28, 28) if "images" in name else (n,)
        files[name] = idx_bytes(rng.integers(0, 256 if "images" in name else 10, shape))
    victim = draw(st.sampled_from([*IDX_FILES, None]))
    if victim is not None:
        header = struct.pack(">I", draw(st.integers(0, 2**32 - 1)))
        files[victim] = draw(st.one_of(damaged(files[victim]),
                                       st.just(header + files[victim][4:])))
    return files


def module_reading(files: dict[str, bytes], root: Path) -> type[MNISTDataModule]:
    """An MNIST module whose "published" files are these: the real reading code on them."""
    specs = []
    for name, content in files.items():
        path = root / "MNIST" / "raw" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        digest = hashlib.sha256(content).hexdigest()
        specs.append(FileSpec(f"MNIST/raw/{name}", len(content), digest))

    class Small(MNISTDataModule):
        pass

    Small.files = tuple(specs)
    return Small


@SETTINGS
@given(files=idx_sets())
def test_any_idx_bytes_give_a_data_error(files):
    """Small sets are never the published 60,000 + 10,000 images: a DataError every time,
    from the idx reader or from the size check, and never another exception."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        module = module_reading(files, root / "data")
        with pytest.raises(DataError, match=r"^mnist: .*idx") as error:
            module(data_dir=root / "data", cache_dir=root / "cache").setup()
    event("unreadable" if "cannot be read" in str(error.value) else "of the wrong size")
