"""Write the database: every table in a temporary file, checked, then swapped in.

The only write to the served path is the final os.replace(), so a failure at
any step leaves the previous database byte-identical.
"""

import contextlib
import glob
import os
import sqlite3
from operator import itemgetter
from pathlib import Path

import sqlite_utils

from iana_ports import schema
from iana_ports.files import fsync
from iana_ports.facts import OS_EPHEMERAL, PORT_COUNT, RANGES, registry_date
from iana_ports.store import (
    LATEST_INGEST_SQL,
    RANGE_COUNTS_SQL,
    SERVICE_COUNT_SQL,
    TRANSPORT_COUNTS_SQL,
    file_uri,
    rows,
)

from . import enrich, guard, model
from .errors import IngestError
from .fetch import Fetched
from .version import BUILD_VERSION

ROW_COUNT_SQL = "select count(*) from registrations"


def read_only(db_path: Path) -> sqlite3.Connection:
    """A read-only connection to an existing database (its path quoted in the URI)."""
    return sqlite3.connect(file_uri(db_path), uri=True)


def first_row(db_path: Path, sql: str) -> dict | None:
    """The first row `sql` finds in an existing database, or None (no file, not a database)."""
    if not db_path.exists():
        return None
    try:
        conn = read_only(db_path)
        try:
            conn.row_factory = sqlite3.Row
            row = conn.execute(sql).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None
    return dict(row) if row else None


def last_ingest(db_path: Path) -> dict | None:
    """The newest `ingests` row of an existing database, or None."""
    return first_row(db_path, LATEST_INGEST_SQL)


def figures(conn: sqlite3.Connection) -> dict[str, int]:
    """The publish guard's figures of a built database (ingest/guard.py)."""
    return guard.figures(
        conn.execute(ROW_COUNT_SQL).fetchone()[0],
        rows(conn, RANGE_COUNTS_SQL),
        rows(conn, TRANSPORT_COUNTS_SQL),
        conn.execute(SERVICE_COUNT_SQL).fetchone()[0],
    )


def previous_figures(db_path: Path) -> dict[str, int] | None:
    """The figures of the database being replaced; None when there is none that can be read.

    An unreadable one is compared with the first-ingest floors instead.
    """
    if not db_path.exists():
        return None
    try:
        conn = read_only(db_path)
        try:
            return figures(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def build(
    db_path: Path,
    fetched: Fetched,
    records: list[dict],
    uses=((), None),
    history=None,
    before_swap=None,
    check_figures=None,
    enrichment: "enrich.Enrichment | None" = None,
    updated=None,
) -> dict:
    """Build every table into a temporary file beside `db_path`, then swap it in.

    `uses` is (common-use entries, sha256 of their file). `history(db,
    previous_db_path, ingest_id)` (optional) carries earlier ingests and their
    changes into the new file before it is checked, and returns the new
    ingest's id (it may renumber it after the carried ones). `before_swap()`
    (optional) runs once the file is built and checked: whatever it raises
    leaves the database untouched. `check_figures(figures)` (optional, the
    publish guard) sees the built file's figures before that, and may raise
    the same way. The swap is the last thing that can fail. `enrichment`
    (optional) is the registry XML that agreed with the records: it fills the
    XML's tables (ingest/enrich.py), which are empty without it. `updated` is
    the registry's own date (the XML's <updated>; by default the enrichment's).
    Returns the new `ingests` row.
    """
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = db_path.with_name(f".{db_path.name}.{os.getpid()}.building")
    tmp.unlink(missing_ok=True)
    try:
        db = sqlite_utils.Database(tmp)
        try:
            db.conn.execute("PRAGMA journal_mode=OFF")
            db.conn.execute("PRAGMA synchronous=OFF")
            with db.conn:
                if updated is None and enrichment is not None:
                    updated = enrichment.xml.updated
                ingest = _write(db, fetched, records, *uses, enrichment, updated)
                if history is not None:
                    ingest["id"] = history(db, db_path if db_path.exists() else None, ingest["id"])
            # Statistics for the query planner, so visitors' filters pick the covering indexes.
            db.conn.execute("ANALYZE")
            _check(db, len(records))
            if check_figures is not None:
                check_figures(figures(db.conn))
        finally:
            db.close()
        fsync(tmp)
        if before_swap is not None:
            before_swap()
        os.replace(tmp, db_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    # The new file is served from here on: a failure now would be reported
    # as a failed build that in fact happened. Making the rename durable is
    # worth trying, not worth a lie.
    with contextlib.suppress(OSError):
        fsync(db_path.parent)
    return ingest


def remove_stale(db_path: Path) -> None:
    """Remove the temporary files of builds that died (kill -9, power loss).

    Only safe while holding the database's lock (ingest/lock.py): no other
    build of this database can be writing one.
    """
    db_path = Path(db_path)
    for path in db_path.parent.glob(f".{glob.escape(db_path.name)}.*.building"):
        path.unlink(missing_ok=True)


def create_table(db: sqlite_utils.Database, table: schema.Table, rows=None) -> None:
    """Create `table`, fill it with `rows` (tuples in column order), then index it."""
    t = db[table.name]
    t.create(table.types, pk=table.pk, foreign_keys=list(table.foreign_keys))
    if rows is not None:
        # Plain executemany: a fraction of insert_all's per-row work.
        db.conn.executemany(table.insert_sql, rows)
    for columns in table.indexes:
        t.create_index(list(columns))
    if table.fts:
        t.enable_fts(list(table.fts), create_triggers=False)


def _rows(table: schema.Table, dicts) -> map:
    return map(itemgetter(*table.columns), dicts)


def _write(
    db: sqlite_utils.Database, fetched: Fetched, records: list[dict], uses, uses_sha, enrichment, updated
) -> dict:
    for rec in records:
        rec["service_key"] = rec["service_name"].lower() if rec["service_name"] else None
    create_table(db, schema.REGISTRATIONS, _rows(schema.REGISTRATIONS, records))
    ports = model.port_space(records, uses)
    create_table(db, schema.PORTS, ports)
    create_table(db, schema.RANGES, _rows(schema.RANGES, RANGES))
    create_table(db, schema.OS_EPHEMERAL_RANGES, _rows(schema.OS_EPHEMERAL_RANGES, OS_EPHEMERAL))
    create_table(db, schema.UNASSIGNED_RANGES, _rows(schema.UNASSIGNED_RANGES, model.unassigned_runs(ports)))
    create_table(db, schema.SERVICES, _rows(schema.SERVICES, model.services(records)))
    refs = enrich.references(model.references(records), enrichment)
    create_table(db, schema.REFERENCES, _rows(schema.REFERENCES, refs))
    enrich.write(db, enrichment, create_table)
    create_table(
        db,
        schema.COMMON_USES,
        _rows(schema.COMMON_USES, ({**u, "transports": model.json_strings(u["transports"])} for u in uses)),
    )
    ingest = ingest_row(fetched, records, uses_sha, updated)
    create_table(db, schema.INGESTS, [tuple(ingest[c] for c in schema.INGESTS.columns)])
    return ingest


def ingest_row(fetched: Fetched, records: list[dict], uses_sha: str | None, updated: str | None = None) -> dict:
    """The `ingests` row of one registry version (id 1 until history renumbers it)."""
    row = {
        "id": 1,
        "source": fetched.source,
        "final_url": fetched.final_url,
        "fetched_at": fetched.fetched_at,
        "sha256": fetched.sha256,
        "bytes": len(fetched.data),
        "etag": fetched.etag,
        "last_modified": fetched.last_modified,
        "row_count": len(records),
        "newest_registration_date": max(
            (r["registration_date"] for r in records if r["registration_date"]), default=None
        ),
        "newest_modification_date": max(
            (r["modification_date"] for r in records if r["modification_date"]), default=None
        ),
        "registry_updated": updated,
        "common_uses_sha256": uses_sha,
        "build_version": BUILD_VERSION,
    }
    return {**row, "registry_date": registry_date(row)}


def _check(db: sqlite_utils.Database, expected_rows: int) -> None:
    result = db.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        raise IngestError(f"built database failed quick_check: {result}")
    got = db["registrations"].count
    if got != expected_rows:
        raise IngestError(f"built database has {got} registrations, expected {expected_rows}")
    ports = db["ports"].count
    if ports != PORT_COUNT:
        raise IngestError(f"built database has {ports} ports, expected {PORT_COUNT}")
