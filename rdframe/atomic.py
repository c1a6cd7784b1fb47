"""Files written whole or not at all: a temporary file beside the target, renamed into place.

A reader (or a run resumed after a crash) sees either the previous file or the new one, never
half of either. Standard library only, so that plotting and reporting stay free of torch.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path to write in place of ``path``; renamed onto it when the block ends
    without error, removed otherwise. The suffix is kept, so that writers that choose a format
    by extension (matplotlib's ``savefig``) still do.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "table.csv"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("a,b\\n")
    >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
    ('a,b\\n', ['table.csv'])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.fchmod(handle, _mode(path))  # mkstemp's 0600 would hide results from other readers
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        with tmp.open("rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _mode(path: Path) -> int:
    """The permissions ``path`` has, or those a new file gets under the process's umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write(path: Path | str, content: bytes | str) -> Path:
    """Write ``content`` (text as UTF-8) to ``path`` through a temporary file; return ``path``."""
    data = content.encode() if isinstance(content, str) else content
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)
