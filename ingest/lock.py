"""One ingest at a time per database: an flock on `.<name>.lock` beside it.

`python -m ingest` and `python -m ingest replay` hold it from reading the
previous database (the "unchanged?" check, the history carried from it) to
the swap, so a second run waits and then works against the new file. The
kernel drops the lock when its process dies, `kill -9` included.

The holder removes the lock file before unlocking it, so no file is left
beside the database. A waiter that then gets the lock of a removed file sees
it is no longer the one at the path and tries again with the new one.
"""

import argparse
import contextlib
import fcntl
import os
import sys
import threading
import time
from pathlib import Path

from .errors import IngestError

LOCK_WAIT = 600.0  # seconds: longer than a download's deadline plus a build
POLL = 0.05


def seconds(text: str) -> float:
    """A command-line duration (--lock-wait, --timeout, --deadline)."""
    value = float(text)
    if not value >= 0:  # also refuses nan, which would make a wait endless
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text}")
    return value


# flock() conflicts between two opens in one process too: a replay holds the
# lock and calls the single-file ingest, whose hold() must then not wait. Per
# thread, so that another thread of the process waits like any other ingest.
_threads = threading.local()


class Busy(IngestError):
    """Another ingest kept the database for longer than we would wait."""


def lock_path(db: Path) -> Path:
    return db.with_name(f".{db.name}.lock")


@contextlib.contextmanager
def hold(db: Path, wait: float = LOCK_WAIT):
    db = Path(db)
    path = os.path.abspath(lock_path(db))
    held = _threads.__dict__.setdefault("held", {})
    if path in held:
        held[path] += 1
        try:
            yield
        finally:
            held[path] -= 1
        return
    fd = _acquire(Path(path), db, wait)
    held[path] = 1
    try:
        yield
    finally:
        del held[path]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.close(fd)


def _acquire(path: Path, db: Path, wait: float) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    give_up = time.monotonic() + wait
    told = False
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    pass
                holder = _holder(fd)
                if time.monotonic() >= give_up:
                    raise Busy(
                        f"another ingest of {db} is still running{holder}; "
                        f"gave up waiting after {wait:g} s (--lock-wait)"
                    )
                if not told and sys.stderr.isatty():
                    print(f"waiting for another ingest of {db}{holder} (up to {wait:g} s)", file=sys.stderr)
                    told = True
                time.sleep(POLL)
            if _is_current(fd, path):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _holder(fd: int) -> str:
    pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return f" (pid {pid})" if pid.isdigit() else ""


def _is_current(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)
