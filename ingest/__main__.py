"""python -m ingest: fetch -> parse -> build, with one-line errors.

One ingest at a time per database (ingest/lock.py). Effects, in order: the
raw copy is written into raw/ as a temporary file, the database is built
and checked beside the served one, the raw copy is renamed into place, then
the database is swapped in; nothing that can fail comes after the swap, so
an `error:` line always means the served database is unchanged. Before the
swap the publish guard (ingest/guard.py) compares the new build's figures
with the served one's and refuses a registry that shrank (--allow-shrink
publishes it anyway).
"""

import argparse
import contextlib
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from iana_ports.facts import COMMON_USES_CSV, DEFAULT_DB, IANA_CSV_URL, registry_date

from . import common_uses, guard, lock, replay
from .build import build, fsync, last_ingest, previous_figures, remove_stale
from .errors import IngestError
from .fetch import DEADLINE, MAX_BYTES, DownloadError, Fetched, Unchanged, download, is_url, read_local
from .history import carry
from .version import BUILD_VERSION
from .parse import decode, parse

OFFLINE_HINT = "; to build from a local copy instead: make IANA_CSV=path/to/service-names-port-numbers.csv"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["replay"]:
        return replay.main(argv[1:], main)
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description=__doc__.split("\n\n")[0],
        epilog="python -m ingest replay PATH... [--db D] ingests several snapshots in date order.",
    )
    parser.add_argument("--source", default=IANA_CSV_URL, help="URL or local path of the registry CSV")
    parser.add_argument("--db", default=DEFAULT_DB, type=Path, help="database to (re)build")
    parser.add_argument(
        "--common-uses", default=COMMON_USES_CSV, type=Path,
        help="the project's common-uses dataset built alongside (default: curated/common_uses.csv)",
    )
    parser.add_argument("--raw-dir", type=Path, help="where fetched files are kept (default: raw/ beside the database)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the source is unchanged")
    parser.add_argument(
        "--allow-shrink", action="store_true",
        help="publish even a registry much smaller than the last build (or, first, than the real one)",
    )
    parser.add_argument("--timeout", type=lock.seconds, default=30.0, help="seconds one HTTP read may wait")
    parser.add_argument(
        "--deadline", type=lock.seconds, default=DEADLINE,
        help="seconds the whole download (or read of a local file) may take, retries included",
    )
    parser.add_argument("--retries", type=int, default=3, help="retries after a failed HTTP attempt")
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES, help="refuse bigger sources (sent or decoded)")
    parser.add_argument(
        "--lock-wait", type=lock.seconds, default=lock.LOCK_WAIT,
        help="seconds to wait for another ingest of the same database to finish",
    )
    args = parser.parse_args(argv)
    interrupts = _HeldInterrupts()
    try:
        message = ingest(args, interrupts.hold)
    except DownloadError as exc:
        hint = OFFLINE_HINT if args.source == IANA_CSV_URL else ""
        return _failed(interrupts, f"error: {exc}{hint}")
    except IngestError as exc:
        return _failed(interrupts, f"error: {exc}")
    except (OSError, sqlite3.Error) as exc:
        # An unwritable --db folder, a full disk: expected, so no traceback.
        return _failed(interrupts, f"error: cannot write {args.db}: {exc}")
    except KeyboardInterrupt:
        # Interrupts are held from before the swap, so this one came earlier.
        return _failed(interrupts, "error: interrupted; the previous database is unchanged", 130)
    except Exception as exc:  # noqa: BLE001 - a bug or MemoryError is one line too, never a traceback
        # Nothing that can fail comes after the swap, so the served database is the previous one.
        return _failed(
            interrupts, f"error: unexpected {type(exc).__name__}: {exc}; the previous database is unchanged"
        )
    with contextlib.suppress(OSError):  # stdout gone (a closed pipe): the work is done all the same
        print(message)
    return 130 if interrupts.release() else 0


def _failed(interrupts: "_HeldInterrupts", line: str, status: int = 1) -> int:
    interrupts.release()
    print(line, file=sys.stderr)
    return status


class _HeldInterrupts:
    """Ctrl-C from just before the swap until the line reporting it waits for that line.

    Otherwise a KeyboardInterrupt landing right after the swap would be
    reported as a failure with the new database already served.
    """

    def __init__(self):
        self.pending = False
        self.previous = None
        self.holding = False

    def hold(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._note)
            self.holding = True

    def _note(self, signum, frame) -> None:
        self.pending = True

    def release(self) -> bool:
        """Stop holding; True when an interrupt arrived meanwhile."""
        if self.holding:
            signal.signal(signal.SIGINT, self.previous)
            self.holding = False
        return self.pending


def ingest(args, before_swap=lambda: None) -> str:
    # Read first: a bad dataset or a bad file fails before waiting for the lock.
    uses = common_uses.read(args.common_uses)
    local = None if is_url(args.source) else read_local(args.source, args.max_bytes, args.deadline)
    raw_dir = args.raw_dir or args.db.parent / "raw"
    with lock.hold(args.db, args.lock_wait):
        remove_stale(args.db)
        remove_stale_parts(raw_dir)
        last = last_ingest(args.db)
        # A changed dataset, layout or rule is a reason to rebuild even when the registry is not.
        stale = last and (last.get("common_uses_sha256") != uses[1] or last.get("build_version") != BUILD_VERSION)
        previous = None if args.force or stale else last
        served = previous_figures(args.db)
        if local is None:
            got = download(
                args.source,
                previous,
                timeout=args.timeout,
                retries=args.retries,
                max_bytes=args.max_bytes,
                deadline=args.deadline,
            )
        elif previous and local.sha256 == previous["sha256"]:
            got = Unchanged("the file is identical to the last ingest (same sha256)")
        else:
            got = local
        if isinstance(got, Unchanged):
            return f"unchanged: {got.reason}; {args.db} not rebuilt"
        records = parse(decode(got.data), today=got.fetched_at[:10])
        raw = raw_dir / f"{got.fetched_at[:10]}-{got.sha256}.csv"
        new_raw_dir = not raw_dir.exists()
        part = write_part(got, raw)

        def keep_raw_then_swap():
            if part is not None:
                publish(part, raw)
            before_swap()

        try:
            row = build(
                args.db,
                got,
                records,
                uses,
                history=carry,
                before_swap=keep_raw_then_swap,
                check_figures=lambda figures: guard.check(figures, served, args.allow_shrink),
            )
        except BaseException:
            # A refused build (the guard, a failed check) leaves no folder it made behind.
            if new_raw_dir:
                with contextlib.suppress(OSError):
                    if part is not None:
                        part.unlink(missing_ok=True)
                    raw_dir.rmdir()
            raise
        finally:
            if part is not None:
                with contextlib.suppress(OSError):
                    part.unlink(missing_ok=True)
    new, old = registry_date(row), registry_date(last)
    # Allowed (rolling back is a real need), but the history will read backwards.
    older = f"; warning: older than the last ingest's registry ({old})" if new and old and new < old else ""
    return (
        f"built {args.db}: {row['row_count']} registrations, newest registry date {new or 'none'}, "
        f"sha256 {row['sha256'][:12]}, raw copy {raw}{older}"
    )


def write_part(got: Fetched, raw: Path) -> Path | None:
    """Write the raw copy under a temporary name; None when it is already kept."""
    if raw.exists():
        return None
    part = raw.with_name(f".{raw.name}.{os.getpid()}.part")
    try:
        raw.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "wb") as f:
            f.write(got.data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise IngestError(f"cannot write raw copy {raw}: {exc}") from None
    return part


def publish(part: Path, raw: Path) -> None:
    try:
        os.replace(part, raw)
        fsync(raw.parent)
    except OSError as exc:
        raise IngestError(f"cannot write raw copy {raw}: {exc}") from None


def remove_stale_parts(raw_dir: Path) -> None:
    """Remove raw copies left half-written by runs that died.

    The writer's pid is in the name: a raw folder may be shared by several
    databases (--raw-dir), whose locks are not ours.
    """
    if not raw_dir.is_dir():
        return
    for part in raw_dir.glob("*.part"):
        pid = part.name.rsplit(".", 2)[-2]
        if not (pid.isdigit() and _alive(int(pid))):
            part.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(main())
