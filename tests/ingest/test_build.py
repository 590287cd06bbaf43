"""ingest.build on the full 2026-02-25 snapshot: rows, provenance, indexes, FTS, atomic swap."""

import csv
import datetime
import hashlib
import io
import shutil
import sqlite3
from pathlib import Path

import pytest

from iana_ports.facts import COMMON_USES_CSV
from iana_ports.store import file_uri
from ingest.__main__ import main
from ingest.build import build
from ingest.fetch import read_local
from ingest.history import carry
from ingest.parse import decode, parse
from ingest.version import BUILD_VERSION

COLUMNS = (
    "id",
    "service_name",
    "service_key",
    "port",
    "port_low",
    "port_high",
    "transport",
    "description",
    "assignee",
    "contact",
    "registration_date",
    "modification_date",
    "reference",
    "service_code",
    "unauthorized_use",
    "assignment_notes",
    "line",
)


def query(db: Path, sql: str, params=()) -> list[dict]:
    conn = sqlite3.connect(file_uri(db), uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def registrations(db: Path, where: str, params=()) -> list[dict]:
    return query(db, f"select * from registrations where {where} order by id", params)


def row(*values) -> dict:
    return dict(zip(COLUMNS, values, strict=True))


def test_exactly_14500_registrations(db_2026):
    assert query(db_2026, "select count(*) as n from registrations") == [{"n": 14500}]


def test_ssh_22_tcp(db_2026):
    assert registrations(db_2026, "service_key = 'ssh' and port_low = 22 and transport = 'tcp'") == [
        row(
            49,
            "ssh",
            "ssh",
            "22",
            22,
            22,
            "tcp",
            "The Secure Shell (SSH) Protocol",
            None,
            None,
            None,
            None,
            "[RFC4251]",
            None,
            None,
            "Defined TXT keys: u=<username> p=<password>",
            50,
        )
    ]


def test_x11_range_tcp(db_2026):
    assert registrations(db_2026, "service_key = 'x11' and transport = 'tcp'") == [
        row(
            9694,
            "x11",
            "x11",
            "6000-6063",
            6000,
            6063,
            "tcp",
            "X Window System",
            "[Stephen_Gildea]",
            "[Stephen_Gildea]",
            None,
            None,
            None,
            None,
            "Known Unauthorized Use on port 6003",
            None,
            10225,
        )
    ]


def test_whois_plus_plus_and_whoispp_on_63_tcp(db_2026):
    assert registrations(db_2026, "port_low <= 63 and port_high >= 63 and transport = 'tcp'") == [
        row(
            133,
            "whoispp",
            "whoispp",
            "63",
            63,
            63,
            "tcp",
            'whois++\nIANA assigned this well-formed service name as a replacement for "whois++".',
            "[Rickard_Schoultz]",
            "[Rickard_Schoultz]",
            None,
            None,
            None,
            None,
            None,
            None,
            134,
        ),
        row(
            134,
            "whois++",
            "whois++",
            "63",
            63,
            63,
            "tcp",
            "whois++",
            "[Rickard_Schoultz]",
            "[Rickard_Schoultz]",
            None,
            None,
            None,
            None,
            None,
            'This entry is an alias to "whoispp".\n'
            "This entry is now historic, not usable for use with many\n"
            "common service discovery mechanisms.",
            136,
        ),
    ]


def test_name_without_port(db_2026):
    assert registrations(db_2026, "service_key = 'arp'") == [
        row(
            13446,
            "arp",
            "arp",
            "",
            None,
            None,
            None,
            "Address Resolution Protocol",
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            14111,
        )
    ]


def test_service_key_is_case_insensitive_name(db_2026):
    assert registrations(db_2026, "service_key = 'cailic'")[0]["service_name"] == "CAIlic"
    assert query(
        db_2026,
        "select count(*) as n from registrations where service_key is not lower(service_name)",
    ) == [{"n": 0}]


def test_registrations_column_types(db_2026):
    assert [(c["name"], c["type"], c["pk"]) for c in query(db_2026, "pragma table_info(registrations)")] == [
        ("id", "INTEGER", 1),
        ("service_name", "TEXT", 0),
        ("service_key", "TEXT", 0),
        ("port", "TEXT", 0),
        ("port_low", "INTEGER", 0),
        ("port_high", "INTEGER", 0),
        ("transport", "TEXT", 0),
        ("description", "TEXT", 0),
        ("assignee", "TEXT", 0),
        ("contact", "TEXT", 0),
        ("registration_date", "TEXT", 0),
        ("modification_date", "TEXT", 0),
        ("reference", "TEXT", 0),
        ("service_code", "TEXT", 0),
        ("unauthorized_use", "TEXT", 0),
        ("assignment_notes", "TEXT", 0),
        ("line", "INTEGER", 0),
    ]


def test_ingests_row_is_the_provenance_of_the_file(db_2026, snapshot_2026):
    data = snapshot_2026.read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))[1:]
    [ingest] = query(db_2026, "select * from ingests")
    fetched_at = datetime.datetime.fromisoformat(ingest.pop("fetched_at"))
    age = datetime.datetime.now(datetime.timezone.utc) - fetched_at
    assert datetime.timedelta(0) <= age < datetime.timedelta(hours=1)
    assert ingest == {
        "id": 1,
        "source": snapshot_2026.name,
        "final_url": None,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "etag": None,
        "last_modified": None,
        "row_count": len(rows),
        "newest_registration_date": max(r[6] for r in rows),
        "newest_modification_date": max(r[7] for r in rows),
        # A CSV carries no date of its own (the XML's <updated>).
        "registry_updated": None,
        # So the newest of the two dates above.
        "registry_date": "2026-02-25",
        "common_uses_sha256": hashlib.sha256(COMMON_USES_CSV.read_bytes()).hexdigest(),
        "build_version": BUILD_VERSION,
    }
    # The snapshot's README names its newest registration date.
    assert ingest["newest_registration_date"] == "2026-02-25"


@pytest.mark.parametrize(
    "sql, detail",
    [
        (
            "select * from registrations where service_key = 'ssh'",
            "SEARCH registrations USING INDEX idx_registrations_service_key (service_key=?)",
        ),
        (
            "select * from registrations where port_low = 22",
            "SEARCH registrations USING INDEX idx_registrations_port_low_port_high (port_low=?)",
        ),
        (
            "select * from registrations where transport = 'dccp'",
            "SEARCH registrations USING INDEX idx_registrations_transport (transport=?)",
        ),
        # Datasette's table page of ports filtered on status and range, a page further on:
        # one range search, no table scan from the first port on, no sort.
        (
            "select * from ports where status = 'unassigned' and range = 'Dynamic Ports' and port > 400"
            " order by port limit 101",
            "SEARCH ports USING INDEX idx_ports_range_status (range=? AND status=? AND rowid>?)",
        ),
        (
            "select count(*) from ports where range = 'User Ports' and status = 'assigned'",
            "SEARCH ports USING COVERING INDEX idx_ports_range_status (range=? AND status=?)",
        ),
    ],
)
def test_lookups_use_their_index(db_2026, sql, detail):
    assert [p["detail"] for p in query(db_2026, "explain query plan " + sql)] == [detail]


def test_registrations_indexes(db_2026):
    indexes = query(
        db_2026,
        "select il.name, group_concat(ii.name, ',') as columns "
        "from pragma_index_list('registrations') il, pragma_index_info(il.name) ii "
        "group by il.name order by il.name",
    )
    assert indexes == [
        {"name": "idx_registrations_port_low_port_high", "columns": "port_low,port_high"},
        {"name": "idx_registrations_service_key", "columns": "service_key"},
        {"name": "idx_registrations_transport", "columns": "transport"},
    ]


def test_fts5_over_name_description_notes(db_2026):
    [fts] = query(db_2026, "select sql from sqlite_master where name = 'registrations_fts'")
    assert "USING FTS5" in fts["sql"]
    assert '"service_name", "description", "assignment_notes"' in fts["sql"]
    assert query(db_2026, "select count(*) as n from registrations_fts_docsize") == [{"n": 14500}]
    # A phrase search finds exactly the rows a scan of the same columns finds.
    found = query(
        db_2026,
        "select rowid from registrations_fts where registrations_fts match :q order by rowid",
        {"q": '"x window system"'},
    )
    scanned = query(
        db_2026,
        "select id as rowid from registrations where description like '%x window system%' order by id",
    )
    assert found == scanned and len(found) == 2
    hits = query(db_2026, "select rowid from registrations_fts where registrations_fts match 'whoispp'")
    assert {133, 134} <= {h["rowid"] for h in hits}


def test_database_passes_integrity_check(db_2026):
    assert query(db_2026, "pragma integrity_check") == [{"integrity_check": "ok"}]


def test_build_leaves_no_temp_files_and_keeps_raw(db_2026, snapshot_2026):
    data = snapshot_2026.read_bytes()
    [ingest] = query(db_2026, "select fetched_at, sha256 from ingests")
    # A server pins the build it serves with a hidden link beside it (iana_ports.web.builds);
    # tests serve this very file, and the link is the server's, not the build's.
    left = sorted(p.name for p in db_2026.parent.iterdir() if not p.name.endswith(".served"))
    assert left == ["iana.db", "raw"]
    raw = list((db_2026.parent / "raw").iterdir())
    assert [p.name for p in raw] == [f"{ingest['fetched_at'][:10]}-{hashlib.sha256(data).hexdigest()}.csv"]
    assert raw[0].read_bytes() == data


def test_failed_build_keeps_previous_db_and_removes_temp(db_2026, snapshot_2025, tmp_path):
    db = tmp_path / "iana.db"
    shutil.copyfile(db_2026, db)
    before = db.read_bytes()
    fetched = read_local(str(snapshot_2025))
    records = parse(decode(fetched.data))

    def broken_history(db, previous_path, ingest_id):
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        build(db, fetched, records, history=broken_history)
    assert db.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["iana.db"]


def test_build_returns_the_new_ingests_row(db_2026, snapshot_2025, tmp_path):
    db = tmp_path / "iana.db"
    shutil.copyfile(db_2026, db)
    fetched = read_local(str(snapshot_2025))
    row = build(db, fetched, parse(decode(fetched.data)), history=carry)
    # History renumbers the new ingest after the carried one.
    [newest] = query(db, "select * from ingests where id = (select max(id) from ingests)")
    assert row == newest and row["id"] == 2


def test_swap_is_atomic_for_open_readers(db_2026, snapshot_2025, tmp_path, capsys):
    db = tmp_path / "iana.db"
    shutil.copyfile(db_2026, db)
    reader = sqlite3.connect(file_uri(db), uri=True)
    try:
        assert reader.execute("select count(*) from registrations").fetchone() == (14500,)
        assert main(["--source", str(snapshot_2025), "--db", str(db)]) == 0
        # The open reader keeps the old file whole; new readers see the new one.
        assert reader.execute("select count(*) from registrations").fetchone() == (14500,)
    finally:
        reader.close()
    assert query(db, "select count(*) as n from registrations") == [{"n": 14474}]
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.startswith(f"built {db}: 14474 registrations,") and out.out.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iana.db", "raw"]
