"""One daemon per data dir: an exclusive `flock` on DATA_DIR/daemon.lock holding its PID."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from citizen.errors import AlreadyRunningError


class DaemonLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunningError naming the running daemon's PID."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunningError(
                f"A citizen daemon (pid {other}) is already running on {self.path.parent}.",
                f"Stop it first (`kill {other}`), or use another --data-dir.",
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
