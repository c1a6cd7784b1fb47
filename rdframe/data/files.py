"""Data files on disk: where they live, whether they are all there, and whether they are intact.

A data set names its files by :class:`FileSpec` (path under ``data_dir``, size in bytes and
sha256 of the published file). :func:`require` says in one message which are missing and where
they come from; :func:`verify` checks one against its checksum and records, in the cache
folder, that a file of that size and modification time passed, so that a 100 MB hash is
computed once and not on every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

from rdframe.atomic import atomic_write
from rdframe.errors import DataError

__all__ = ["FileSpec", "atomic_write", "cache_root", "data_root", "download", "require", "verify"]

DATA_DIR_ENV = "RDFRAME_DATA_DIR"
CACHE_DIR_ENV = "RDFRAME_CACHE_DIR"
VERIFIED_FILE = "verified.json"


@dataclass(frozen=True)
class FileSpec:
    """One published file: ``path`` relative to ``data_dir``, its size and sha256; ``url``
    where it is downloaded from when the data set downloads file by file (else empty)."""

    path: str
    size: int
    sha256: str
    url: str = ""


def data_root(data_dir: str | os.PathLike | None, dataset: str) -> Path:
    """``data_dir``, else ``$RDFRAME_DATA_DIR``; a DataError when neither is set."""
    root = data_dir or os.environ.get(DATA_DIR_ENV)
    if not root:
        raise DataError(
            f"{dataset}: no data folder: set data.data_dir=PATH or the environment variable "
            f"{DATA_DIR_ENV}, and data.download=true on a connected machine to fetch the files"
        )
    return Path(root).expanduser().resolve()


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$RDFRAME_CACHE_DIR``, else ``~/.cache/rdframe``."""
    root = cache_dir or os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "rdframe"
    return Path(root).expanduser().resolve()


def require(root: Path, files: Iterable[FileSpec], dataset: str, origin: str) -> None:
    """Raise one DataError naming every missing file and where the set comes from."""
    files = list(files)
    missing = [f.path for f in files if not (root / f.path).is_file()]
    if missing:
        raise DataError(
            f"{dataset}: {len(missing)} of {len(files)} files missing under {root}: "
            f"{', '.join(missing)}. They come from {origin}; run once with data.download=true "
            f"on a connected machine, or copy them there (data.data_dir or ${DATA_DIR_ENV})"
        )


def sha256(path: Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, spec: FileSpec, dataset: str, cache: Path, origin: str) -> None:
    """Check ``path`` against ``spec``'s size and sha256 unless already verified as it is now."""
    size = path.stat().st_size
    if size != spec.size:
        state = "is truncated" if size < spec.size else "is longer than published"
        raise DataError(
            f"{dataset}: {path} {state}: {size:,} bytes where the published file has "
            f"{spec.size:,}. Delete it and download it again from {origin} (data.download=true)"
        )
    if _recorded(path, cache) == spec.sha256:
        return
    digest = sha256(path)
    if digest != spec.sha256:
        raise DataError(
            f"{dataset}: {path} fails its checksum: sha256 {digest}, published {spec.sha256}. "
            f"Delete it and download it again from {origin} (data.download=true)"
        )
    _record(path, digest, cache)


def _stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _read_records(cache: Path) -> dict[str, dict]:
    try:
        return json.loads((cache / VERIFIED_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _recorded(path: Path, cache: Path) -> str | None:
    """The sha256 recorded for ``path`` if its size and mtime are still those recorded."""
    record = _read_records(cache).get(str(path.resolve()))
    if record is None or {k: record.get(k) for k in ("size", "mtime_ns")} != _stamp(path):
        return None
    return record.get("sha256")


def _record(path: Path, digest: str, cache: Path) -> None:
    records = _read_records(cache)
    records[str(path.resolve())] = {**_stamp(path), "sha256": digest}
    atomic_write(cache / VERIFIED_FILE, json.dumps(records, indent=1).encode())


def download(spec: FileSpec, root: Path, dataset: str) -> None:
    """Fetch ``spec.url`` to ``root / spec.path`` unless it is there already."""
    target = root / spec.path
    if target.is_file():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with urllib.request.urlopen(spec.url) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out)
    except (URLError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"{dataset}: could not download {spec.url} to {target}: {error}. Check the "
            f"connection, or copy the file there by hand"
        ) from error
    os.replace(partial, target)
