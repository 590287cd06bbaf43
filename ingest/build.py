"""Write the database: every table in a temporary file, checked, then swapped in.

The only write to the served path is the final os.replace(), so a failure at
any step leaves the previous database byte-identical.
"""

import os
import sqlite3
from operator import itemgetter
from pathlib import Path

import sqlite_utils

from . import model
from .errors import IngestError
from .fetch import Fetched

SCHEMA_VERSION = 1

REGISTRATION_COLUMNS = {
    "id": int,
    "service_name": str,
    "service_key": str,
    "port": str,
    "port_low": int,
    "port_high": int,
    "transport": str,
    "description": str,
    "assignee": str,
    "contact": str,
    "registration_date": str,
    "modification_date": str,
    "reference": str,
    "service_code": str,
    "unauthorized_use": str,
    "assignment_notes": str,
    "line": int,
}

INGEST_COLUMNS = {
    "id": int,
    "source": str,
    "fetched_at": str,
    "sha256": str,
    "bytes": int,
    "etag": str,
    "last_modified": str,
    "row_count": int,
    "newest_registration_date": str,
    "newest_modification_date": str,
    "schema_version": int,
}

PORT_TYPES = {
    "port": int,
    "status": str,
    "tcp": str,
    "udp": str,
    "sctp": str,
    "dccp": str,
    "services": str,
    "registry_words": str,
    "range": str,
    "range_common_name": str,
    "listed": int,
    "linux": int,
    "windows": int,
    "macos": int,
    "freebsd": int,
}
assert tuple(PORT_TYPES) == model.PORT_COLUMNS

RANGE_COLUMNS = {
    "name": str,
    "common_name": str,
    "first": int,
    "last": int,
    "size": int,
    "assignment": str,
    "explanation": str,
}

OS_RANGE_COLUMNS = {"os": str, "label": str, "first": int, "last": int, "history": str, "check": str}

RUN_COLUMNS = {"transport": str, "first": int, "last": int, "length": int, "range": str}

SERVICE_COLUMNS = {
    "key": str,
    "name": str,
    "description": str,
    "ports": str,
    "transports": str,
    "row_count": int,
    "has_port": int,
    "rfc6335_valid": int,
    "alias_of": str,
    "historic": int,
}

REFERENCE_COLUMNS = {"registration_id": int, "position": int, "reference": str, "kind": str, "url": str}


def insert_sql(table: str, columns) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'


# sqlite-utils creates the tables, indexes and FTS; the bulk rows go through
# plain executemany, which costs a fraction of insert_all's per-row work.
INSERT_REGISTRATION_SQL = insert_sql("registrations", REGISTRATION_COLUMNS)
INSERT_PORT_SQL = insert_sql("ports", PORT_TYPES)
INSERT_RUN_SQL = insert_sql("unassigned_ranges", RUN_COLUMNS)
INSERT_SERVICE_SQL = insert_sql("services", SERVICE_COLUMNS)
INSERT_REFERENCE_SQL = insert_sql("references", REFERENCE_COLUMNS)

LAST_INGEST_SQL = "select * from ingests order by id desc limit 1"


def last_ingest(db_path: Path) -> dict | None:
    """The newest `ingests` row of an existing database, or None."""
    if not db_path.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            conn.row_factory = sqlite3.Row
            row = conn.execute(LAST_INGEST_SQL).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError:
        return None
    return dict(row) if row else None


def registry_date(ingest_row: dict | None) -> str | None:
    """An ingest's registry date: the newest registration or modification date in it."""
    if not ingest_row:
        return None
    dates = [ingest_row["newest_registration_date"], ingest_row["newest_modification_date"]]
    return max(filter(None, dates), default=None)


def build(db_path: Path, fetched: Fetched, records: list[dict], history=None) -> dict:
    """Build every table into a temporary file beside `db_path`, then swap it in.

    `history(db, previous_db_path, ingest_id)` (optional) carries earlier
    ingests and their changes into the new file before it is checked, and
    returns the new ingest's id (it may renumber it after the carried ones).
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
                ingest = _write(db, fetched, records)
                if history is not None:
                    ingest["id"] = history(db, db_path if db_path.exists() else None, ingest["id"])
            _check(db, len(records))
        finally:
            db.close()
        _fsync(tmp)
        os.replace(tmp, db_path)
        _fsync(db_path.parent)  # make the rename itself durable
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return ingest


def _write(db: sqlite_utils.Database, fetched: Fetched, records: list[dict]) -> dict:
    regs = db["registrations"]
    regs.create(REGISTRATION_COLUMNS, pk="id")
    for rec in records:
        rec["service_key"] = rec["service_name"].lower() if rec["service_name"] else None
    db.conn.executemany(INSERT_REGISTRATION_SQL, map(itemgetter(*REGISTRATION_COLUMNS), records))
    regs.create_index(["service_key"])
    regs.create_index(["port_low", "port_high"])
    regs.create_index(["transport"])
    regs.enable_fts(["service_name", "description", "assignment_notes"], create_triggers=False)

    ports = model.port_space(records)
    db["ports"].create(PORT_TYPES, pk="port")
    db.conn.executemany(INSERT_PORT_SQL, ports)
    for col in ("status", "tcp", "udp", "range"):
        db["ports"].create_index([col])

    db["ranges"].create(RANGE_COLUMNS, pk="name")
    db["ranges"].insert_all(model.RANGES)
    db["os_ephemeral_ranges"].create(OS_RANGE_COLUMNS, pk="os")
    db["os_ephemeral_ranges"].insert_all(model.OS_EPHEMERAL)

    runs = db["unassigned_ranges"]
    runs.create(RUN_COLUMNS, pk=("transport", "first"))
    db.conn.executemany(INSERT_RUN_SQL, map(itemgetter(*RUN_COLUMNS), model.unassigned_runs(ports)))
    runs.create_index(["transport", "last"])
    runs.create_index(["length"])

    svc = db["services"]
    svc.create(SERVICE_COLUMNS, pk="key")
    db.conn.executemany(INSERT_SERVICE_SQL, map(itemgetter(*SERVICE_COLUMNS), model.services(records)))
    svc.create_index(["alias_of"])

    refs = db["references"]
    refs.create(
        REFERENCE_COLUMNS,
        pk=("registration_id", "position"),
        foreign_keys=[("registration_id", "registrations", "id")],
    )
    db.conn.executemany(INSERT_REFERENCE_SQL, map(itemgetter(*REFERENCE_COLUMNS), model.references(records)))
    refs.create_index(["kind"])
    refs.create_index(["reference"])

    ingest = {
        "source": fetched.source,
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
        "schema_version": SCHEMA_VERSION,
    }
    db["ingests"].create(INGEST_COLUMNS, pk="id")
    ingest["id"] = db["ingests"].insert(ingest).last_pk
    return ingest


def _check(db: sqlite_utils.Database, expected_rows: int) -> None:
    result = db.execute("PRAGMA quick_check").fetchone()[0]
    if result != "ok":
        raise IngestError(f"built database failed quick_check: {result}")
    got = db["registrations"].count
    if got != expected_rows:
        raise IngestError(f"built database has {got} registrations, expected {expected_rows}")
    ports = db["ports"].count
    if ports != model.MAX_PORT + 1:
        raise IngestError(f"built database has {ports} ports, expected {model.MAX_PORT + 1}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
