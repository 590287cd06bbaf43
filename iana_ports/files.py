"""Files that readers see whole or not at all, and the processes that own them.

One way to write: into a temporary file beside the target, flushed to disk,
then renamed over it (readers see the old file or the new one, never half),
the folder synced so the rename survives a crash. Used by the exports, the
ingest's raw copies and its builds.
"""

import contextlib
import hashlib
import os
from pathlib import Path


def fsync(path: Path) -> None:
    """Flush a file's or a folder's entry to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_part(part: Path, chunks) -> dict:
    """Write `chunks` (bytes) to `part`, flushed to disk and readable by all:
    {"bytes", "sha256"} of what was written. The caller renames it with publish()."""
    h, size = hashlib.sha256(), 0
    try:
        with open(part, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
                h.update(chunk)
                size += len(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(part, 0o644)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise
    return {"bytes": size, "sha256": h.hexdigest()}


def publish(part: Path, path: Path) -> None:
    """Rename a finished part over `path` and make the rename durable."""
    os.replace(part, path)
    fsync(path.parent)


def atomic_write(path: Path, chunks) -> dict:
    """write_part() then publish(), under a temporary name that says which process wrote it."""
    path = Path(path)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    written = write_part(part, chunks)
    try:
        publish(part, path)
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise
    return written


def alive(pid: int) -> bool:
    """Whether process `pid` exists (another user's counts: it is not ours to clean up after)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
