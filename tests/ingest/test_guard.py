"""The publish guard and the sources a hostile operator or upstream hands `python -m ingest`.

Every case runs the real command as a process on real files, or against a
real HTTP server of our own on 127.0.0.1 (tests/ingest/servers.py) that
cuts a close-delimited body; each asserts the exit status, the one error
line and that the previous database is byte-identical.
"""

import csv
import io
import os
import shutil
import sqlite3

import pytest
import servers
from support import Kept, ingests, listing, query, run, sha256

from ingest import guard
from ingest.build import figures
from iana_ports.store import file_uri

serve = servers.serve  # fixture

LIMITS = "(1% of rows and services, 5% of assigned ports, at least 10)"
OVERRIDE = "--allow-shrink publishes it anyway"


@pytest.fixture
def previous_db(db_2026, tmp_path):
    db = tmp_path / "db" / "iana.db"
    db.parent.mkdir()
    shutil.copyfile(db_2026, db)
    return db


def ingest(source, db, *flags, **kwargs):
    # The CSV alone: the XML beside it has tests of its own (test_xml_source.py).
    return run("--source", str(source), "--db", str(db), "--xml", "none", *flags, **kwargs)


def error_line(result) -> str:
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    return result.stderr.removesuffix("\n")


def rows_of(data: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(data.decode())))
    return rows[0], rows[1:]


def csv_bytes(header, rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def counted(db) -> dict[str, int]:
    """A build's figures by plain SQL of this test's own (not the guard's queries)."""
    found = {"registrations": query(db, "select count(*) as n from registrations")[0]["n"]}
    for t in ("tcp", "udp", "sctp", "dccp"):
        found[f"assigned {t}"] = query(db, f"select count(*) as n from ports where {t} = 'assigned'")[0]["n"]
    for r in ("System Ports", "User Ports", "Dynamic Ports"):
        sql = f"select count(*) as n from ports where range = '{r}' and status = 'assigned'"
        found[f"assigned {r}"] = query(db, sql)[0]["n"]
    found["services"] = query(db, "select count(*) as n from services")[0]["n"]
    return found


# --- the figures and the thresholds, on the real registries


def test_the_measured_figures_are_the_real_registrys(db_2026):
    assert counted(db_2026) == guard.MEASURED
    conn = sqlite3.connect(file_uri(db_2026), uri=True)
    try:
        assert figures(conn) == guard.MEASURED
    finally:
        conn.close()


def test_a_year_of_real_change_passes_both_ways(db_2026):
    # The 2025-03-28 figures, measured for the README.
    new = counted(db_2026)
    old = {
        **new,
        "registrations": 14474,
        "assigned tcp": 6141,
        "assigned System Ports": 688,
        "assigned User Ports": 5650,
        "services": 7294,
    }
    guard.check(new, old)
    guard.check(old, new)
    guard.check(new, None)
    guard.check(old, None)


def test_the_limits_are_exact():
    old = dict(guard.MEASURED)
    # 1% of 14500 rows is 145: 145 fewer pass, 146 fewer are refused.
    guard.check({**old, "registrations": 14500 - 145}, old)
    with pytest.raises(guard.IngestError) as exc:
        guard.check({**old, "registrations": 14500 - 146}, old)
    assert str(exc.value) == (
        f"refusing to publish: the registry shrank beyond the limits {LIMITS}: "
        f"registrations 14500 -> 14354 (-1.0%); {OVERRIDE}"
    )
    # The smallest figures may lose SLACK ports (all 9 dccp ports of one de-registration).
    guard.check({**old, "assigned dccp": 0}, old)
    # One real de-registration of the widest assigned range (100 ports) passes.
    guard.check({**old, "assigned User Ports": 5556, "assigned tcp": 6042, "assigned udp": 5647}, old)
    guard.check({**old, "registrations": 1}, old, allow_shrink=True)


# --- shrunken sources through the command


@pytest.mark.slow
def test_a_shrunken_local_file_is_refused(snapshot_2026, previous_db, tmp_path):
    """1,450 of 14,500 rows keeping the newest dates: before, published with exit 0."""
    header, rows = rows_of(snapshot_2026.read_bytes())
    newest = sorted(rows, key=lambda r: max(r[6], r[7]), reverse=True)[:1450]
    source = tmp_path / "newest.csv"
    source.write_bytes(csv_bytes(header, newest))
    kept = Kept(previous_db)
    assert error_line(ingest(source, previous_db)) == (
        f"error: refusing to publish: the registry shrank beyond the limits {LIMITS}: "
        "registrations 14500 -> 1450 (-90.0%), assigned tcp 6142 -> 581 (-90.5%), "
        "assigned udp 5747 -> 379 (-93.4%), assigned sctp 88 -> 40 (-54.5%), "
        "assigned System Ports 686 -> 48 (-93.0%), assigned User Ports 5656 -> 662 (-88.3%), "
        f"services 7306 -> 1080 (-85.2%); {OVERRIDE}"
    )
    kept.check()
    # Told to, the operator gets it, and the figures named were the build's.
    result = ingest(source, previous_db, "--allow-shrink")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"built {previous_db}: 1450 registrations, ")
    assert counted(previous_db) == {
        "registrations": 1450,
        "assigned tcp": 581,
        "assigned udp": 379,
        "assigned sctp": 40,
        "assigned dccp": 3,
        "assigned System Ports": 48,
        "assigned User Ports": 662,
        "assigned Dynamic Ports": 0,
        "services": 1080,
    }


def test_a_first_ingest_of_one_row_is_refused(snapshot_2026, tmp_path):
    header, rows = rows_of(snapshot_2026.read_bytes())
    source = tmp_path / "one.csv"
    source.write_bytes(csv_bytes(header, [r for r in rows if r[:3] == ["ssh", "22", "tcp"]]))
    db = tmp_path / "fresh" / "iana.db"
    assert error_line(ingest(source, db)) == (
        "error: refusing to publish a first build smaller than the registry: registrations 1 (at least 13050), "
        "assigned tcp 1 (at least 5527), assigned udp 0 (at least 5172), assigned sctp 0 (at least 79), "
        "assigned dccp 0 (at least 8), assigned System Ports 1 (at least 617), "
        "assigned User Ports 0 (at least 5090), services 1 (at least 6575); "
        f"{OVERRIDE}"
    )
    assert listing(tmp_path / "fresh") == []  # no database, no raw copy, no temporary file


@pytest.mark.slow
def test_a_first_ingest_without_system_ports_is_refused(snapshot_2026, tmp_path):
    header, rows = rows_of(snapshot_2026.read_bytes())
    kept = [r for r in rows if not (r[1] and int(r[1].split("-")[0]) < 1024)]
    source = tmp_path / "no-system.csv"
    source.write_bytes(csv_bytes(header, kept))
    db = tmp_path / "fresh" / "iana.db"
    assert error_line(ingest(source, db)) == (
        "error: refusing to publish a first build smaller than the registry: "
        f"registrations {len(kept)} (at least 13050), assigned tcp 5460 (at least 5527), "
        "assigned udp 5069 (at least 5172), assigned dccp 6 (at least 8), "
        f"assigned System Ports 0 (at least 617); {OVERRIDE}"
    )
    assert not db.exists()
    # The full registry as a first ingest passes the floors.
    result = ingest(snapshot_2026, db)
    assert (result.returncode, result.stderr) == (0, "")


# --- a download cut short: close-delimited (no Content-Length, no chunking), as legal HTTP/1.1 allows


@pytest.mark.slow
def test_a_download_cut_at_a_row_boundary_is_refused(serve, snapshot_2026, previous_db):
    """The server hangs up after 10% of the lines: before, 1,414 registrations were published."""
    data = snapshot_2026.read_bytes()
    url, registry = serve(data)
    lines = data.split(b"\n")
    registry.cut_at = len(b"\n".join(lines[: len(lines) // 10])) + 1
    assert data[registry.cut_at - 1 : registry.cut_at] == b"\n"
    kept = Kept(previous_db)
    result = ingest(registry.url("cut_close"), previous_db, "--force", "--retries", "0")
    assert error_line(result) == (
        f"error: refusing to publish: the registry shrank beyond the limits {LIMITS}: "
        "registrations 14500 -> 1414 (-90.2%), assigned tcp 6142 -> 639 (-89.6%), "
        "assigned udp 5747 -> 636 (-88.9%), assigned sctp 88 -> 7 (-92.0%), "
        "assigned System Ports 686 -> 641 (-6.6%), assigned User Ports 5656 -> 0 (-100.0%), "
        f"services 7306 -> 675 (-90.8%); {OVERRIDE}"
    )
    kept.check()
    assert registry.requests[-1]["path"] == f"/cut_close/{servers.NAME}"


def test_a_download_cut_inside_the_last_field_is_refused(serve, snapshot_2026, previous_db):
    """11 bytes short, inside the last row's unquoted notes: before, published."""
    data = snapshot_2026.read_bytes()
    url, registry = serve(data)
    registry.cut_at = len(data) - 12  # the final line end and 11 bytes of "ZigBeeNetworkDevices"
    kept = Kept(previous_db)
    result = ingest(registry.url("cut_close"), previous_db, "--force", "--retries", "0")
    last_line = data.count(b"\n")
    assert error_line(result) == f"error: line {last_line}: the last row has no line end (the file looks cut short)"
    kept.check()


# --- URLs are stored without userinfo or query


def test_credentials_in_the_source_url_are_never_stored(serve, snapshot_2026, tmp_path):
    url, registry = serve(snapshot_2026.read_bytes())
    host = registry.base.removeprefix("http://")
    secret = f"http://zq-oper:hunter2@{host}/ok/{servers.NAME}?token=s3cr3t-t0ken#frag"
    db = tmp_path / "data" / "iana.db"
    result = ingest(secret, db)
    assert (result.returncode, result.stderr) == (0, "")
    assert "hunter2" not in result.stdout and "s3cr3t" not in result.stdout
    [row] = ingests(db)
    assert (row["source"], row["final_url"]) == (f"{registry.base}/ok/{servers.NAME}",) * 2
    for path in db.parent.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert b"hunter2" not in content and b"s3cr3t" not in content and b"zq-oper" not in content
    # The request itself still carried them (HTTP basic auth, the query).
    assert registry.requests[0]["path"] == f"/ok/{servers.NAME}?token=s3cr3t-t0ken"
    assert registry.requests[0]["Authorization"] == "Basic enEtb3BlcjpodW50ZXIy"


def test_an_error_line_does_not_show_the_credentials(serve, snapshot_2026, previous_db):
    url, registry = serve(snapshot_2026.read_bytes())
    host = registry.base.removeprefix("http://")
    kept = Kept(previous_db)
    result = ingest(f"http://zq-oper:hunter2@{host}/not_found/x.csv?token=s3cr3t", previous_db, "--force")
    assert error_line(result) == f"error: download failed: HTTP 404 from http://{host}/not_found/x.csv"
    kept.check()


@pytest.mark.slow
def test_credentials_an_older_build_kept_are_redacted_when_carried(snapshot_2025, previous_db):
    conn = sqlite3.connect(previous_db)
    with conn:
        conn.execute(
            "update ingests set source = 'https://u:pw@example.org/x.csv?token=abc', "
            "final_url = 'https://u:pw@mirror.example.org/x.csv?token=abc'"
        )
    conn.close()
    result = ingest(snapshot_2025, previous_db)
    assert (result.returncode, result.stderr) == (0, "")
    assert [(i["id"], i["source"], i["final_url"]) for i in ingests(previous_db)] == [
        (1, "https://example.org/x.csv", "https://mirror.example.org/x.csv"),
        (2, snapshot_2025.name, None),
    ]
    assert b"token=abc" not in previous_db.read_bytes()


# --- local sources: regular files only, read under --max-bytes and --deadline


def test_a_fifo_is_refused_at_once(previous_db, tmp_path):
    """Before: `--source FIFO --deadline 3` waited for a writer forever."""
    fifo = tmp_path / "registry.csv"
    os.mkfifo(fifo)
    kept = Kept(previous_db)
    result = ingest(fifo, previous_db, "--deadline", "3", timeout=30)
    assert error_line(result) == f"error: cannot read {fifo}: not a regular file (a FIFO)"
    kept.check()


def test_dev_zero_is_refused(previous_db):
    """Before: read until MemoryError, a traceback."""
    kept = Kept(previous_db)
    result = ingest("/dev/zero", previous_db, "--max-bytes", "1000000", timeout=30)
    assert error_line(result) == "error: cannot read /dev/zero: not a regular file (a character device)"
    kept.check()


def test_a_directory_is_refused(previous_db, tmp_path):
    kept = Kept(previous_db)
    assert error_line(ingest(tmp_path / "db", previous_db)) == f"error: cannot read {tmp_path / 'db'}: Is a directory"
    kept.check()


def test_a_local_file_over_the_cap(snapshot_2026, previous_db):
    kept = Kept(previous_db)
    size = snapshot_2026.stat().st_size
    assert error_line(ingest(snapshot_2026, previous_db, "--max-bytes", "1000")) == (
        f"error: {snapshot_2026}: {size} bytes is over the 1000-byte cap (--max-bytes)"
    )
    kept.check()


# --- the previous database's read-only open quotes its path


@pytest.mark.parametrize("folder", ["odd#dir", "odd?dir", "odd%20dir"])
@pytest.mark.slow
def test_a_database_folder_with_uri_characters_ingests_twice(folder, snapshot_2025, snapshot_2026, tmp_path):
    """Before: 'no such table: ingests' on the second ingest, and an empty file 'odd' beside the folder."""
    db = tmp_path / folder / "iana.db"
    first = ingest(snapshot_2025, db)
    assert (first.returncode, first.stderr) == (0, "")
    second = ingest(snapshot_2026, db)
    assert (second.returncode, second.stderr) == (0, "")
    assert [(i["id"], i["row_count"]) for i in ingests(db)] == [(1, 14474), (2, 14500)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder]
    before = sha256(db)
    again = ingest(snapshot_2026, db)
    assert again.stdout.startswith("unchanged: ") and sha256(db) == before
