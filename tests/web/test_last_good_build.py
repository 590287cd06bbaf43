"""The last good build is kept, and said so: real servers, real symlinks, real bad files
swapped under them, /-/healthz's exact answer and the server's own log.

Every bad file here is os.replace()d onto the served path (or its symlink's
target) while the server runs, as a careless operator or a broken deploy
would; the server must keep answering from the build it had, say "stale"
with the reason, and log the file once, however long it stays.
"""

import concurrent.futures
import contextlib
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from deploy.harness import process
from deploy.harness import build, free_port, serve_command
from iana_ports.facts import registry_date
from iana_ports.web import builds

# Polls of the served path a bad file must sit through without a second log line.
POLLS = 8
# Pages that read the build in every way the site does: the MemoryStore, full-text
# search (SQL on the pinned file), a Datasette table and row page, and the exports.
PAGES = ("/", "/ports/22.json", "/search.json?q=ssh", "/services/ssh.json", "/sitemap.xml", "/exports/services")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def registry_sha(db: Path) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("select sha256 from ingests order by id desc limit 1").fetchone()[0]
    finally:
        conn.close()


@contextlib.contextmanager
def server(db: Path, log: Path, bound_by_modes: bool = False):
    """`make serve`'s command on db; its stderr in `log`. bound_by_modes: without the capabilities
    that let root read any file (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH), so a file's mode binds it
    as it binds a deploy user, while the checkout (root's, in whatever folder) stays readable."""
    port = free_port()
    command = serve_command(db, port)
    if bound_by_modes:
        dropped = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--bounding-set={dropped}", f"--inh-caps={dropped}", *command]
    with open(log, "wb") as out, process(command, port, log=out) as (base, _):
        yield base


def health(base: str) -> tuple[int, dict]:
    r = httpx.get(base + "/-/healthz", timeout=10)
    return r.status_code, r.json()


def wait_for(base: str, check, what: str, ceiling: float = 15.0) -> dict:
    """/-/healthz's body once check(status, body) holds; a generous ceiling, never a timing."""
    deadline = time.monotonic() + ceiling
    while True:
        status, body = health(base)
        if check(status, body):
            return body
        assert time.monotonic() < deadline, f"healthz never showed {what}: {status} {body}"
        time.sleep(0.1)


def sit_out_polls() -> None:
    """Long enough for the watcher to look at the path POLLS more times."""
    time.sleep(POLLS * builds.POLL_SECONDS)


def replace(target: Path, content: Path) -> None:
    """os.replace() a copy of `content` onto `target`: a new inode, as a deploy would."""
    tmp = target.with_name(f".incoming-{target.name}")
    shutil.copyfile(content, tmp)
    os.replace(tmp, target)


def expected_health(db: Path, etag: str, reason: str | None = None, database: str = "iana") -> dict:
    """The whole /-/healthz body for the build `db` holds, served as `database`."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        ingest = dict(conn.execute("select * from ingests order by id desc limit 1").fetchone())
    finally:
        conn.close()
    return {
        "status": "ok" if reason is None else "stale",
        "stale": reason is not None,
        "reason": reason,
        "database": database,
        "sha256": ingest["sha256"],
        "etag": etag,
        "ingested_at": ingest["fetched_at"],
        "source": ingest["source"],
        "registrations": ingest["row_count"],
        "newest_registry_date": registry_date(ingest),
    }


def assert_pages_answer(base: str) -> None:
    for path in PAGES:
        r = httpx.get(base + path, timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])


def log_lines(log: Path) -> list[str]:
    return log.read_text().splitlines()


# Bad builds: (name, how to make it from a good database, the reason healthz gives).
def _garbage(db: Path) -> None:
    db.write_bytes(b"<html><body>502 Bad Gateway</body></html>\n" * 4000)


def _sql(*statements):
    def make(db: Path) -> None:
        conn = sqlite3.connect(db)
        try:
            for sql in statements:
                conn.execute(sql)
            conn.commit()
        finally:
            conn.close()

    return make


def _corrupt_middle(db: Path) -> None:
    data = bytearray(db.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle : middle + 8 * 4096] = b"\xa5" * (8 * 4096)
    db.write_bytes(bytes(data))


REFUSED = "the file now at the served path is not a usable build: "
BAD_BUILDS = [
    ("garbage", _garbage, "file is not a database"),
    ("no ingest", _sql("delete from ingests"), "the ingests table is empty"),
    (
        "65,535 ports",
        _sql("delete from ports where port = 65535"),
        "the ports table has 65535 rows, not one for each of the 65536 ports",
    ),
    (
        "a status out of the set",
        _sql("update ports set tcp = 'Assigned' where port = 22"),
        "ports.tcp holds 'Assigned', not one of unassigned, reserved, assigned",
    ),
    (
        "bad JSON in services.ports",
        _sql("update services set ports = '[22,' where key = 'ssh'"),
        "the services table does not decode (JSONDecodeError: Expecting value: line 1 column 5 (char 4))",
    ),
    ("corrupt middle pages", _corrupt_middle, None),  # SQLite's own words, checked below
]


@pytest.fixture(scope="module")
def good(tmp_path_factory, snapshot_2025, snapshot_2026):
    """Two good builds (2026, 2025) and the bad ones made from the 2026 build."""
    folder = tmp_path_factory.mktemp("builds")
    new = build(snapshot_2026, folder / "new.db")
    old = build(snapshot_2025, folder / "old.db")
    bad = {}
    for name, make, _ in BAD_BUILDS:
        path = folder / (name.replace(" ", "-").replace(",", "") + ".db")
        shutil.copyfile(new, path)
        make(path)
        bad[name] = path
    return new, old, bad


def test_a_symlinked_target_replaced_by_garbage_keeps_the_last_good_build(tmp_path, good):
    new, old, bad = good
    sha = sha256_of(new)
    target = tmp_path / f"iana-{sha}.db"
    shutil.copyfile(new, target)
    served = tmp_path / "current"
    served.symlink_to(target.name)
    log = tmp_path / "server.log"
    with server(served, log) as base:
        etag = httpx.get(base + "/ports/22").headers["etag"]
        assert health(base) == (200, expected_health(new, etag, database="current"))
        # The pin is a link to the file itself, beside it, never one to the symlink.
        [pin] = [p for p in tmp_path.iterdir() if p.name.endswith(".served")]
        assert not pin.is_symlink() and pin.stat().st_ino == target.stat().st_ino
        assert pin.name.startswith(f".{target.name}.")

        replace(target, bad["garbage"])
        body = wait_for(base, lambda s, b: b["stale"], "stale")
        assert body == expected_health(new, etag, REFUSED + "file is not a database", "current")
        assert_pages_answer(base)
        # Datasette's own pages read the pinned file too, through connections opened after the swap.
        for path in ("/current/ports/22.json", "/current/registrations.json?service_name=ssh&_shape=array"):
            r = httpx.get(base + path)
            assert r.status_code == 200, (path, r.text[:300])
        # Downloads are the build that was loaded, byte for byte, under its own digest.
        for path in ("/exports/iana.db", f"/exports/iana-{sha}.db"):
            r = httpx.get(base + path)
            assert (r.status_code, hashlib.sha256(r.content).hexdigest()) == (200, sha), path
            assert r.content == new.read_bytes()
        assert httpx.get(base + f"/exports/iana-{sha256_of(target)}.db").status_code == 404
        sit_out_polls()
        lines = log_lines(log)
        assert [line for line in lines if line.startswith("error: ")] == [
            f"error: {served}: not served: file is not a database; still serving the build of {sha[:12]}"
        ]
        assert not any("Traceback" in line for line in lines)

        # The symlink moved onto another good build: served, and no longer stale.
        other = tmp_path / f"iana-{sha256_of(old)}.db"
        shutil.copyfile(old, other)
        link = tmp_path / ".current.new"
        link.symlink_to(other.name)
        os.replace(link, served)
        body = wait_for(base, lambda s, b: b["sha256"] == registry_sha(old), "the 2025 build")
        etag = httpx.get(base + "/ports/22").headers["etag"]
        assert body == expected_health(old, etag, database="current")
        assert httpx.get(base + "/exports/iana.db").content == old.read_bytes()


def test_bad_files_swapped_under_a_running_server_are_refused_and_logged_once(tmp_path, good):
    new, old, bad = good
    served = tmp_path / "iana.db"
    shutil.copyfile(new, served)
    log = tmp_path / "server.log"
    sha = sha256_of(new)
    with server(served, log) as base:
        etag = httpx.get(base + "/ports/22").headers["etag"]
        assert health(base) == (200, expected_health(new, etag))
        expected_errors = []
        for name, _, reason in BAD_BUILDS:
            replace(served, bad[name])
            previous = expected_errors[-1] if expected_errors else None
            body = wait_for(base, lambda s, b: b["stale"] and b["reason"] != previous, f"{name} refused")
            if reason is None:
                # Corrupt pages: whatever SQLite calls it, it is refused for being corrupt.
                reason = body["reason"].removeprefix(REFUSED)
                assert re.fullmatch(r"the database is corrupt \(Page [0-9]+: .+\)", reason), reason
            assert body == expected_health(new, etag, REFUSED + reason), name
            assert_pages_answer(base)
            sit_out_polls()
            expected_errors.append(REFUSED + reason)
            errors = [line for line in log_lines(log) if line.startswith("error: ")]
            assert errors[-1] == f"error: {served}: not served: {reason}; still serving the build of {sha[:12]}"
            assert len(errors) == len(expected_errors), errors  # once per file, however many polls

        # The same bad bytes again, but a new file (new inode): tried, and said, once more.
        replace(served, bad["garbage"])
        wait_for(base, lambda s, b: b["reason"] == REFUSED + "file is not a database", "garbage again")
        sit_out_polls()
        errors = [line for line in log_lines(log) if line.startswith("error: ")]
        assert len(errors) == len(BAD_BUILDS) + 1

        # Deleted: still served, said so, logged once.
        served.unlink()
        body = wait_for(base, lambda s, b: b["reason"] == builds.GONE, "gone")
        assert body == expected_health(new, etag, builds.GONE)
        assert_pages_answer(base)
        sit_out_polls()
        errors = [line for line in log_lines(log) if line.startswith("error: ")]
        assert errors[len(BAD_BUILDS) + 1 :] == [
            f"error: {served}: No such file or directory; still serving the build of {sha[:12]}"
        ]

        # A good build at last: served, and healthz is plain ok again.
        replace(served, old)
        body = wait_for(base, lambda s, b: b["sha256"] == registry_sha(old), "the 2025 build")
        etag = httpx.get(base + "/ports/22").headers["etag"]
        assert body == expected_health(old, etag)
        assert not any("Traceback" in line for line in log_lines(log))


def test_a_bad_file_at_start_serves_nothing_and_says_503(tmp_path, good):
    new, _, bad = good
    served = tmp_path / "iana.db"
    shutil.copyfile(bad["no ingest"], served)
    log = tmp_path / "server.log"
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            serve_command(served, port),
            cwd=Path(__file__).parents[2],
            stderr=out,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.TransportError):
                    r = httpx.get(base + "/-/healthz")
                    break
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
            assert (r.status_code, r.json()) == (
                503,
                {
                    "ok": False,
                    "error": "The registry database is not loaded yet; try again shortly.",
                    "status": 503,
                    "title": "Service unavailable",
                },
            )
            # Nor do Datasette's own pages show the refused file.
            paths = {
                "/iana/ingests.json": 404,
                "/iana.json?sql=select+1": 404,
                "/iana.db": 404,
                "/exports/iana.db": 503,
            }
            assert {path: httpx.get(base + path).status_code for path in paths} == paths
            sit_out_polls()
            errors = [line for line in log_lines(log) if line.startswith("error: ")]
            assert errors == [f"error: {served}: not served: the ingests table is empty; no build is served"]
            # A good file at last: published, under the name the path gives.
            replace(served, new)
            body = wait_for(base, lambda s, b: s == 200, "a build")
            assert body == expected_health(new, httpx.get(base + "/ports/22").headers["etag"])
            assert httpx.get(base + "/iana/ingests.json?_shape=array").json()[0]["sha256"] == registry_sha(new)
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(10)


def test_an_unreadable_served_file_still_downloads_whole(good):
    """chmod 000 on the served file, with a server that file modes bind (root with its DAC
    capabilities reads anything)."""
    new, _, _ = good
    folder = Path(tempfile.mkdtemp(prefix="iana-unreadable-"))
    try:
        served = folder / "iana.db"
        shutil.copyfile(new, served)
        log = folder / "server.log"
        with server(served, log, bound_by_modes=True) as base:
            etag = httpx.get(base + "/ports/22").headers["etag"]
            assert health(base) == (200, expected_health(new, etag))
            os.chmod(served, 0)
            body = wait_for(base, lambda s, b: b["stale"], "unreadable")
            assert body == expected_health(new, etag, builds.UNREADABLE)
            for path in ("/exports/iana.db", f"/exports/iana-{sha256_of(new)}.db", f"/{served.stem}.db"):
                r = httpx.get(base + path)
                assert (r.status_code, r.content == new.read_bytes()) == (200, True), (path, r.text[:300])
            # Every page, SQL ones too, on every SQL thread: each keeps a connection opened with the build.
            paths = [
                *PAGES,
                "/exports/ports.csv",
                "/iana/ports/22.json",
                "/iana/registrations.json?_size=3",
                "/iana.json?sql=select+count(*)+from+ports",
            ]
            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                statuses = list(pool.map(lambda p: (p, httpx.get(base + p, timeout=60).status_code), paths * 6))
            assert statuses == [(p, 200) for p in paths * 6]
            assert "PermissionError" not in log.read_text()
            assert "Traceback" not in log.read_text()
    finally:
        shutil.rmtree(folder)
