"""python -m ingest replay PATH... : ingest several snapshots in registry-date order.

Files are ordered by the newest registration or modification date in their
own data (file names and mtimes say nothing reliable about that), then each
is ingested exactly as `python -m ingest --source PATH` would, so the
history between consecutive snapshots is recorded on the way. Every file is
read and parsed before the first one is ingested: a broken file stops the
replay before it has changed anything. Files whose registry is not newer
than the database's newest ingest are skipped (`--force` ingests them too).

The whole replay holds the database's lock (ingest/lock.py), so no other
ingest lands between two of its steps or between the check above and them.
"""

import argparse
import sys
from pathlib import Path

from iana_ports.facts import DEFAULT_DB, registry_date

from . import lock
from .build import last_ingest
from .errors import IngestError
from .fetch import read_local
from .parse import decode, parse


def newest_date(path: str) -> str:
    records = parse(decode(read_local(path).data))
    dates = [d for r in records for d in (r["registration_date"], r["modification_date"]) if d]
    if not dates:
        raise IngestError(f"{path}: no registration or modification date to order it by")
    return max(dates)


def order(paths: list[str]) -> list[tuple[str, str]]:
    """[(newest date, path)] oldest first; equal dates keep the order given."""
    dated = []
    for path in paths:
        try:
            dated.append((newest_date(path), path))
        except IngestError as exc:
            message = str(exc)
            raise IngestError(message if path in message else f"{path}: {message}") from None
    return sorted(dated, key=lambda item: item[0])


def main(argv: list[str], ingest_one) -> int:
    """`ingest_one(argv) -> exit status` is the flat `python -m ingest` CLI."""
    parser = argparse.ArgumentParser(prog="python -m ingest replay", description=__doc__)
    parser.add_argument("paths", nargs="+", metavar="PATH", help="registry CSV snapshots")
    parser.add_argument("--db", default=DEFAULT_DB, type=Path, help="database to (re)build")
    parser.add_argument("--raw-dir", type=Path, help="where ingested files are kept")
    parser.add_argument(
        "--force", action="store_true", help="ingest every file, even those not newer than the database"
    )
    parser.add_argument(
        "--allow-shrink", action="store_true", help="publish snapshots much smaller than the build before them"
    )
    parser.add_argument(
        "--lock-wait",
        type=lock.seconds,
        default=lock.LOCK_WAIT,
        help="seconds to wait for another ingest of the same database to finish",
    )
    args = parser.parse_args(argv)
    try:
        ordered = order(args.paths)
        with lock.hold(args.db, args.lock_wait):
            return _replay(args, ordered, ingest_one)
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {args.db}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (as python -m ingest)
        message = f"unexpected {type(exc).__name__}: {exc}; the database is as the last step left it"
        print(f"error: {message}", file=sys.stderr)
        return 1


def _replay(args, ordered: list[tuple[str, str]], ingest_one) -> int:
    # Replaying onto a database that already has newer data would record the
    # registry going backwards; such files are skipped unless forced.
    since = None if args.force else registry_date(last_ingest(args.db))
    for date, path in ordered:
        if since and date <= since:
            print(f"skip {path}: registry of {date} is not newer than the database's ({since})")
            continue
        print(f"replay {path} (newest registry date {date})")
        status = ingest_one(
            ["--source", path, "--db", str(args.db)]
            + (["--raw-dir", str(args.raw_dir)] if args.raw_dir else [])
            + (["--force"] if args.force else [])
            + (["--allow-shrink"] if args.allow_shrink else [])
        )
        if status:
            return status
    return 0
