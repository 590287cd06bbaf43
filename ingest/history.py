"""Carry the registry's history into a database being built.

build() calls carry() inside its transaction on the new temporary file, so
history is derived from the previous database plus the new snapshot and is
swapped in with everything else, or not at all. The previous database is
only ever opened read-only.

The earlier `ingests` and `changes` rows are copied with their ids, and the
new ingest is renumbered after them so ingest ids stay chronological. The
change rules themselves live in ingest/diff.py.

A change row's derived columns (both sides' port bounds, and the service
key that left the row) are worked out from its stored `old` and `new` sides,
for carried rows too, so a `changes` table written by an earlier layout of
this module is brought up to date the next time it is carried.
"""

import json
import sqlite3
from pathlib import Path

import sqlite_utils

from iana_ports.facts import FIELDS, registry_date
from iana_ports.schema import CHANGES

from .build import create_table, read_only
from .diff import Change, diff, summary
from .errors import IngestError
from .fetch import redact
from .parse import port_range

RECORD_COLUMNS = (*FIELDS, "id", "line", "port_low", "port_high")
RECORDS_SQL = f"select {', '.join(RECORD_COLUMNS)} from registrations order by id"
PREVIOUS_INGESTS_SQL = "select * from ingests order by id"
PREVIOUS_CHANGES_SQL = "select * from changes order by id"
HAS_CHANGES_SQL = "select 1 from sqlite_master where type = 'table' and name = 'changes'"
RENUMBER_INGEST_SQL = "update ingests set id = :new where id = :old"
URL_COLUMNS = ("source", "final_url")


def carry(db: sqlite_utils.Database, previous_path: Path | None, ingest_id: int, earlier=()) -> int:
    """The history step build() runs; returns the (renumbered) id of the new ingest.

    `earlier` are the registry versions a replay read before the one being
    built, oldest first, as (ingests row, records) pairs: each becomes an
    ingest with its changes, between the previous database's newest ingest
    and the new one, so many versions are recorded in one build.
    """
    create_table(db, CHANGES)
    ingests, changes, old_records = read_previous(previous_path) if previous_path else ([], [], None)
    if not ingests:
        old_records = None
    previous_id = ingests[-1]["id"] if ingests else None
    next_id = previous_id + 1 if ingests else 1
    versions, found = [], []
    for row, records in earlier:
        versions.append(dict(row, id=next_id))
        if old_records is not None:
            found.extend(change_row(c, next_id, previous_id) for c in diff(old_records, records))
        old_records, previous_id, next_id = records, next_id, next_id + 1
    if next_id == ingest_id and old_records is None:
        return ingest_id
    db.execute(RENUMBER_INGEST_SQL, {"new": next_id, "old": ingest_id})
    # Every row in the new layout: an older build's rows lack its newer columns.
    ingest_columns = list(db["ingests"].columns_dict)
    carried = [carried_ingest(row) for row in ingests] + versions
    db["ingests"].insert_all(({k: row.get(k) for k in ingest_columns} for row in carried))
    db["changes"].insert_all((carried_row(row) for row in changes), batch_size=2000)
    new_records = [dict(zip(RECORD_COLUMNS, row)) for row in db.execute(RECORDS_SQL)]
    found.extend(change_row(c, next_id, previous_id) for c in diff(old_records, new_records))
    db["changes"].insert_all(found, batch_size=2000)
    return next_id


def read_previous(path: Path) -> tuple[list[dict], list[dict], list[dict]]:
    """(ingests, changes, registrations) of the database being replaced."""
    try:
        conn = read_only(path)
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
        raise IngestError(f"cannot read history from {path}: {exc}; move it aside to start a new history") from None
    return ingests, changes, records


def carried_ingest(row: dict) -> dict:
    """An earlier ingest row, its URLs redacted (an older build may have kept a password or token)."""
    # An older layout's row has no stored registry date: worked out by the same rule.
    return {**row, **{k: redact(row[k]) for k in URL_COLUMNS if k in row}, "registry_date": registry_date(row)}


def change_row(change: Change, ingest_id: int, previous_id: int) -> dict:
    row, named = change.row, change.service
    return {
        "ingest": ingest_id,
        "previous_ingest": previous_id,
        "kind": change.kind,
        "port": row["port"] or None,
        "port_low": row["port_low"],
        "port_high": row["port_high"],
        "transport": row["transport"],
        "service_name": named["service_name"],
        "service_key": named["service_name"].lower() if named["service_name"] else None,
        "summary": summary(change),
        "fields": json.dumps([{"field": f, "old": o, "new": n} for f, o, n in change.fields], ensure_ascii=False),
        "old": _side(change.old),
        "new": _side(change.new),
        **derived(change.old, change.new),
    }


def carried_row(row: dict) -> dict:
    """A previous database's change row in this layout (see the module docstring)."""
    kept = {k: v for k, v in row.items() if k in CHANGES.columns}
    old, new = (json.loads(row[s]) if row[s] is not None else None for s in ("old", "new"))
    return {**kept, **derived(old, new)}


def derived(old: dict | None, new: dict | None) -> dict:
    """Derived columns from a change's two sides (registrations or their stored JSON).

    old_service_key is the name the change took off the row: the old name of a
    rename, the released or removed service; empty when the name stayed.
    """
    old_key = old["service_name"].lower() if old and old["service_name"] else None
    new_key = new["service_name"].lower() if new and new["service_name"] else None
    old_low, old_high = _bounds(old)
    new_low, new_high = _bounds(new)
    return {
        "old_port_low": old_low,
        "old_port_high": old_high,
        "new_port_low": new_low,
        "new_port_high": new_high,
        "old_service_key": old_key if old_key != new_key else None,
    }


def _bounds(side: dict | None) -> tuple[int | None, int | None]:
    if side is None:
        return None, None
    return port_range(side["port"] or "", side["line"])


def _side(rec: dict | None) -> str | None:
    if rec is None:
        return None
    return json.dumps({k: rec[k] for k in (*FIELDS, "line")}, ensure_ascii=False)
