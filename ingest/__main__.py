"""python -m ingest: the arguments of one ingest (ingest/run.py), its outcome as one line.

An `error:` line always means the served database is unchanged; Ctrl-C is
held from just before the swap until the line reporting it is printed.
"""

import argparse
import contextlib
import signal
import sqlite3
import sys
import threading
from pathlib import Path

from iana_ports.facts import COMMON_USES_CSV, DEFAULT_DB, IANA_CSV_URL

from . import lock, replay, run, sources
from .errors import IngestError
from .fetch import DEADLINE, MAX_BYTES, DownloadError, is_url

XML_BESIDE = "beside"
OFFLINE_HINT = "; to build from a local copy instead: make IANA_CSV=path/to/service-names-port-numbers.csv"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["replay"]:
        return replay.main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description=__doc__.split("\n\n")[0],
        epilog="python -m ingest replay PATH... [--db D] builds once from many registry versions, with their history.",
    )
    parser.add_argument(
        "--source", default=IANA_CSV_URL, help="URL or local path of the registry, CSV or XML (gzip too)"
    )
    parser.add_argument(
        "--xml",
        default=XML_BESIDE,
        help="the registry XML of the same version, cross-checked with a CSV source and enriching the build: "
        f"a URL or local path, or none ({XML_BESIDE}: the .xml beside a .csv URL; none for a local file)",
    )
    parser.add_argument("--db", default=DEFAULT_DB, type=Path, help="database to (re)build")
    parser.add_argument(
        "--common-uses",
        default=COMMON_USES_CSV,
        type=Path,
        help="the project's common-uses dataset built alongside (default: curated/common_uses.csv)",
    )
    parser.add_argument("--raw-dir", type=Path, help="where fetched files are kept (default: raw/ beside the database)")
    parser.add_argument("--force", action="store_true", help="rebuild even when the source is unchanged")
    parser.add_argument(
        "--allow-shrink",
        action="store_true",
        help="publish even a registry much smaller than the last build (or, first, than the real one)",
    )
    parser.add_argument("--timeout", type=lock.seconds, default=30.0, help="seconds one HTTP read may wait")
    parser.add_argument(
        "--deadline",
        type=lock.seconds,
        default=DEADLINE,
        help="seconds the whole download (or read of a local file) may take, retries included",
    )
    parser.add_argument("--retries", type=int, default=3, help="retries after a failed HTTP attempt")
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES, help="refuse bigger sources (sent or decoded)")
    parser.add_argument(
        "--lock-wait",
        type=lock.seconds,
        default=lock.LOCK_WAIT,
        help="seconds to wait for another ingest of the same database to finish",
    )
    args = parser.parse_args(argv)
    xml = _xml(args.source, args.xml)
    interrupts = _HeldInterrupts()
    try:
        message = run.ingest(
            args.source,
            args.db,
            common_uses_csv=args.common_uses,
            raw_dir=args.raw_dir,
            force=args.force,
            allow_shrink=args.allow_shrink,
            timeout=args.timeout,
            deadline=args.deadline,
            retries=args.retries,
            max_bytes=args.max_bytes,
            lock_wait=args.lock_wait,
            before_swap=interrupts.hold,
            xml=xml,
        )
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
        return _failed(interrupts, f"error: unexpected {type(exc).__name__}: {exc}; the previous database is unchanged")
    with contextlib.suppress(OSError):  # stdout gone (a closed pipe): the work is done all the same
        print(message)
    return 130 if interrupts.release() else 0


def _xml(source: str, given: str) -> str | None:
    if given == "none":
        return None
    if given != XML_BESIDE:
        return given
    return sources.beside(source) if is_url(source) else None


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


if __name__ == "__main__":
    sys.exit(main())
