"""Carry the registry's history into a database being built.

build() calls carry() inside its transaction on the new temporary file, so
history is derived from the previous database plus the new snapshot and is
swapped in with everything else, or not at all. The previous database is
only ever opened read-only.

The earlier `ingests` and `changes` rows are copied with their ids, and the
new ingest is renumbered after them so ingest ids stay chronological. The
change rules themselves live in ingest/diff.py.
"""

import json
import sqlite3
from pathlib import Path

import sqlite_utils

from .diff import Change, diff, summary
from .errors import IngestError
from .parse import FIELDS

CHANGE_COLUMNS = {
    "id": int,
    "ingest": int,
    "previous_ingest": int,
    "kind": str,
    "port": str,
    "port_low": int,
    "port_high": int,
    "transport": str,
    "service_name": str,
    "service_key": str,
    "old_service_key": str,
    "summary": str,
    "fields": str,
    "old": str,
    "new": str,
}
CHANGE_INDEXES = (
    ["ingest"],
    ["kind"],
    ["port_low", "port_high"],
    ["service_key"],
    ["old_service_key"],
)

RECORD_COLUMNS = (*FIELDS, "id", "line", "port_low", "port_high")
RECORDS_SQL = f"select {', '.join(RECORD_COLUMNS)} from registrations order by id"
PREVIOUS_INGESTS_SQL = "select * from ingests order by id"
PREVIOUS_CHANGES_SQL = "select * from changes order by id"
HAS_CHANGES_SQL = "select 1 from sqlite_master where type = 'table' and name = 'changes'"
RENUMBER_INGEST_SQL = "update ingests set id = :new where id = :old"


def create_changes_table(db: sqlite_utils.Database) -> None:
    table = db["changes"]
    table.create(
        CHANGE_COLUMNS,
        pk="id",
        foreign_keys=[("ingest", "ingests", "id"), ("previous_ingest", "ingests", "id")],
    )
    for columns in CHANGE_INDEXES:
        table.create_index(columns)


def carry(db: sqlite_utils.Database, previous_path: Path | None, ingest_id: int) -> int:
    """The history step build() runs; returns the (renumbered) id of the new ingest."""
    create_changes_table(db)
    if previous_path is None:
        return ingest_id
    ingests, changes, old_records = read_previous(previous_path)
    if not ingests:
        return ingest_id
    new_id = ingests[-1]["id"] + 1
    db.execute(RENUMBER_INGEST_SQL, {"new": new_id, "old": ingest_id})
    ingest_columns = set(db["ingests"].columns_dict)
    db["ingests"].insert_all(
        ({k: v for k, v in row.items() if k in ingest_columns} for row in ingests)
    )
    db["changes"].insert_all(
        ({k: v for k, v in row.items() if k in CHANGE_COLUMNS} for row in changes),
        batch_size=2000,
    )
    new_records = [dict(zip(RECORD_COLUMNS, row)) for row in db.execute(RECORDS_SQL)]
    found = diff(old_records, new_records)
    db["changes"].insert_all(
        (change_row(c, new_id, ingests[-1]["id"]) for c in found), batch_size=2000
    )
    return new_id


def read_previous(path: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """(ingests, changes, registrations) of the database being replaced."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            conn.row_factory = sqlite3.Row
            ingests = [dict(r) for r in conn.execute(PREVIOUS_INGESTS_SQL)]
            changes = []
            if conn.execute(HAS_CHANGES_SQL).fetchone():
                changes = [dict(r) for r in conn.execute(PREVIOUS_CHANGES_SQL)]
            records = [dict(zip(RECORD_COLUMNS, r)) for r in conn.execute(RECORDS_SQL)]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        # Starting a fresh history silently would throw the old one away.
        raise IngestError(
            f"cannot read history from {path}: {exc}; move it aside to start a new history"
        ) from None
    return ingests, changes, records


def change_row(change: Change, ingest_id: int, previous_id: int) -> dict:
    row, named = change.row, change.service
    old_key = change.old["service_name"].lower() if change.old and change.old["service_name"] else None
    key = named["service_name"].lower() if named["service_name"] else None
    return {
        "ingest": ingest_id,
        "previous_ingest": previous_id,
        "kind": change.kind,
        "port": row["port"] or None,
        "port_low": row["port_low"],
        "port_high": row["port_high"],
        "transport": row["transport"],
        "service_name": named["service_name"],
        "service_key": key,
        "old_service_key": old_key if old_key != key else None,
        "summary": summary(change),
        "fields": json.dumps(
            [{"field": f, "old": o, "new": n} for f, o, n in change.fields], ensure_ascii=False
        ),
        "old": _side(change.old),
        "new": _side(change.new),
    }


def _side(rec: dict | None) -> str | None:
    if rec is None:
        return None
    return json.dumps({k: rec[k] for k in (*FIELDS, "line")}, ensure_ascii=False)
