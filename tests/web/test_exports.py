"""/exports/* (iana_ports/web/exports.py) through a real Datasette configured as `make serve` runs it.

Status, content types, the build's ETag and 304s, HEAD, the CSV streamed in
chunks, the database file whole, its sha256 in the headers, its
content-addressed twin cached for a year, and a download that a rebuild
swapped in mid-way does not tear.
"""

import asyncio
import base64
import csv
import hashlib
import io
import os
import shutil
import sqlite3
import time

import httpx
import pytest

from deploy.harness import live_server
from helpers import make_datasette
from iana_ports import exports
from iana_ports.store import Store
from iana_ports.web import builds
from iana_ports.web import exports as web_exports
from iana_ports.web.render import CONFIG

BUILD_CACHE = "public, max-age=300, stale-while-revalidate=86400"
IMMUTABLE = "public, max-age=31536000, immutable"
ERROR_CACHE = "public, max-age=60"
TYPES = {
    "/exports/services": "text/plain; charset=utf-8",
    "/exports/ports.json": "application/json; charset=utf-8",
    "/exports/ports.csv": "text/csv; charset=utf-8",
    "/exports/iana.db": "application/vnd.sqlite3",
}


@pytest.fixture(scope="module")
def expected(db_2026) -> dict[str, bytes]:
    """Each export's bytes, from the writers over a Store on the same file (tests/core checks those)."""
    store = Store.open(db_2026)
    try:
        return {
            "/exports/services": exports.services_file(store).encode(),
            "/exports/ports.json": exports.ports_json(store),
            "/exports/ports.csv": "".join(exports.ports_csv(store)).encode(),
            "/exports/iana.db": db_2026.read_bytes(),
        }
    finally:
        store.close()


def scope(path: str, method: str = "GET", headers=()) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("localhost", 80),
    }


async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}


async def asgi(app, path: str, method: str = "GET", headers=(), on_message=None) -> list[dict]:
    """Every ASGI message the app sends for one request, as sent."""
    messages = []

    async def send(message):
        messages.append(message)
        if on_message is not None:
            await on_message(message, messages)

    await app(scope(path, method, headers), receive, send)
    return messages


@pytest.mark.parametrize("path", TYPES)
async def test_export_status_type_cache_and_body(datasette, expected, path):
    response = await datasette.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == TYPES[path]
    assert response.headers["etag"] == builds.current(datasette).etag
    assert response.headers["cache-control"] == BUILD_CACHE
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.content == expected[path]


@pytest.mark.parametrize("path", TYPES)
async def test_export_revalidates_with_a_304(datasette, path):
    etag = builds.current(datasette).etag
    response = await datasette.client.get(path, headers={"if-none-match": etag})
    assert (response.status_code, response.content) == (304, b"")
    assert (response.headers["etag"], response.headers["cache-control"]) == (etag, BUILD_CACHE)
    assert "content-length" not in response.headers or response.headers["content-length"] == "0"
    stale = await datasette.client.get(path, headers={"if-none-match": 'W/"another-build"'})
    assert stale.status_code == 200


@pytest.mark.parametrize("path", ["/exports/ports.csv", "/exports/iana.db"])
async def test_streamed_export_head_makes_no_body(datasette, db_2026, path):
    # Other answers leave dropping a HEAD's body to the server; a stream does not even make one.
    messages = await asgi(datasette.app(), path, "HEAD")
    start, bodies = messages[0], messages[1:]
    headers = dict(start["headers"])
    assert (start["status"], headers[b"content-type"].decode()) == (200, TYPES[path])
    assert headers[b"etag"].decode() == builds.current(datasette).etag
    assert bodies == [{"type": "http.response.body", "body": b"", "more_body": False}]
    if path.endswith(".db"):
        assert headers[b"content-length"] == str(db_2026.stat().st_size).encode()


def test_exports_over_real_http(db_2026, expected):
    """`make serve` (uvicorn): GET and HEAD of each export on the wire."""
    with live_server(db_2026) as base:
        with httpx.Client(base_url=base, timeout=60) as client:
            for path, content_type in TYPES.items():
                with client.stream("GET", path) as response:
                    assert (response.status_code, response.headers["content-type"]) == (200, content_type)
                    body = response.read()
                assert body == expected[path], path
                head = client.head(path)
                assert (head.status_code, head.content, head.headers["etag"]) == (200, b"", response.headers["etag"])
                if path in ("/exports/ports.csv", "/exports/iana.db"):
                    # Made once per build (the CSV) or read from the build's descriptor: the length is known.
                    assert response.headers["content-length"] == head.headers["content-length"] == str(len(body))


async def test_ports_csv_has_every_port(datasette):
    response = await datasette.client.get("/exports/ports.csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert len(rows) == 1 + 65536
    assert rows[0][:7] == ["port", "status", "tcp", "udp", "sctp", "dccp", "services"]
    assert [int(r[0]) for r in rows[1:]] == list(range(65536))
    assert rows[1 + 22][:7] == ["22", "assigned", "assigned", "assigned", "assigned", "unassigned", "ssh"]
    assert rows[1 + 60878][:7] == ["60878", "unassigned", "unassigned", "unassigned", "unassigned", "unassigned", ""]


async def test_ports_csv_is_sent_in_pieces(datasette, expected):
    messages = await asgi(datasette.app(), "/exports/ports.csv")
    start, bodies = messages[0], messages[1:]
    assert start["status"] == 200
    # Made once per build, so its length is known up front.
    assert dict(start["headers"])[b"content-length"] == str(len(expected["/exports/ports.csv"])).encode()
    assert [m.get("more_body", False) for m in bodies] == [True] * (len(bodies) - 1) + [False]
    assert [len(m["body"]) for m in bodies[:-2]] == [web_exports.SEND_CHUNK] * (len(bodies) - 2)
    assert bodies[-1]["body"] == b""  # never the whole 8 MB in one message
    assert b"".join(m["body"] for m in bodies) == expected["/exports/ports.csv"]


async def test_database_file_and_its_sha256(datasette, db_2026):
    on_disk = db_2026.read_bytes()
    sha256 = hashlib.sha256(on_disk).hexdigest()
    response = await datasette.client.get("/exports/iana.db")
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == sha256
    assert response.headers["repr-digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(sha256)).decode()}:"
    assert response.headers["content-location"] == f"/exports/iana-{sha256}.db"
    assert response.headers["content-length"] == str(len(on_disk))
    assert response.headers["content-disposition"] == 'attachment; filename="iana.db"'
    # The file is a build: it opens and answers.
    conn = sqlite3.connect(":memory:")
    conn.deserialize(response.content)
    assert conn.execute("select services from ports where port = 22").fetchone() == ('["ssh"]',)
    conn.close()


async def test_database_by_content_address(datasette, db_2026, db_2025):
    on_disk = db_2026.read_bytes()
    sha256 = hashlib.sha256(on_disk).hexdigest()
    response = await datasette.client.get(f"/exports/iana-{sha256}.db")
    assert response.status_code == 200
    assert response.content == on_disk
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["etag"] == builds.current(datasette).etag
    assert response.headers["content-type"] == "application/vnd.sqlite3"
    # Another build's file is not served here: not this one, and never a guess.
    other = hashlib.sha256(db_2025.read_bytes()).hexdigest()
    for wrong in (other, "0" * 64):
        missing = await datasette.client.get(f"/exports/iana-{wrong}.db")
        assert (missing.status_code, missing.text) == (
            404,
            "No such database file: it is not the one served now, which is at /exports/iana.db.\n",
        )
        assert (missing.headers["content-type"], missing.headers["cache-control"]) == (
            "text/plain; charset=utf-8",
            ERROR_CACHE,
        )
    # Not a sha256 at all: not an export route, so Datasette's own 404.
    assert (await datasette.client.get("/exports/iana-XYZ.db")).status_code == 404


async def test_database_is_streamed_in_chunks(datasette, db_2026):
    messages = await asgi(datasette.app(), "/exports/iana.db")
    bodies = messages[1:]
    assert [m.get("more_body", False) for m in bodies] == [True] * (len(bodies) - 1) + [False]
    assert max(len(m["body"]) for m in bodies) == exports.FILE_CHUNK
    assert len(bodies) > 10
    assert b"".join(m["body"] for m in bodies) == db_2026.read_bytes()


async def test_a_rebuild_does_not_tear_a_download(db_2026, db_2025, tmp_path):
    served = tmp_path / "iana.db"
    shutil.copyfile(db_2026, served)
    original = served.read_bytes()
    rebuilt = tmp_path / ".iana.db.building"
    shutil.copyfile(db_2025, rebuilt)
    ds = make_datasette(served)
    await ds.invoke_startup()
    first = builds.current(ds)
    try:

        async def rebuild_after_the_first_chunk(message, messages):
            if message["type"] == "http.response.body" and len(messages) == 2:
                # What `python -m ingest` does: a finished file renamed onto the served path.
                os.replace(rebuilt, served)
                deadline = time.monotonic() + 10
                while builds.current(ds) is first:
                    assert time.monotonic() < deadline, "the new build was not swapped in"
                    await asyncio.sleep(0.05)

        messages = await asgi(ds.app(), "/exports/iana.db", on_message=rebuild_after_the_first_chunk)
        assert len(messages) > 3, "the download must still be under way when the rebuild lands"
        assert b"".join(m["body"] for m in messages[1:]) == original
        # New requests get the new build, under its own ETag and address.
        after = await ds.client.get("/exports/iana.db")
        assert after.content == db_2025.read_bytes() != original
        assert after.headers["etag"] != dict(messages[0]["headers"])[b"etag"].decode()
        assert after.headers["content-location"] == f"/exports/iana-{hashlib.sha256(after.content).hexdigest()}.db"
    finally:
        for db in ds.databases.values():
            db.close()


async def test_exports_without_a_build_are_503(tmp_path):
    plain = tmp_path / "plain.db"
    conn = sqlite3.connect(plain)
    conn.execute("create table t (x)")
    conn.commit()
    conn.close()
    ds = make_datasette(plain)
    await ds.invoke_startup()
    try:
        for path in TYPES:
            response = await ds.client.get(path)
            assert response.status_code == 503, path
            assert response.headers["cache-control"] == "no-store"
            if path.endswith(".json"):
                assert response.json()["error"] == "The registry database is not loaded yet; try again shortly."
            else:
                assert response.text == "The registry database is not loaded yet; try again shortly.\n"
    finally:
        for db in ds.databases.values():
            db.close()


async def test_datasettes_own_download_is_the_pinned_build(datasette, db_2026):
    # /iana.db is Datasette's download of the served file; answered like /exports/iana.db,
    # from the build being served rather than whatever the path names by now.
    response = await datasette.client.get("/iana.db")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.sqlite3"
    assert response.headers["content-disposition"] == 'attachment; filename="iana.db"'
    assert hashlib.sha256(response.content).hexdigest() == hashlib.sha256(db_2026.read_bytes()).hexdigest()
    assert response.headers["etag"] == builds.current(datasette).etag
    nothing = await datasette.client.get("/nope.db")
    assert nothing.status_code == 404


async def test_a_dotted_name_and_a_second_database_are_downloaded_too(tmp_path, db_2026):
    from datasette.app import Datasette

    served = tmp_path / "iana.2026.db"
    shutil.copyfile(db_2026, served)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("create table t (x)").connection.close()
    ds = Datasette([], immutables=[str(served), str(other)], config_dir=CONFIG)
    await ds.invoke_startup()
    try:
        # Datasette's own link: the name tilde-encoded, "." as "~2E".
        database_page = (await ds.client.get("/iana~2E2026")).text
        assert 'href="/iana~2E2026.db"' in database_page
        response = await ds.client.get("/iana~2E2026.db")
        assert (response.status_code, response.headers["etag"]) == (200, builds.current(ds).etag)
        assert response.content == served.read_bytes()
        # Another database is not the registry's: Datasette serves its file.
        response = await ds.client.get("/other.db")
        assert (response.status_code, response.content) == (200, other.read_bytes())
    finally:
        for db in ds.databases.values():
            db.close()
