"""`python -m ingest --source FILE` on bad local files: one error line, exit 1, nothing lost."""

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_ingest(source: Path, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ingest", "--source", str(source), "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


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
    "binary-garbage": lambda d: (
        gzip.compress(d, mtime=0),
        "not a registry CSV: the file is binary (NUL bytes)",
    ),
    "latin-1": latin1,
    "truncated-in-quoted-field": truncated_in_whois_notes,
    "non-numeric-port": lambda d: bad_port(
        d, b"\nssh,22,tcp,", b"\nssh,ssh,tcp,", "not a port or range: 'ssh'"
    ),
    "range-low-above-high": lambda d: bad_port(
        d, b"\nx11,6000-6063,tcp,", b"\nx11,6063-6000,tcp,", "range '6063-6000' has low > high"
    ),
    "port-above-65535": lambda d: bad_port(
        d, b"\nssh,22,tcp,", b"\nssh,65536,tcp,", "'65536' is above 65535"
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
    assert_rejected(
        run_ingest(tmp_path, previous_db), previous_db, before, f"cannot read {tmp_path}: Is a directory"
    )


def test_same_file_again_is_unchanged(snapshot_2026, previous_db):
    before = previous_db.read_bytes()
    result = run_ingest(snapshot_2026, previous_db)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == (
        "unchanged: the file is identical to the last ingest (same sha256); "
        f"{previous_db} not rebuilt\n"
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
