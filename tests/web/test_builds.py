"""Live refresh: rebuilds under load, HTTP caching and the health endpoint."""

import hashlib
import os
import re
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from deploy.harness import build, live_server
from helpers import ROOT
from iana_ports.web.render import CONFIG

LOAD_SECONDS = 16


def ingest(source, db):
    return subprocess.run(
        [sys.executable, "-m", "ingest", "--source", str(source), "--db", str(db), "--force"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def served_300(base) -> str:
    from load import classify_300

    return classify_300(httpx.get(f"{base}/ports/300.json", timeout=5).json())


def test_rebuilds_under_load_fail_no_request(tmp_path, snapshot_2025, snapshot_2026):
    db = build(snapshot_2025, tmp_path / "iana.db")
    bad_header = tmp_path / "bad-header.csv"
    bad_header.write_text("<html><body>Service Unavailable</body></html>\n")
    truncated = tmp_path / "truncated.csv"
    truncated.write_bytes(snapshot_2026.read_bytes()[:200_000] + b'\n,1,tcp,"cut')
    plan = [snapshot_2026, snapshot_2025, bad_header, snapshot_2026, snapshot_2025, truncated, snapshot_2026]

    with live_server(db) as base:
        assert served_300(base) == "2025"
        load = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "web" / "load.py"), base, str(LOAD_SECONDS), "6"],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1)
        swap_latencies = []
        for source in plan:
            before = db.read_bytes()
            result = ingest(source, db)
            if source in (bad_header, truncated):
                assert result.returncode == 1
                assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
                assert db.read_bytes() == before
                time.sleep(1)
                continue
            assert result.returncode == 0, result.stderr
            want = "2026" if source == snapshot_2026 else "2025"
            start = time.monotonic()
            while served_300(base) != want:
                assert time.monotonic() - start < 5, f"still not serving {source.name} after 5 s"
                time.sleep(0.05)
            swap_latencies.append(time.monotonic() - start)
            time.sleep(0.5)
        out, _ = load.communicate(timeout=LOAD_SECONDS + 30)

    report = json.loads(out)
    statuses = {int(k): v for k, v in report["statuses"].items()}
    assert report["errors"] == []
    assert set(statuses) <= {200, 304}, statuses
    assert sum(statuses.values()) > 200
    assert statuses.get(304, 0) > 0
    answers = report["answers_300"]
    assert answers.get("bad", 0) == 0
    assert answers.get("2025", 0) > 0 and answers.get("2026", 0) > 0
    assert len(swap_latencies) == 5
    assert served_300_final(db, snapshot_2026)


def open_replaced_files(db) -> list[str]:
    """Descriptors, in any process, still open on an unlinked version of `db`."""
    held = []
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target == f"{db} (deleted)":
            held.append(str(fd))
    return held


def test_replaced_files_are_released(tmp_path, snapshot_2025, snapshot_2026):
    db = build(snapshot_2025, tmp_path / "iana.db")
    with live_server(db) as base:
        for i, source in enumerate([snapshot_2026, snapshot_2025] * 4):
            assert ingest(source, db).returncode == 0
            want = "2026" if source == snapshot_2026 else "2025"
            deadline = time.monotonic() + 5
            while served_300(base) != want:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            for _ in range(20):
                httpx.get(f"{base}/ports/{i}.json", headers={"Cache-Control": "no-cache"})
        # Only the file Datasette itself opened at start-up may stay held;
        # every build swapped in and out since must be closed.
        assert len(open_replaced_files(db)) <= 2, open_replaced_files(db)


def served_300_final(db, snapshot_2026) -> bool:
    # The file on disk is the last good build: the 2026-02-25 snapshot.
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        sha = conn.execute("select sha256 from ingests order by id desc limit 1").fetchone()[0]
    finally:
        conn.close()
    return sha == hashlib.sha256(snapshot_2026.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def served_2026(tmp_path_factory, db_2026):
    db = tmp_path_factory.mktemp("served") / "iana.db"
    shutil.copyfile(db_2026, db)
    with live_server(db) as base:
        yield base, db


@pytest.mark.parametrize("path", ["/ports/22", "/ports/22.json", "/services/ssh", "/services/ssh.json"])
def test_etag_and_304(served_2026, path):
    base, _ = served_2026
    first = httpx.get(base + path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    # Weak: Datasette's pages carry timings, so only the meaning is the same byte for byte.
    assert re.fullmatch(r'W/"[0-9a-f]{32}"', etag)
    assert first.headers["cache-control"] == "public, max-age=300, stale-while-revalidate=86400"
    again = httpx.get(base + path, headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    weak = httpx.get(base + path, headers={"If-None-Match": f'"nope", {etag.removeprefix("W/")}'})
    assert weak.status_code == 304
    stale = httpx.get(base + path, headers={"If-None-Match": '"0000"'})
    assert stale.status_code == 200 and stale.content == first.content


def test_errors_are_not_cached(served_2026):
    base, _ = served_2026
    r = httpx.get(base + "/ports/65536")
    assert r.status_code == 404
    assert "etag" not in r.headers


@pytest.mark.parametrize(
    "path, status", [("/ports/65536", 404), ("/ports/abc.json", 404), ("/services/nosuch", 404), ("/ports/22/", 302)]
)
def test_a_matching_etag_never_turns_a_non_200_into_304(served_2026, path, status):
    base, _ = served_2026
    etag = httpx.get(base + "/ports/22").headers["etag"]
    for header in (etag, "*"):
        assert httpx.get(base + path, headers={"If-None-Match": header}).status_code == status


def test_304_keeps_cors_and_drops_the_body_headers(served_2026):
    base, _ = served_2026
    etag = httpx.get(base + "/ports/22.json").headers["etag"]
    r = httpx.get(base + "/ports/22.json", headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.headers["access-control-allow-origin"] == "*"
    assert "content-type" not in r.headers


def test_health(served_2026, snapshot_2026):
    base, _ = served_2026
    r = httpx.get(base + "/-/healthz")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["access-control-allow-origin"] == "*"
    body = r.json()
    etag = httpx.get(base + "/ports/22").headers["etag"]
    assert body == {
        "status": "ok",
        "stale": False,
        "reason": None,
        "database": "iana",
        "sha256": hashlib.sha256(snapshot_2026.read_bytes()).hexdigest(),
        "etag": etag,
        "ingested_at": body["ingested_at"],
        "source": snapshot_2026.name,
        "registrations": 14500,
        "newest_registry_date": "2026-02-25",
    }
    assert body["ingested_at"][:4] >= "2026"


@pytest.mark.parametrize("path", ["/-/databases", "/-/databases.json"])
def test_the_databases_list_leaves_out_where_the_file_is(served_2026, path):
    base, db = served_2026
    r = httpx.get(base + path)
    assert (r.status_code, r.headers["content-type"]) == (200, "application/json; charset=utf-8")
    [listed] = r.json()
    assert str(db.parent) not in r.text
    assert listed == {
        "name": "iana",
        "route": "iana",
        "size": db.stat().st_size,
        "is_mutable": False,
        "is_memory": False,
        "hash": hashlib.sha256(db.read_bytes()).hexdigest(),
    }


@pytest.mark.parametrize("tables", [False, True])
def test_pages_are_503_without_a_registry(tmp_path, tables):
    import asyncio
    import sqlite3

    from datasette.app import Datasette

    files = []
    if tables:
        empty = tmp_path / "iana.db"
        sqlite3.connect(empty).execute("create table t (x)").connection.close()
        files = [str(empty)]
    ds = Datasette([], immutables=files, config_dir=CONFIG)

    async def statuses():
        await ds.invoke_startup()
        paths = [
            "/",
            "/ports/22",
            "/ports/22.json",
            "/services/ssh",
            "/search?q=ssh",
            "/lookup?q=ssh",
            "/portmap.png",
            "/-/healthz",
        ]
        return {p: (await ds.client.get(p)).status_code for p in paths}

    got = asyncio.run(statuses())
    assert got == dict.fromkeys(got, 503)
    body = asyncio.run(ds.client.get("/-/healthz")).json()
    assert body == {
        "ok": False,
        "error": "The registry database is not loaded yet; try again shortly.",
        "status": 503,
        "title": "Service unavailable",
    }
