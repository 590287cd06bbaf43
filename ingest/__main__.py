"""python -m ingest: fetch -> parse -> build, with one-line errors."""

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from iana_ports.facts import COMMON_USES_CSV, DEFAULT_DB, IANA_CSV_URL, registry_date

from . import common_uses, replay
from .build import build, last_ingest
from .errors import IngestError
from .fetch import MAX_BYTES, Fetched, Unchanged, download, is_url, read_local
from .history import carry
from .parse import decode, parse


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["replay"]:
        return replay.main(argv[1:], main)
    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description=__doc__,
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
    parser.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout in seconds")
    parser.add_argument("--retries", type=int, default=3, help="retries after a failed HTTP attempt")
    parser.add_argument("--max-bytes", type=int, default=MAX_BYTES, help="refuse bigger sources")
    args = parser.parse_args(argv)
    try:
        print(ingest(args))
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, sqlite3.Error) as exc:
        # An unwritable --db folder, a full disk: expected, so no traceback.
        print(f"error: cannot write {args.db}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("error: interrupted; the previous database is unchanged", file=sys.stderr)
        return 130
    return 0


def ingest(args) -> str:
    last = last_ingest(args.db)
    # Read first: a bad dataset fails before any download.
    uses = common_uses.read(args.common_uses)
    # A changed dataset is a reason to rebuild even when the registry is not.
    previous = None if args.force or (last and last.get("common_uses_sha256") != uses[1]) else last
    if is_url(args.source):
        got = download(
            args.source,
            previous,
            timeout=args.timeout,
            retries=args.retries,
            max_bytes=args.max_bytes,
        )
    else:
        got = read_local(args.source, args.max_bytes)
        if previous and got.sha256 == previous["sha256"]:
            got = Unchanged("the file is identical to the last ingest (same sha256)")
    if isinstance(got, Unchanged):
        return f"unchanged: {got.reason}; {args.db} not rebuilt"
    records = parse(decode(got.data))
    row = build(args.db, got, records, uses, history=carry)
    raw = keep_raw(got, args.raw_dir or args.db.parent / "raw")
    new, old = registry_date(row), registry_date(last)
    # Allowed (rolling back is a real need), but the history will read backwards.
    older = f"; warning: older than the last ingest's registry ({old})" if new and old and new < old else ""
    return (
        f"built {args.db}: {row['row_count']} registrations, newest registry date {new or 'none'}, "
        f"sha256 {row['sha256'][:12]}, raw copy {raw}{older}"
    )


def keep_raw(got: Fetched, raw_dir: Path) -> Path:
    """Keep the fetched bytes as raw/<date>-<sha256>.csv (written then renamed)."""
    raw_dir.mkdir(parents=True, exist_ok=True)
    path = raw_dir / f"{got.fetched_at[:10]}-{got.sha256}.csv"
    if not path.exists():
        tmp = path.with_suffix(".part")
        tmp.write_bytes(got.data)
        os.replace(tmp, path)
    return path


if __name__ == "__main__":
    sys.exit(main())
