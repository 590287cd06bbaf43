"""ingest/__main__.py: `python -m ingest` as a process, its exit status, its one line, what it leaves.

Bad local files, an unwritable database or raw folder, a raw copy that
cannot be written, the hint when IANA cannot be reached: one error line,
exit 1, the previous database byte-identical and no temporary file left.
"""

import datetime
import hashlib
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support import Kept, environment, ingests, listing, run

from helpers import ROOT
from iana_ports.facts import COMMON_USES_CSV, IANA_CSV_URL
from ingest.version import BUILD_VERSION


def run_ingest(source: Path, db: Path, *flags: str, **kwargs):
    return run("--source", str(source), "--db", str(db), *flags, **kwargs)


def line_of(data: bytes, needle: bytes) -> int:
    return data[: data.index(needle)].count(b"\n") + 1


def replaced(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


def truncated_in_whois_notes(data: bytes) -> tuple[bytes, str]:
    start = data.index(b"whois++,63,tcp,whois++")
    cut = data.index(b"now historic", start)
    return data[:cut], (
        f"line {line_of(data, b'whois++,63,tcp,whois++')}: truncated inside a quoted field "
        "(the file ends before its closing quote)"
    )


def bad_port(data: bytes, old: bytes, new: bytes, problem: str) -> tuple[bytes, str]:
    # `old` starts with the newline ending the line before the row.
    assert old.startswith(b"\n")
    line = line_of(data, old) + 1
    return replaced(data, old, new), f"line {line}, column 'Port Number': {problem}"


def latin1(data: bytes) -> tuple[bytes, str]:
    old = b"CAIlic,216,tcp,Computer Associates Int'l"
    at = data.index(old) + len(old) - 2
    return (
        replaced(data, old, old.replace(b"'", b"\xe9")),
        f"not a registry CSV: invalid UTF-8 at byte {at}",
    )


def lines(data: bytes) -> int:
    return data.count(b"\n")


def nul_past_64_kib(data: bytes) -> tuple[bytes, str]:
    # Inside a description, far past the part decode() looks at for binary files.
    old = b"\npostgresql,5432,tcp,PostgreSQL Database"
    assert data.index(old) > 65536
    return (
        replaced(data, old, old.replace(b"Database", b"Data\x00base")),
        f"line {line_of(data, old) + 1}: control character U+0000 (the registry has none)",
    )


def duplicated(data: bytes) -> tuple[bytes, str]:
    row = b"imap,143,tcp,Internet Message Access Protocol,[IESG],[IETF_Chair],,2021-02-22,[RFC3501][RFC9051],,,\n"
    return (
        data + row * 100,
        f"line {lines(data) + 1}: the same row as line {line_of(data, row)} (an exact duplicate)",
    )


IMAP_2099 = b"tcp,Internet Message Access Protocol,[IESG],[IETF_Chair],2099-12-31,"
NAME_RULE = "(RFC 6335: up to 15 letters, digits and hyphens; the registry's older names also use _ . / + *)"

# name -> (snapshot bytes -> (bad file bytes, expected message after "error: "))
CASES = {
    "empty": lambda d: (b"", "not a registry CSV: the file is empty"),
    "header-only": lambda d: (
        d[: d.index(b"\n") + 1],
        "not a registry CSV: a header but no data rows",
    ),
    "wrong-header": lambda d: (
        replaced(d, b"Port Number,Transport Protocol", b"Port,Protocol"),
        "not a registry CSV: line 1 must be the 12 registry columns, got "
        "'Service Name,Port,Protocol,Description,Assignee,Contact,Registration Date,Modifi'",
    ),
    # (the gzip of the CSV is a source like the CSV: test_xml_source.py)
    "binary-garbage": lambda d: (
        d[:4096] + bytes(range(32)) + d[4096:],
        "not a registry CSV: the file is binary (NUL bytes)",
    ),
    "latin-1": latin1,
    "truncated-in-quoted-field": truncated_in_whois_notes,
    "non-numeric-port": lambda d: bad_port(d, b"\nssh,22,tcp,", b"\nssh,ssh,tcp,", "not a port or range: 'ssh'"),
    "range-low-above-high": lambda d: bad_port(
        d, b"\nx11,6000-6063,tcp,", b"\nx11,6063-6000,tcp,", "range '6063-6000' has low > high"
    ),
    "port-above-65535": lambda d: bad_port(d, b"\nssh,22,tcp,", b"\nssh,65536,tcp,", "'65536' is above 65535"),
    # Before: a TypeError traceback from model.port_space.
    "nameless-without-description": lambda d: (
        replaced(d, b"\n,1109,,Reserved - IANA,", b"\n,1109,,,"),
        f"line {line_of(d, b',1109,,Reserved - IANA,')}: a row without a service name must have a description",
    ),
    # Before: published, and every later replay skipped every real registry.
    "dated-2099": lambda d: (
        replaced(d, b"tcp,Internet Message Access Protocol,[IESG],[IETF_Chair],,", IMAP_2099),
        f"line {line_of(d, b'imap,143,tcp')}, column 'Registration Date': 2099-12-31 is after the day the file "
        f"was fetched ({datetime.datetime.now(datetime.timezone.utc).date().isoformat()})",
    ),
    "10000-character-name": lambda d: (
        replaced(d, b"\nimap,143,tcp,", b"\n" + b"i" * 10_000 + b",143,tcp,"),
        f"line {line_of(d, b'imap,143,tcp')}, column 'Service Name': {'i' * 40!r}... (10000 characters) "
        f"is not a service name {NAME_RULE}",
    ),
    "tab-in-name": lambda d: (
        replaced(d, b"\nimap,143,tcp,", b"\nim\tap,143,tcp,"),
        f"line {line_of(d, b'imap,143,tcp')}: control character U+0009 (the registry has none)",
    ),
    "nul-past-64-kib": nul_past_64_kib,
    "100-duplicates": duplicated,
    # A close-delimited download cut 11 bytes short, inside the last (unquoted) field.
    "cut-in-the-last-field": lambda d: (
        d[:-12],
        f"line {lines(d)}: the last row has no line end (the file looks cut short)",
    ),
}


@pytest.fixture
def previous_db(db_2026, tmp_path) -> Path:
    db = tmp_path / "db" / "iana.db"
    db.parent.mkdir()
    shutil.copyfile(db_2026, db)
    return db


def assert_rejected(result, db: Path, before: bytes, message: str) -> None:
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"
    assert db.read_bytes() == before
    # No temp file, no raw copy of a file that was refused.
    assert [p.name for p in db.parent.iterdir()] == ["iana.db"]


@pytest.mark.parametrize("case", CASES)
def test_bad_file_is_rejected_and_db_unchanged(case, snapshot_2026, previous_db, tmp_path):
    data, message = CASES[case](snapshot_2026.read_bytes())
    source = tmp_path / f"{case}.csv"
    source.write_bytes(data)
    before = previous_db.read_bytes()
    assert_rejected(run_ingest(source, previous_db), previous_db, before, message)


def test_missing_file(previous_db, tmp_path):
    before = previous_db.read_bytes()
    missing = tmp_path / "nope.csv"
    assert_rejected(
        run_ingest(missing, previous_db),
        previous_db,
        before,
        f"cannot read {missing}: No such file or directory",
    )


def test_directory_as_source(previous_db, tmp_path):
    before = previous_db.read_bytes()
    assert_rejected(run_ingest(tmp_path, previous_db), previous_db, before, f"cannot read {tmp_path}: Is a directory")


def test_same_file_again_is_unchanged(snapshot_2026, previous_db):
    before = previous_db.read_bytes()
    result = run_ingest(snapshot_2026, previous_db)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        f"unchanged: the file is identical to the last ingest (same sha256); {previous_db} not rebuilt\n"
    )
    assert previous_db.read_bytes() == before


def test_unwritable_db_location(snapshot_2026, tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the database folder should be\n")
    db = blocker / "iana.db"
    result = run_ingest(snapshot_2026, db)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: cannot write {db}: [Errno 17] File exists: '{blocker}'\n"
    assert blocker.read_text() == "a file where the database folder should be\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_an_older_registry_is_built_with_a_warning(snapshot_2025, previous_db):
    result = run_ingest(snapshot_2025, previous_db)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith(f"built {previous_db}: 14474 registrations, newest registry date 2025-03-28, ")
    assert result.stdout.endswith("; warning: older than the last ingest's registry (2026-02-25)\n")


def today_and_after(run_it):
    """(result, possible fetch dates): the raw copy is named by the UTC date the file was read."""
    before = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    result = run_it()
    after = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    return result, {before, after}


def test_raw_folder_that_cannot_be_created(snapshot_2025, previous_db, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the raw folder's parent should be\n")
    raw_dir = blocker / "raw"
    sha = hashlib.sha256(snapshot_2025.read_bytes()).hexdigest()
    kept = Kept(previous_db)
    result, dates = today_and_after(lambda: run_ingest(snapshot_2025, previous_db, "--raw-dir", str(raw_dir)))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr in {
        f"error: cannot write raw copy {raw_dir}/{d}-{sha}.csv: [Errno 20] Not a directory: '{raw_dir}'\n"
        for d in dates
    }
    kept.check()  # before, the database was swapped and then this was reported as a failure
    assert listing(previous_db.parent) == ["iana.db"]


def limited_file_size(limit: int) -> str:
    """python -c code: run `python -m ingest` with files capped at `limit` bytes (RLIMIT_FSIZE)."""
    return (
        "import resource, runpy, sys; "
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        "sys.argv[0] = 'ingest'; runpy.run_module('ingest', run_name='__main__', alter_sys=True)"
    )


def test_raw_copy_that_cannot_be_written(snapshot_2025, previous_db):
    """A full raw folder, as writes beyond RLIMIT_FSIZE fail (Python ignores SIGXFSZ): nothing is swapped."""
    sha = hashlib.sha256(snapshot_2025.read_bytes()).hexdigest()
    kept = Kept(previous_db)
    result, dates = today_and_after(
        lambda: subprocess.run(
            [sys.executable, "-c", limited_file_size(500_000), "--source", str(snapshot_2025)]
            + ["--db", str(previous_db)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            env=environment(),
        )
    )
    raw_dir = previous_db.parent / "raw"
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr in {
        f"error: cannot write raw copy {raw_dir}/{d}-{sha}.csv: [Errno 27] File too large\n" for d in dates
    }
    assert Kept(previous_db).sha256 == kept.sha256 and previous_db.stat().st_mtime_ns == kept.mtime
    assert listing(previous_db.parent) == ["iana.db", "raw"]  # and no .part in raw/


def test_iana_unreachable_says_how_to_build_offline(previous_db):
    """The default source, with the network gone: the line says what to do instead."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    port = closed.getsockname()[1]
    kept = Kept(previous_db)
    try:
        # httpx goes through the proxy named in the environment: here, nowhere.
        result = run(
            "--db", str(previous_db), "--retries", "0", env=environment(HTTPS_PROXY=f"http://127.0.0.1:{port}")
        )
    finally:
        closed.close()
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"error: download failed after 1 attempt: {IANA_CSV_URL}: ConnectError: [Errno 111] Connection refused; "
        "to build from a local copy instead: make IANA_CSV=path/to/service-names-port-numbers.csv\n"
    )
    kept.check()


@pytest.mark.slow
def test_a_changed_common_uses_file_forces_a_rebuild(snapshot_2026, previous_db, tmp_path):
    uses = tmp_path / "common_uses.csv"
    uses.write_bytes(COMMON_USES_CSV.read_bytes() + b"\n")  # the same entries, other bytes
    result = run_ingest(snapshot_2026, previous_db, "--common-uses", str(uses))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"built {previous_db}: 14500 registrations, newest registry date 2026-02-25, ")
    newest = ingests(previous_db)[-1]
    assert (newest["id"], newest["common_uses_sha256"]) == (2, hashlib.sha256(uses.read_bytes()).hexdigest())
    again = run_ingest(snapshot_2026, previous_db, "--common-uses", str(uses))
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout == (
        f"unchanged: the file is identical to the last ingest (same sha256); {previous_db} not rebuilt\n"
    )


def test_a_database_of_another_build_version_is_rebuilt(snapshot_2026, previous_db):
    conn = sqlite3.connect(previous_db)
    with conn:
        conn.execute("update ingests set build_version = '4-0123456789abcdef'")
    conn.close()
    result = run_ingest(snapshot_2026, previous_db)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f"built {previous_db}: 14500 registrations, newest registry date 2026-02-25, ")
    versions = [(i["id"], i["build_version"]) for i in ingests(previous_db)]
    assert versions == [(1, "4-0123456789abcdef"), (2, BUILD_VERSION)]


@pytest.mark.slow
def test_a_rule_edit_rebuilds_on_the_next_refresh(snapshot_2026, previous_db, tmp_path):
    """The checkout's code with one rule changed (6697, IRC over TLS, no longer browser-blocked):
    the same registry is rebuilt, and the build's verdicts follow the new rule."""
    copy = tmp_path / "code"
    for package in ("iana_ports", "ingest", "curated"):
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    facts = copy / "iana_ports" / "facts.py"
    edited = facts.read_text().replace("        6697,\n", "", 1)
    assert edited != facts.read_text()
    facts.write_text(edited)
    same = subprocess.run(
        [sys.executable, "-m", "ingest", "--source", str(snapshot_2026), "--db", str(previous_db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert same.stdout.startswith("unchanged: "), same.stdout + same.stderr
    edit = subprocess.run(
        [sys.executable, "-m", "ingest", "--source", str(snapshot_2026), "--db", str(previous_db)],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (edit.returncode, edit.stderr) == (0, "")
    assert edit.stdout.startswith(f"built {previous_db}: 14500 registrations")
    versions = [i["build_version"] for i in ingests(previous_db)]
    assert versions[-2] == BUILD_VERSION and versions[-1] != BUILD_VERSION
    conn = sqlite3.connect(previous_db)
    try:
        assert conn.execute("select browser_blocked from ports where port = 6697").fetchone() == (0,)
    finally:
        conn.close()


def test_an_unexpected_failure_is_one_line_not_a_traceback(snapshot_2025, previous_db):
    """A bug in any stage (here a TypeError raised inside the model, as a nameless row once did)."""
    code = (
        "import runpy, sys; import ingest.model as m; "
        "m.port_space = lambda *a, **k: (_ for _ in ()).throw(TypeError('injected')); "
        "sys.argv[0] = 'ingest'; runpy.run_module('ingest', run_name='__main__', alter_sys=True)"
    )
    kept = Kept(previous_db)
    result = subprocess.run(
        [sys.executable, "-c", code, "--source", str(snapshot_2025), "--db", str(previous_db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=environment(),
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "error: unexpected TypeError: injected; the previous database is unchanged\n"
    kept.check()  # no raw folder, no temporary file either
