"""python -m ingest replay PATH... : ingest several snapshots in registry-date order.

Files are ordered by the newest registration or modification date in their
own data (file names and mtimes say nothing reliable about that), then each
is ingested exactly as `python -m ingest --source PATH` would, so the
history between consecutive snapshots is recorded on the way. Every file is
read and parsed before the first one is ingested: a broken file stops the
replay before it has changed anything.
"""

import argparse
import sys
from pathlib import Path

from .errors import IngestError
from .fetch import read_local
from .parse import decode, parse


def newest_date(path: str) -> str:
    records = parse(decode(read_local(path).data))
    dates = [
        d for r in records for d in (r["registration_date"], r["modification_date"]) if d
    ]
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
    parser.add_argument("--db", default="data/iana.db", type=Path, help="database to (re)build")
    parser.add_argument("--raw-dir", type=Path, help="where ingested files are kept")
    parser.add_argument("--force", action="store_true", help="ingest a file even when it is the last one ingested")
    args = parser.parse_args(argv)
    try:
        ordered = order(args.paths)
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for date, path in ordered:
        print(f"replay {path} (newest registry date {date})")
        status = ingest_one(
            ["--source", path, "--db", str(args.db)]
            + (["--raw-dir", str(args.raw_dir)] if args.raw_dir else [])
            + (["--force"] if args.force else [])
        )
        if status:
            return status
    return 0
