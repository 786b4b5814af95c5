"""Recognising a full disk, whatever layer reported it.

Out of space reaches ftunlearn in several disguises: an ``OSError`` (ENOSPC; EFBIG under a
file-size limit, ``ulimit -f``; EDQUOT past a quota), SQLite's "database or disk is full", a
bare SQLite "disk I/O error" under a file-size limit (SQLite maps only ENOSPC to SQLITE_FULL),
a safetensors error that quotes the OS error in its text, or any of these wrapped by another
error (SQLAlchemy, :class:`UnlearnError`). A run that meets one stops at once: every later
write would fail too.
"""

from __future__ import annotations

import contextlib
import errno
import re
import resource
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)})
# how Rust's io::Error (safetensors) and Python quote an errno inside a message
_QUOTED = re.compile(r"os error (\d+)|Os \{ code: (\d+)|\[Errno (\d+)\]")


def _file_size_limited() -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return soft != resource.RLIM_INFINITY


def causes(error: BaseException) -> list[BaseException]:
    """``error`` and every error it was raised from or during (cycles cut)."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def out_of_space(error: BaseException) -> int | None:
    """The errno (ENOSPC, EFBIG or EDQUOT) when ``error`` or one of its causes means the disk,
    the quota or the file-size limit is full, else ``None``."""
    for cause in causes(error):
        if isinstance(cause, OSError) and cause.errno is not None:
            if cause.errno in SPACE_ERRNOS:
                return cause.errno
            continue
        found = _QUOTED.search(str(cause))
        if found and int(next(filter(None, found.groups()))) in SPACE_ERRNOS:
            return int(next(filter(None, found.groups())))
        if isinstance(cause, sqlite3.Error):
            name = getattr(cause, "sqlite_errorname", None) or ""
            if name == "SQLITE_FULL" or "database or disk is full" in str(cause):
                return errno.ENOSPC
            # SQLite reports EFBIG as a plain I/O error; only a file-size limit explains it here
            if name.startswith("SQLITE_IOERR") and _file_size_limited():
                return errno.EFBIG
    return None


def free_megabytes(path: str | Path) -> int | None:
    """Free space, in MB, of the file system holding ``path`` (its nearest existing folder)."""
    where = Path(path).absolute()
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        return shutil.disk_usage(where).free // 10**6
    except OSError:
        return None


class OutOfSpace(OSError):
    """A write of ``filename`` failed for want of space (``errno`` says which kind)."""

    def __init__(self, number: int, path: str | Path) -> None:
        super().__init__(number, _what_ran_out(number, path), str(path))

    def __str__(self) -> str:
        return str(self.strerror)


def _what_ran_out(number: int, path: str | Path) -> str:
    if number == errno.EFBIG:
        return (f"a file reached this process's file-size limit (`ulimit -f`) writing {path}; "
                "raise the limit")
    free = free_megabytes(path)
    room = f" ({free} MB free)" if free is not None else ""
    if number != errno.ENOSPC:
        return f"the disk quota is exhausted writing {path}{room}; free some of your files"
    return f"no space left on the device writing {path}{room}; free some space"


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an out-of-space error raised in the block into :class:`OutOfSpace` naming ``path``
    (the file or folder being written); any other error passes unchanged."""
    try:
        yield
    except OutOfSpace:
        raise
    except Exception as error:
        number = out_of_space(error)
        if number is None:
            raise
        raise OutOfSpace(number, path) from error
