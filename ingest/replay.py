"""python -m ingest replay PATH... : many registry versions, one build.

Every file (a registry CSV, or its XML, either gzip-compressed) is read and
parsed first, so a broken one stops the replay before anything changed.
Files are put in registry-date order: the XML's own <updated>, else the
newest registration or modification date in the data (file names and mtimes
say nothing reliable). A CSV and an XML of the same registry date are one
version when they agree as the live ingest cross-checks them
(sources.cross_check: the 2026-02-25 pair differs only in one Reference, which
the CSV has newer): the CSV's records, what the live ingest fetches and
compares by sha256, enriched by the XML. Copies that disagree are both
recorded, in the order given.

Consecutive versions are compared in memory with ingest/diff.py's rules and
the database is built ONCE, from the newest version, with an `ingests` row
per version and every change between them (ingest/history.py's carry with
`earlier`). The result is what ingesting the versions one by one would
leave, in a fraction of the time (README "Registry history"), and a later
`python -m ingest` continues it.

Versions not newer than the database's newest ingest are skipped (`--force`
replays them too). Only the newest version is published, so only it passes
the publish guard (against the served build) and keeps a raw copy. The whole
replay holds the database's lock (ingest/lock.py).
"""

import argparse
import sys
from array import array
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

from iana_ports.facts import COMMON_USES_CSV, DEFAULT_DB, FIELDS, registry_date

from . import common_uses, guard, lock
from .build import build, ingest_row, last_ingest, previous_figures, remove_stale
from .errors import IngestError
from .fetch import MAX_BYTES, Fetched, read_local
from .history import carry
from . import sources
from .enrich import Enrichment
from .registry_xml import XmlRegistry
from .run import publish, remove_stale_parts, write_part

GZIP_MAGIC = b"\x1f\x8b"
# A record without its place in the file (id, line): the same row in most versions, so kept once.
_KEPT = (*FIELDS, "port_low", "port_high")


@dataclass
class Version:
    """One registry version, its records kept compactly (see Records)."""

    path: str
    fetched: Fetched
    date: str
    updated: str | None
    is_csv: bool
    records: "Records"
    newest: tuple[str | None, str | None]
    xml: XmlRegistry | None = None  # kept for the newest date only: it enriches the build
    xml_fetched: Fetched | None = None  # the XML file, when `xml` came beside a CSV
    drifted: frozenset[int] = frozenset()


class Records:
    """A version's records as references to rows shared across versions, plus their lines.

    Nine years of versions are some 1.5 million records but a few tens of
    thousands of distinct rows; holding each distinct row once keeps a
    replay of every version in tens of megabytes. materialize() gives the
    records back as parse() returned them (fresh dicts: the diff and the
    build may change them).
    """

    def __init__(self, records: list[dict], pool: dict):
        self.rows = []
        self.lines = array("q")
        kept = itemgetter(*_KEPT)
        for rec in records:
            row = kept(rec)
            self.rows.append(pool.setdefault(row, row))
            self.lines.append(rec["line"])

    def __len__(self) -> int:
        return len(self.rows)

    def materialize(self) -> list[dict]:
        out = []
        for i, (row, line) in enumerate(zip(self.rows, self.lines), start=1):
            rec = dict(zip(_KEPT, row))
            rec["id"], rec["line"] = i, line
            out.append(rec)
        return out

    def same(self, other: "Records") -> bool:
        return self.rows == other.rows


def read_version(path: str, pool: dict, max_bytes: int = MAX_BYTES) -> Version:
    fetched = read_local(path, max_bytes)
    try:
        records, xml, form = sources.read(fetched.data, fetched.fetched_at[:10], max_bytes)
    except IngestError as exc:
        raise IngestError(f"{path}: {exc}") from None
    updated, is_csv = (xml.updated if xml else None), form == "csv"
    newest = tuple(
        max((r[f] for r in records if r[f]), default=None) for f in ("registration_date", "modification_date")
    )
    date = updated or max(filter(None, newest), default=None)
    if not date:
        raise IngestError(f"{path}: no registry date or record date to order it by")
    return Version(path, fetched, date, updated, is_csv, Records(records, pool), newest, xml)


def versions(paths: list[str]) -> list[Version]:
    """The distinct registry versions of `paths`, oldest first (see the module docstring)."""
    pool: dict = {}
    found, newest = [], ""
    for path in paths:
        v = read_version(path, pool)
        newest = max(newest, v.date)
        found.append(v)
        # Only the newest version is built, so only its XML can enrich: the others' are let go.
        for older in found:
            if older.date < newest:
                older.xml = None
    merged: list[Version] = []
    for v in sorted(found, key=lambda v: v.date):
        kept = merged[-1] if merged and merged[-1].date == v.date else None
        if kept is None or kept.is_csv == v.is_csv:
            if kept is not None and kept.records.same(v.records):
                continue
            merged.append(v)
            continue
        csv, xml = (v, kept) if v.is_csv else (kept, v)
        problem, drifted = sources.cross_check(csv.records.materialize(), xml.records.materialize())
        if problem:
            # Two copies of one day's registry that disagree: both are recorded, in the order given.
            print(
                f"note: {kept.path} and {v.path} are both the registry of {v.date} "
                f"but differ ({problem}); both replayed"
            )
            merged.append(v)
            continue
        # One version: the CSV's records (what the live ingest fetches and compares by sha256),
        # enriched by the XML as the live ingest would (sources.combine).
        csv.updated, csv.xml, csv.xml_fetched, csv.drifted = xml.updated, xml.xml, xml.fetched, frozenset(drifted)
        merged[-1] = csv
    return merged


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ingest replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", metavar="PATH", help="registry CSV or XML files (.gz too)")
    parser.add_argument("--db", default=DEFAULT_DB, type=Path, help="database to (re)build")
    parser.add_argument("--raw-dir", type=Path, help="where the newest version's file is kept")
    parser.add_argument(
        "--force", action="store_true", help="replay every file, even those not newer than the database"
    )
    parser.add_argument(
        "--allow-shrink", action="store_true", help="publish a newest version much smaller than the served build"
    )
    parser.add_argument(
        "--lock-wait",
        type=lock.seconds,
        default=lock.LOCK_WAIT,
        help="seconds to wait for another ingest of the same database to finish",
    )
    args = parser.parse_args(argv)
    try:
        uses = common_uses.read(COMMON_USES_CSV)
        found = versions(args.paths)
        with lock.hold(args.db, args.lock_wait):
            print(_replay(args, found, uses))
        return 0
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {args.db}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (as python -m ingest)
        message = f"unexpected {type(exc).__name__}: {exc}; the previous database is unchanged"
        print(f"error: {message}", file=sys.stderr)
        return 1


def _replay(args, found: list[Version], uses) -> str:
    remove_stale(args.db)
    raw_dir = args.raw_dir or args.db.parent / "raw"
    remove_stale_parts(raw_dir)
    # Replaying onto a database that already has newer data would record the
    # registry going backwards; such versions are skipped unless forced.
    since = None if args.force else registry_date(last_ingest(args.db))
    todo = []
    for v in found:
        if since and v.date <= since:
            print(f"skip {v.path}: registry of {v.date} is not newer than the database's ({since})")
        else:
            todo.append(v)
    if not todo:
        return f"unchanged: no version newer than the database's; {args.db} not rebuilt"
    *earlier, newest = todo
    served = previous_figures(args.db)

    def recorded():
        # One version's records at a time: the diff needs only two versions in memory.
        for v in earlier:
            records = v.records.materialize()
            yield ingest_row(v.fetched, records, uses[1], v.updated), records

    def history(db, previous_path, ingest_id):
        return carry(db, previous_path, ingest_id, recorded())

    got = newest.fetched
    enrichment = None
    if newest.xml is not None:
        enrichment = Enrichment(newest.xml, newest.xml_fetched or got, newest.drifted)
    suffix = ".csv" if newest.is_csv else ".xml" + (".gz" if got.data.startswith(GZIP_MAGIC) else "")
    raw = raw_dir / f"{got.fetched_at[:10]}-{got.sha256}{suffix}"
    part = write_part(got, raw)
    try:
        row = build(
            args.db,
            got,
            newest.records.materialize(),
            uses,
            history=history,
            before_swap=lambda: part is not None and publish(part, raw),
            check_figures=lambda figures: guard.check(figures, served, args.allow_shrink),
            enrichment=enrichment,
            updated=newest.updated,
        )
    finally:
        if part is not None:
            part.unlink(missing_ok=True)
    return (
        f"built {args.db}: {len(todo)} registry versions ({todo[0].date} to {newest.date}), "
        f"{row['row_count']} registrations, ingest {row['id']}, raw copy {raw}"
    )
