"""The writer's lock of a run folder: one ``bench`` or ``tune`` process at a time per ``--out``.

``OUT/.lock`` is held with ``fcntl.flock`` (non-blocking) for as long as the run writes; it
records the holder's pid, host and start time so that a second writer is told who holds it.
The operating system releases the lock when the holder exits, however it exits, so a crash
never leaves a folder locked (the file itself stays and is reused).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from ftunlearn.errors import UnlearnError

LOCK_FILENAME = ".lock"


class OutDirLock:
    """``with OutDirLock(out):`` holds ``out/.lock`` or raises :class:`UnlearnError`."""

    def __init__(self, out_dir: str | Path) -> None:
        self.path = Path(out_dir) / LOCK_FILENAME
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise UnlearnError(f"cannot create the lock file {self.path}: {error}") from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise UnlearnError(
                f"{self.path.parent} is being written by another ftunlearn process ({holder}); "
                "wait for it to finish, or use another --out"
            ) from None
        except OSError as error:
            os.close(fd)
            raise UnlearnError(f"cannot lock {self.path}: {error}") from error
        # truncate only once held: the previous holder's record must survive a refused try
        record = {"pid": os.getpid(), "host": socket.gethostname(),
                  "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> OutDirLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    """``pid P on HOST since TIME`` from the lock file, or a plain note when unreadable."""
    try:
        record = json.loads(os.pread(fd, 4096, 0).decode())
        return f"pid {record['pid']} on {record['host']} since {record['started_at']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "a process that has not recorded itself yet"
