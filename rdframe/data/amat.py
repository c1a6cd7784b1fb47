"""Larochelle's ``.amat`` text files of binary images, parsed once and cached as uint8 ``.npy``.

Each line holds one image, 784 pixels written ``0`` or ``1`` and separated by single spaces.
Parsing is vectorised over the raw bytes: the published layout (two bytes a pixel) is read
as a strided view, any other layout by dropping whitespace and counting pixels a line. The
array is then cached under a name made of the file's sha256, so a changed file can never be
read from a stale cache.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from rdframe.data.files import atomic_write
from rdframe.errors import DataError

PIXELS = 784
_ZERO, _ONE, _SPACE, _NEWLINE = ord("0"), ord("1"), ord(" "), ord("\n")


def parse_amat(text: bytes, name: str = "amat", origin: str = "its source") -> np.ndarray:
    """``(N, 784)`` uint8 pixels in {0, 1} from the bytes of an ``.amat`` file.

    >>> pixels = parse_amat(b"0 1 " * 391 + b"0 1\\n")
    >>> pixels.shape, pixels.dtype, pixels[0, :4].tolist()
    ((1, 784), dtype('uint8'), [0, 1, 0, 1])
    """
    raw = np.frombuffer(text, dtype=np.uint8)
    pixels = _fixed_width(raw)
    if pixels is None:  # not the published layout: split on any whitespace instead
        pixels = _any_whitespace(raw, name, origin)
    if not np.all((pixels == _ZERO) | (pixels == _ONE)):
        raise DataError(
            f"{name} holds values other than 0 and 1: not a binarised .amat file; "
            f"download it again from {origin}"
        )
    return pixels - _ZERO


def _fixed_width(raw: np.ndarray) -> np.ndarray | None:
    """Pixels as published: "p p … p\\n", 2 bytes a pixel; None if laid out otherwise."""
    if raw.size == 0 or raw.size % (2 * PIXELS):
        return None
    lines = raw.reshape(-1, 2 * PIXELS)  # (N, 1568)
    gaps = lines[:, 1::2]  # (N, 784): spaces, then the newline
    if not (np.all(gaps[:, :-1] == _SPACE) and np.all(gaps[:, -1] == _NEWLINE)):
        return None
    return lines[:, ::2]


def _any_whitespace(raw: np.ndarray, name: str, origin: str) -> np.ndarray:
    values = raw[raw > _SPACE]  # tabs, spaces, newlines and carriage returns fall below
    lines = int(np.count_nonzero(raw == _NEWLINE)) + int(raw.size > 0 and raw[-1] != _NEWLINE)
    if lines == 0 or values.size != lines * PIXELS:
        raise DataError(
            f"{name} is truncated or malformed: {values.size:,} values on {lines:,} lines, "
            f"not {PIXELS} a line; delete it and download it again from {origin}"
        )
    return values.reshape(lines, PIXELS)


def load_amat(
    path: Path, sha256: str, cache: Path, name: str | None = None, origin: str = "its source"
) -> np.ndarray:
    """The pixels of ``path`` (already verified to have ``sha256``), from cache when there;
    ``name`` and ``origin`` (where the file comes from) go into error messages."""
    cached = cache / f"{sha256}.npy"
    pixels = _read_cache(cached)
    if pixels is not None:
        return pixels
    pixels = parse_amat(path.read_bytes(), name or str(path), origin)
    buffer = io.BytesIO()
    np.save(buffer, pixels)
    atomic_write(cached, buffer.getvalue())
    return pixels


def _read_cache(path: Path) -> np.ndarray | None:
    """The pixels cached at ``path``; None if there are none, or none that can be trusted
    (an unreadable or foreign file is parsed again from the source and replaced)."""
    try:
        pixels = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != PIXELS:
        return None
    return pixels if pixels.max(initial=0) <= 1 else None
