"""ingest/lock.py: one ingest at a time per database, with real concurrent processes.

Runs overlap for certain, not by luck: the first one holds the lock while
its download waits on the test server's gate, or the test itself holds the
lock. A process is known to be waiting once /proc shows it has the lock
file open.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import pytest
import servers
from servers import wait_for
from support import Kept, command, environment, ingests, listing, query, run

from helpers import ROOT
from ingest import lock
from ingest.__main__ import main

serve = servers.serve  # fixture


def popen(*args) -> subprocess.Popen:
    return subprocess.Popen(
        command(*map(str, args)),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )


def has_open(pid: int, path: Path) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fd) == str(path) for fd in fds.iterdir())
    except FileNotFoundError:  # the process ended, or closed that fd meanwhile
        return False


def finished(proc: subprocess.Popen) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def db_copy(db_2026, tmp_path) -> Path:
    db = tmp_path / "data" / "iana.db"
    db.parent.mkdir()
    shutil.copyfile(db_2026, db)
    return db


@pytest.mark.slow
def test_two_overlapping_runs_both_land(serve, snapshot_2025, snapshot_2026, history_db, tmp_path):
    """A download of 2025 holds the lock; a run with the 2026 file waits, then builds on top of it."""
    _, registry = serve(snapshot_2025.read_bytes(), etag=None, last_modified=None)
    registry.script = ["gated"]
    db = tmp_path / "data" / "iana.db"
    lock_file = db.parent / ".iana.db.lock"

    first = popen("--source", registry.url(), "--db", db, "--xml", "none")  # the CSV alone
    wait_for(lambda: registry.requests, what="the first run's download")  # it holds the lock from before it
    assert lock_file.read_text() == f"{first.pid}\n"
    second = popen("--source", snapshot_2026, "--db", db)
    wait_for(lambda: has_open(second.pid, lock_file), what="the second run to wait for the lock")
    assert first.poll() is None and second.poll() is None
    registry.gate.set()

    status_1, out_1, err_1 = finished(first)
    status_2, out_2, err_2 = finished(second)
    rows = ingests(db)
    sha_25, sha_26 = sha256_of(snapshot_2025), sha256_of(snapshot_2026)
    raw_25 = db.parent / "raw" / f"{rows[0]['fetched_at'][:10]}-{sha_25}.csv"
    raw_26 = db.parent / "raw" / f"{rows[1]['fetched_at'][:10]}-{sha_26}.csv"
    assert (status_1, err_1, out_1) == (
        0,
        "",
        f"built {db}: 14474 registrations, newest registry date 2025-03-28, sha256 {sha_25[:12]}, raw copy {raw_25}\n",
    )
    assert (status_2, err_2, out_2) == (
        0,
        "",
        f"built {db}: 14500 registrations, newest registry date 2026-02-25, sha256 {sha_26[:12]}, raw copy {raw_26}\n",
    )
    assert [(r["id"], r["source"], r["sha256"], r["row_count"]) for r in rows] == [
        (1, registry.url(), sha_25, 14474),
        (2, snapshot_2026.name, sha_26, 14500),
    ]
    # The changes between them are exactly those of a replay of the two files, one after the other.
    changes = query(db, "select * from changes order by id")
    assert {(c["ingest"], c["previous_ingest"]) for c in changes} == {(2, 1)}
    assert changes == query(history_db, "select * from changes order by id")
    assert listing(db.parent) == ["iana.db", "raw", f"raw/{raw_25.name}", f"raw/{raw_26.name}"]


def test_a_waiting_run_works_against_the_new_database(snapshot_2026, tmp_path, capsys):
    db = tmp_path / "iana.db"
    with lock.hold(db):
        waiting = popen("--source", snapshot_2026, "--db", db)
        wait_for(lambda: has_open(waiting.pid, tmp_path / ".iana.db.lock"), what="the run to wait for the lock")
        # This process holds the lock, so its own ingest goes ahead (a replay does the same).
        assert main(["--source", str(snapshot_2026), "--db", str(db)]) == 0
        assert waiting.poll() is None
    assert capsys.readouterr().out.startswith(f"built {db}: 14500 registrations")
    assert finished(waiting) == (
        0,
        f"unchanged: the file is identical to the last ingest (same sha256); {db} not rebuilt\n",
        "",
    )
    assert [r["sha256"] for r in ingests(db)] == [sha256_of(snapshot_2026)]


@pytest.mark.parametrize("replay", [False, True])
def test_a_run_that_waits_too_long_gives_up(db_copy, snapshot_2025, replay):
    kept = Kept(db_copy)
    args = ["replay", str(snapshot_2025)] if replay else ["--source", str(snapshot_2025)]
    with lock.hold(db_copy):
        result = run(*args, "--db", str(db_copy), "--lock-wait", "0.5")
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        f"error: another ingest of {db_copy} is still running (pid {os.getpid()}); "
        "gave up waiting after 0.5 s (--lock-wait)\n",
    )
    kept.check()


@pytest.mark.slow
def test_a_run_killed_mid_build_is_cleaned_up_by_the_next(db_copy, snapshot_2025):
    kept = Kept(db_copy)
    sha = sha256_of(snapshot_2025)
    proc = popen("--source", snapshot_2025, "--db", db_copy)
    building = db_copy.with_name(f".iana.db.{proc.pid}.building")
    wait_for(lambda: building.exists() or proc.poll() is not None, what="the build to start")
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(10) == -signal.SIGKILL

    assert sha256_of(db_copy) == kept.sha256
    left = listing(db_copy.parent)
    [part] = [name for name in left if name.endswith(".part")]
    raw_name = part.removeprefix("raw/.").removesuffix(f".{proc.pid}.part")
    assert raw_name.endswith(f"-{sha}.csv")
    assert left == sorted([".iana.db.lock", building.name, "iana.db", "raw", f"raw/.{raw_name}.{proc.pid}.part"])

    result = run("--source", str(snapshot_2025), "--db", str(db_copy))
    assert (result.returncode, result.stderr) == (0, "")
    [newest] = [r for r in ingests(db_copy) if r["id"] == 2]
    raw = f"{newest['fetched_at'][:10]}-{sha}.csv"
    assert result.stdout.startswith(f"built {db_copy}: 14474 registrations, newest registry date 2025-03-28, ")
    assert listing(db_copy.parent) == ["iana.db", "raw", f"raw/{raw}"]


def test_another_thread_of_the_process_waits_too(tmp_path):
    db = tmp_path / "iana.db"
    outcome = []

    def second():
        try:
            with lock.hold(db, wait=0.2):
                outcome.append("held")
        except lock.Busy:
            outcome.append("busy")

    with lock.hold(db):
        thread = threading.Thread(target=second)
        thread.start()
        thread.join()
    thread = threading.Thread(target=second)
    thread.start()
    thread.join()
    assert outcome == ["busy", "held"]


@pytest.mark.parametrize("first", [["--source"], ["replay"]])
def test_a_lock_wait_that_is_no_duration_is_refused(first, snapshot_2026, tmp_path):
    result = run(*first, str(snapshot_2026), "--lock-wait", "nan", "--db", str(tmp_path / "iana.db"))
    assert result.returncode == 2
    assert "--lock-wait: must be 0 or more seconds, got nan" in result.stderr
    assert listing(tmp_path) == []
