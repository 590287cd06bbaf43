"""ingest/history.py and `python -m ingest replay`: history across real snapshots."""

import csv
import hashlib
import json
import shutil
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from ingest.__main__ import main
from iana_ports.facts import FIELDS


def read_csv(path: Path) -> list[dict]:
    """The snapshot read with the csv module alone, each row with its first line."""
    rows = []
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader)
        start = reader.line_num + 1
        for values in reader:
            row = {c: (v.strip() if i < 3 else v) or None for i, (c, v) in enumerate(zip(FIELDS, values))}
            row["port"] = row["port"] or ""
            row["transport"] = row["transport"].lower() if row["transport"] else None
            row["line"] = start
            rows.append(row)
            start = reader.line_num + 1
    return rows


def rows(db_path: Path, sql: str, params=()) -> list[dict]:
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def replayed(tmp_path_factory, snapshot_2025, snapshot_2026) -> Path:
    """Both snapshots replayed, given newest first to prove replay sorts them."""
    db = tmp_path_factory.mktemp("replayed") / "iana.db"
    assert main(["replay", str(snapshot_2026), str(snapshot_2025), "--db", str(db)]) == 0
    return db


@pytest.fixture
def db_copy(replayed, tmp_path) -> Path:
    copy = tmp_path / "iana.db"
    shutil.copyfile(replayed, copy)
    return copy


def change(db: Path, where: str, params=()) -> list[dict]:
    found = rows(db, f"select * from changes where {where} order by id", params)
    for row in found:
        del row["id"]
        for col in ("fields", "old", "new"):
            row[col] = json.loads(row[col]) if row[col] is not None else None
    return found


def side(csv_rows: list[dict], port: str, transport: str | None, name: str | None) -> dict:
    [row] = [r for r in csv_rows if r["port"] == port and r["transport"] == transport and r["service_name"] == name]
    return row


def test_replay_ingests_in_registry_date_order(replayed, snapshot_2025, snapshot_2026):
    assert [
        (r["id"], r["sha256"], r["row_count"], r["newest_registration_date"])
        for r in rows(replayed, "select * from ingests order by id")
    ] == [
        (1, sha256(snapshot_2025), 14474, "2025-03-28"),
        (2, sha256(snapshot_2026), 14500, "2026-02-25"),
    ]
    assert rows(replayed, "select distinct ingest, previous_ingest from changes") == [
        {"ingest": 2, "previous_ingest": 1}
    ]


def test_the_registrations_are_the_newest_snapshot(replayed):
    assert rows(replayed, "select count(*) as n from registrations") == [{"n": 14500}]


def test_rename_on_1980(replayed, snapshot_2025, snapshot_2026):
    old, new = read_csv(snapshot_2025), read_csv(snapshot_2026)
    assert change(replayed, "port = '1980'") == [
        {
            "ingest": 2,
            "previous_ingest": 1,
            "kind": "renamed",
            "port": "1980",
            "port_low": 1980,
            "port_high": 1980,
            "old_port_low": 1980,
            "old_port_high": 1980,
            "new_port_low": 1980,
            "new_port_high": 1980,
            "transport": t,
            "service_name": "panquest-xact",
            "service_key": "panquest-xact",
            "old_service_key": "pearldoc-xact",
            "summary": f"pearldoc-xact renamed panquest-xact on 1980/{t}",
            "fields": [
                {"field": "service_name", "old": "pearldoc-xact", "new": "panquest-xact"},
                {"field": "description", "old": "PearlDoc XACT", "new": "PanQuest XACT"},
                {"field": "modification_date", "old": None, "new": "2025-11-20"},
            ],
            "old": side(old, "1980", t, "pearldoc-xact"),
            "new": side(new, "1980", t, "panquest-xact"),
        }
        for t in ("tcp", "udp")
    ]


def test_831_to_833_released_to_reserved(replayed, snapshot_2025, snapshot_2026):
    old, new = read_csv(snapshot_2025), read_csv(snapshot_2026)
    expected = []
    for port, name in (("831", "netconf-beep"), ("832", "netconfsoaphttp"), ("833", "netconfsoapbeep")):
        for t in ("tcp", "udp"):
            before, after = side(old, port, t, name), side(new, port, t, None)
            # What the registry says happened, read straight from the file.
            assert after["description"] == "Reserved"
            assert after["assignment_notes"].startswith("Previously assigned to NETCONF")
            expected.append(
                {
                    "ingest": 2,
                    "previous_ingest": 1,
                    "kind": "released",
                    "port": port,
                    "port_low": int(port),
                    "port_high": int(port),
                    "old_port_low": int(port),
                    "old_port_high": int(port),
                    "new_port_low": int(port),
                    "new_port_high": int(port),
                    "transport": t,
                    "service_name": name,
                    "service_key": name,
                    # The released name, as for a rename's old name.
                    "old_service_key": name,
                    "summary": f"{name} released on {port}/{t} (now Reserved)",
                    "fields": [
                        {"field": c, "old": before[c], "new": after[c]} for c in FIELDS if before[c] != after[c]
                    ],
                    "old": before,
                    "new": after,
                }
            )
    assert change(replayed, "port_low between 831 and 833") == expected
    assert expected[0]["fields"] == [
        {"field": "service_name", "old": "netconf-beep", "new": None},
        {"field": "description", "old": "NETCONF over BEEP", "new": "Reserved"},
        {"field": "modification_date", "old": None, "new": "2025-09-29"},
        {"field": "reference", "old": "[RFC4744]", "new": None},
        {
            "field": "assignment_notes",
            "old": None,
            "new": "Previously assigned to NETCONF over BEEP but released by [RFC9900]",
        },
    ]


def test_tacacss_assigned_on_300_tcp(replayed, snapshot_2025, snapshot_2026):
    old, new = read_csv(snapshot_2025), read_csv(snapshot_2026)
    assert change(replayed, "service_key = 'tacacss'") == [
        {
            "ingest": 2,
            "previous_ingest": 1,
            "kind": "assigned",
            "port": "300",
            "port_low": 300,
            "port_high": 300,
            "old_port_low": 288,
            "old_port_high": 307,
            "new_port_low": 300,
            "new_port_high": 300,
            "transport": "tcp",
            "service_name": "tacacss",
            "service_key": "tacacss",
            "old_service_key": None,
            "summary": "tacacss assigned on 300/tcp (was Unassigned 288-307)",
            "fields": [
                {"field": "service_name", "old": None, "new": "tacacss"},
                {"field": "port", "old": "288-307", "new": "300"},
                {"field": "transport", "old": None, "new": "tcp"},
                {"field": "description", "old": "Unassigned", "new": "TLS Secure Login Host Protocol (TACACSS)"},
                {"field": "assignee", "old": None, "new": "[IESG]"},
                {"field": "contact", "old": None, "new": "[IETF_Chair]"},
                {"field": "registration_date", "old": None, "new": "2025-07-15"},
                {"field": "reference", "old": None, "new": "[RFC9887]"},
            ],
            "old": side(old, "288-307", None, None),
            "new": side(new, "300", "tcp", "tacacss"),
        }
    ]
    # The rest of IANA's rewrite around 300 reads as rows added.
    cut = change(replayed, "port_low between 288 and 307 and service_key is null")
    assert [(c["kind"], c["summary"]) for c in cut] == [
        ("added", "added Unassigned on 288-299"),
        ("added", "added Reserved on 300/udp"),
        ("added", "added Unassigned on 301-307"),
    ]


def test_smtp_reference_modified_on_25(replayed, snapshot_2025, snapshot_2026):
    old, new = read_csv(snapshot_2025), read_csv(snapshot_2026)
    assert change(replayed, "port = '25'") == [
        {
            "ingest": 2,
            "previous_ingest": 1,
            "kind": "modified",
            "port": "25",
            "port_low": 25,
            "port_high": 25,
            "old_port_low": 25,
            "old_port_high": 25,
            "new_port_low": 25,
            "new_port_high": 25,
            "transport": t,
            "service_name": "smtp",
            "service_key": "smtp",
            "old_service_key": None,
            "summary": f"smtp on 25/{t}: reference changed",
            "fields": [{"field": "reference", "old": "[RFC5321]", "new": "[RFC-ietf-emailcore-rfc5321bis-43]"}],
            "old": side(old, "25", t, "smtp"),
            "new": side(new, "25", t, "smtp"),
        }
        for t in ("tcp", "udp")
    ]


def plain_diff(old: list[dict], new: list[dict]):
    """Rows added, rows removed and rows modified, by (name, port, transport) alone."""

    def key(r):
        return ((r["service_name"] or "").lower(), r["port"], r["transport"] or "")

    waiting = defaultdict(list)
    for r in old:
        waiting[key(r)].append(r)
    added, modified = [], []
    for r in new:
        if waiting[key(r)]:
            before = waiting[key(r)].pop(0)
            if any(before[c] != r[c] for c in FIELDS):
                modified.append(r)
        else:
            added.append(r)
    removed = [r for queue in waiting.values() for r in queue]
    return added, removed, modified


def test_totals(replayed, snapshot_2025, snapshot_2026):
    added, removed, modified = plain_diff(read_csv(snapshot_2025), read_csv(snapshot_2026))
    changes = change(replayed, "1")
    # Row by row, the changes account for exactly the rows a plain keyed
    # comparison finds: pairing only merges them into fewer, truer events.
    assert Counter(c["kind"] for c in changes)["modified"] == len(modified) == 31
    assert sorted(
        json.dumps(c["new"], sort_keys=True) for c in changes if c["kind"] != "modified" and c["new"]
    ) == sorted(json.dumps(r, sort_keys=True) for r in added)
    assert sorted(
        json.dumps(c["old"], sort_keys=True) for c in changes if c["kind"] != "modified" and c["old"]
    ) == sorted(json.dumps(r, sort_keys=True) for r in removed)
    assert (len(added), len(removed)) == (47, 21)
    # Checked by hand against the two files:
    # renamed 8  = pearldoc-xact, fox-skytale, pmcdproxy on tcp+udp; avi-nms tcp; avi-nms-disc udp
    # released 6 = 831-833 tcp+udp (NETCONF -> Reserved)
    # assigned 7 = tacacss 300, m-bus-oms 4503, uet 4793, kaostransport 9986, ollama 11434,
    #              xahaud 21337, udpstp 24601, each taking its Unassigned range
    # added 26   = 18 Unassigned/Reserved rows cut around those 7 + 8 port-less names
    # removed 0  = every removed row went into a rename, a release or an assignment
    assert Counter(c["kind"] for c in changes) == {
        "modified": 31,
        "added": 26,
        "renamed": 8,
        "assigned": 7,
        "released": 6,
    }


def test_same_snapshot_twice_records_no_change(db_copy, snapshot_2026, capsys):
    before = db_copy.read_bytes()
    assert main(["--source", str(snapshot_2026), "--db", str(db_copy)]) == 0
    assert capsys.readouterr().out.startswith("unchanged:")
    assert db_copy.read_bytes() == before

    changes_before = rows(db_copy, "select * from changes order by id")
    assert main(["--source", str(snapshot_2026), "--db", str(db_copy), "--force"]) == 0
    assert [r["id"] for r in rows(db_copy, "select id from ingests order by id")] == [1, 2, 3]
    assert rows(db_copy, "select * from changes order by id") == changes_before
    assert rows(db_copy, "select count(*) as n from changes where ingest = 3") == [{"n": 0}]


def test_failed_ingest_records_nothing(db_copy, snapshot_2025, tmp_path, capsys):
    before = db_copy.read_bytes()
    broken = tmp_path / "broken.csv"
    data = snapshot_2025.read_bytes()
    broken.write_bytes(data[: data.index(b'"whois++') + 20])
    assert main(["--source", str(broken), "--db", str(db_copy)]) == 1
    assert capsys.readouterr().err.startswith("error: ")
    assert db_copy.read_bytes() == before


def test_unreadable_history_is_an_error_not_a_fresh_start(tmp_path, snapshot_2026, capsys):
    db = tmp_path / "iana.db"
    db.write_bytes(b"not a database, but somebody's history" * 200)
    before = db.read_bytes()
    assert main(["--source", str(snapshot_2026), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot read history from {db}: ")
    assert err.count("\n") == 1
    assert db.read_bytes() == before
    assert not list(tmp_path.glob(".*.building"))


def test_replay_checks_every_file_before_ingesting_any(tmp_path, snapshot_2025, capsys):
    broken = tmp_path / "broken.csv"
    broken.write_text("Service Name,Port Number\nx,1\n")
    db = tmp_path / "iana.db"
    assert main(["replay", str(snapshot_2025), str(broken), "--db", str(db)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {broken}: not a registry CSV")
    assert not db.exists()


@pytest.mark.slow
def test_two_consecutive_ingests_build_the_same_history_as_replay(replayed, tmp_path, snapshot_2025, snapshot_2026):
    db = tmp_path / "iana.db"
    # What `make data IANA_CSV=a.csv` then `make data IANA_CSV=b.csv` runs.
    assert main(["--source", str(snapshot_2025), "--db", str(db)]) == 0
    assert rows(db, "select count(*) as n from changes") == [{"n": 0}]
    assert main(["--source", str(snapshot_2026), "--db", str(db)]) == 0
    assert rows(db, "select * from changes order by id") == rows(replayed, "select * from changes order by id")
    assert [(r["id"], r["sha256"]) for r in rows(db, "select * from ingests order by id")] == [
        (1, sha256(snapshot_2025)),
        (2, sha256(snapshot_2026)),
    ]


def test_changes_table_schema(replayed):
    assert [(r["name"], r["type"], r["pk"]) for r in rows(replayed, "pragma table_info(changes)")] == [
        ("id", "INTEGER", 1),
        ("ingest", "INTEGER", 0),
        ("previous_ingest", "INTEGER", 0),
        ("kind", "TEXT", 0),
        ("port", "TEXT", 0),
        ("port_low", "INTEGER", 0),
        ("port_high", "INTEGER", 0),
        ("old_port_low", "INTEGER", 0),
        ("old_port_high", "INTEGER", 0),
        ("new_port_low", "INTEGER", 0),
        ("new_port_high", "INTEGER", 0),
        ("transport", "TEXT", 0),
        ("service_name", "TEXT", 0),
        ("service_key", "TEXT", 0),
        ("old_service_key", "TEXT", 0),
        ("summary", "TEXT", 0),
        ("fields", "TEXT", 0),
        ("old", "TEXT", 0),
        ("new", "TEXT", 0),
    ]
    assert sorted((r["from"], r["table"], r["to"]) for r in rows(replayed, "pragma foreign_key_list(changes)")) == [
        ("ingest", "ingests", "id"),
        ("previous_ingest", "ingests", "id"),
    ]
    assert sorted(
        r["name"]
        for r in rows(replayed, "select name from sqlite_master where type = 'index' and tbl_name = 'changes'")
    ) == [
        "idx_changes_ingest",
        "idx_changes_kind",
        "idx_changes_new_port_low_new_port_high",
        "idx_changes_old_port_low_old_port_high",
        "idx_changes_old_service_key",
        "idx_changes_service_key",
    ]


def bounds(port: str | None) -> tuple[int | None, int | None]:
    if not port:
        return None, None
    low, _, high = port.partition("-")
    return int(low), int(high or low)


def test_derived_columns_agree_with_the_stored_sides(replayed):
    changes = change(replayed, "1")
    for c in changes:
        old_name = (c["old"] or {}).get("service_name")
        new_name = (c["new"] or {}).get("service_name")
        gone = old_name.lower() if old_name and (not new_name or new_name.lower() != old_name.lower()) else None
        assert c["old_service_key"] == gone, c["summary"]
        assert (c["old_port_low"], c["old_port_high"]) == bounds((c["old"] or {}).get("port")), c["summary"]
        assert (c["new_port_low"], c["new_port_high"]) == bounds((c["new"] or {}).get("port")), c["summary"]
    # What metadata.yml promises: filled for renames and releases (no row was removed).
    assert Counter(c["kind"] for c in changes if c["old_service_key"]) == {"renamed": 8, "released": 6}


OLD_LAYOUT = """
create table changes_old (
  id integer primary key, ingest integer references ingests(id),
  previous_ingest integer references ingests(id), kind text, port text, port_low integer,
  port_high integer, transport text, service_name text, service_key text,
  old_service_key text, summary text, fields text, old text, new text
);
insert into changes_old select id, ingest, previous_ingest, kind, port, port_low, port_high,
  transport, service_name, service_key,
  case when kind = 'released' then null else old_service_key end,
  summary, fields, old, new from changes;
drop table changes;
alter table changes_old rename to changes;
create index idx_changes_port_low_port_high on changes (port_low, port_high);
"""


def test_history_in_the_old_layout_is_brought_up_to_date(db_copy, replayed, snapshot_2026):
    # A database built before the side bounds existed, and when releases had
    # no old_service_key.
    conn = sqlite3.connect(db_copy)
    conn.executescript(OLD_LAYOUT)
    conn.close()
    assert "old_port_low" not in {r["name"] for r in rows(db_copy, "pragma table_info(changes)")}

    assert main(["--source", str(snapshot_2026), "--db", str(db_copy), "--force"]) == 0
    assert rows(db_copy, "select * from changes order by id") == rows(replayed, "select * from changes order by id")
    assert rows(db_copy, "pragma index_list(changes)") == rows(replayed, "pragma index_list(changes)")


def test_derived_for_sides_the_snapshots_lack():
    from ingest.history import derived

    gone = {"service_name": "Old-Name", "port": "6000-6063", "line": 9}
    assert derived(gone, None) == {
        "old_port_low": 6000,
        "old_port_high": 6063,
        "new_port_low": None,
        "new_port_high": None,
        "old_service_key": "old-name",
    }
    recased = {"service_name": "OLD-name", "port": "", "line": 9}
    assert derived(dict(gone, port=""), recased) == {
        "old_port_low": None,
        "old_port_high": None,
        "new_port_low": None,
        "new_port_high": None,
        "old_service_key": None,
    }


@pytest.mark.slow
def test_replay_onto_a_database_that_has_them_records_nothing_new(tmp_path, snapshot_2025, snapshot_2026, capsys):
    db = tmp_path / "iana.db"
    assert main(["replay", str(snapshot_2025), str(snapshot_2026), "--db", str(db)]) == 0
    before = db.read_bytes()
    capsys.readouterr()
    assert main(["replay", str(snapshot_2026), str(snapshot_2025), "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"skip {snapshot_2025}: registry of 2025-03-28 is not newer than the database's (2026-02-25)",
        f"skip {snapshot_2026}: registry of 2026-02-25 is not newer than the database's (2026-02-25)",
        f"unchanged: no version newer than the database's; {db} not rebuilt",
    ]
    assert db.read_bytes() == before
