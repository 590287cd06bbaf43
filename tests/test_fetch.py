"""`python -m ingest --source URL` against a real HTTP server on 127.0.0.1.

The server serves the real snapshot bytes; each test scripts how it answers
the next requests (5xx, a stall, an HTML page, a cut-off body, 404) and
records the requests it got. Every failure must leave the previous database
byte-identical.
"""

import hashlib
import shutil
import sqlite3
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ingest.__main__ import main

ETAG = '"iana-2026-02-25"'
LAST_MODIFIED = "Wed, 25 Feb 2026 18:04:11 GMT"
HTML = b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head><body>Back soon</body></html>\n"


class Registry:
    """What the server serves, how it answers next, and what it was asked."""

    def __init__(self, body: bytes, etag: str | None = ETAG, last_modified: str | None = LAST_MODIFIED):
        self.body = body
        self.etag = etag
        self.last_modified = last_modified
        self.script: list[str] = []  # behaviours for the next requests; then "ok"
        self.requests: list[dict] = []
        self.released = threading.Event()  # ends stalled handlers at teardown


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        registry = self.server.registry
        registry.requests.append(dict(self.headers))
        behaviour = registry.script.pop(0) if registry.script else "ok"
        getattr(self, behaviour)(registry)

    def ok(self, registry):
        if registry.etag and self.headers.get("If-None-Match") == registry.etag:
            return self.answer(304, b"", registry)
        if (
            registry.last_modified
            and self.headers.get("If-Modified-Since") == registry.last_modified
        ):
            return self.answer(304, b"", registry)
        self.answer(200, registry.body, registry, "text/csv")

    def error500(self, registry):
        self.answer(500, b"Internal Server Error\n", registry, "text/plain")

    def not_found(self, registry):
        self.answer(404, HTML, registry, "text/html")

    def html(self, registry):
        self.answer(200, HTML, registry, "text/html")

    def stall(self, registry):
        # Accept the request, then say nothing until the test is over.
        registry.released.wait(30)
        self.close_connection = True

    def stall_body(self, registry):
        # Headers and the first bytes, then silence.
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(registry.body)))
        self.end_headers()
        self.wfile.write(registry.body[:4096])
        self.wfile.flush()
        registry.released.wait(30)
        self.close_connection = True

    def truncated(self, registry):
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(registry.body)))
        self.end_headers()
        self.wfile.write(registry.body[: len(registry.body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def answer(self, status, body, registry, content_type=None):
        self.send_response(status)
        if registry.etag:
            self.send_header("ETag", registry.etag)
        if registry.last_modified:
            self.send_header("Last-Modified", registry.last_modified)
        if status != 304:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # The client drops connections on purpose (unread 5xx bodies, timeouts).
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def start(registry: Registry) -> tuple[Server, threading.Thread]:
    server = Server(("127.0.0.1", 0), Handler)
    server.registry = registry
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return server, thread


def stop(server: Server, thread: threading.Thread) -> None:
    server.registry.released.set()
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def serve():
    """serve(body, etag=..., last_modified=...) -> (url, Registry); stopped after the test."""
    started = []

    def serve(body: bytes, **validators) -> tuple[str, Registry]:
        server, thread = start(Registry(body, **validators))
        started.append((server, thread))
        host, port = server.server_address
        return f"http://{host}:{port}/assignments/service-names-port-numbers.csv", server.registry

    yield serve
    for server, thread in started:
        stop(server, thread)


def ingest(url: str, db: Path, *flags: str) -> int:
    return main(["--source", url, "--db", str(db), "--timeout", "5", *flags])


def ingests(db: Path) -> list[dict]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("select * from ingests order by id")]
    finally:
        conn.close()


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory, snapshot_2026) -> Path:
    """A database built from a download of the 2026 snapshot (ETag and Last-Modified kept)."""
    server, thread = start(Registry(snapshot_2026.read_bytes()))
    try:
        db = tmp_path_factory.mktemp("downloaded") / "iana.db"
        host, port = server.server_address
        assert ingest(f"http://{host}:{port}/registry.csv", db) == 0
    finally:
        stop(server, thread)
    return db


@pytest.fixture
def previous(downloaded, tmp_path) -> Path:
    """A copy of `downloaded` with its raw/ folder, for a test to try to replace."""
    db = tmp_path / "data" / "iana.db"
    shutil.copytree(downloaded.parent, db.parent)
    return db


class Kept:
    """Snapshot of a database folder: the db bytes, its mtime and every file name."""

    def __init__(self, db: Path):
        self.db = db
        self.bytes = db.read_bytes()
        self.mtime = db.stat().st_mtime_ns
        self.files = listing(db.parent)

    def check(self) -> None:
        assert self.db.read_bytes() == self.bytes
        assert self.db.stat().st_mtime_ns == self.mtime
        assert listing(self.db.parent) == self.files


def one_error_line(capsys) -> str:
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.count("\n") == 1 and out.err.startswith("error: ")
    assert "Traceback" not in out.err
    return out.err.rstrip("\n")


def test_200_then_304_by_etag(serve, snapshot_2026, tmp_path, capsys):
    data = snapshot_2026.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    url, registry = serve(data)
    db = tmp_path / "data" / "iana.db"

    assert ingest(url, db) == 0
    [row] = ingests(db)
    assert {k: row[k] for k in ("source", "sha256", "bytes", "etag", "last_modified", "row_count")} == {
        "source": url,
        "sha256": sha,
        "bytes": len(data),
        "etag": ETAG,
        "last_modified": LAST_MODIFIED,
        "row_count": 14500,
    }
    raw = db.parent / "raw" / f"{row['fetched_at'][:10]}-{sha}.csv"
    assert capsys.readouterr() == (
        f"built {db}: 14500 registrations, newest registry date 2026-02-25, "
        f"sha256 {sha[:12]}, raw copy {raw}\n",
        "",
    )
    assert listing(db.parent) == ["iana.db", "raw", f"raw/{raw.name}"]
    assert raw.read_bytes() == data
    assert "If-None-Match" not in registry.requests[0]

    kept = Kept(db)
    assert ingest(url, db) == 0
    assert capsys.readouterr().out == (
        f"unchanged: the server answered 304 Not Modified; {db} not rebuilt\n"
    )
    assert registry.requests[1]["If-None-Match"] == ETAG
    assert len(registry.requests) == 2
    kept.check()


def test_304_by_last_modified(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes(), etag=None)
    kept = Kept(previous)
    assert ingest(url, previous) == 0
    assert capsys.readouterr().out == (
        f"unchanged: the server answered 304 Not Modified; {previous} not rebuilt\n"
    )
    assert registry.requests[0]["If-Modified-Since"] == LAST_MODIFIED
    kept.check()


def test_same_sha256_without_validators_is_unchanged(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes(), etag=None, last_modified=None)
    kept = Kept(previous)
    assert ingest(url, previous) == 0
    assert capsys.readouterr().out == (
        "unchanged: the downloaded file is identical to the last ingest (same sha256); "
        f"{previous} not rebuilt\n"
    )
    assert len(registry.requests) == 1
    kept.check()


def test_500_twice_then_200_is_retried(serve, snapshot_2025, previous, capsys):
    data = snapshot_2025.read_bytes()
    url, registry = serve(
        data, etag='"iana-2025-03-28"', last_modified="Fri, 28 Mar 2025 16:40:02 GMT"
    )
    registry.script = ["error500", "error500"]
    assert ingest(url, previous, "--retries", "2") == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.startswith(f"built {previous}: 14474 registrations,")
    assert len(registry.requests) == 3
    assert [row["id"] for row in ingests(previous)] == [1, 2]
    newest = ingests(previous)[-1]
    assert (newest["sha256"], newest["etag"], newest["row_count"]) == (
        hashlib.sha256(data).hexdigest(),
        '"iana-2025-03-28"',
        14474,
    )


def test_500_beyond_the_retries_fails(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = ["error500", "error500"]
    kept = Kept(previous)
    assert ingest(url, previous, "--retries", "1") == 1
    assert one_error_line(capsys) == f"error: download failed after 2 attempts: HTTP 500 from {url}"
    assert len(registry.requests) == 2
    kept.check()


@pytest.mark.parametrize("behaviour", ["stall", "stall_body"])
def test_stalled_server_times_out(serve, snapshot_2026, previous, capsys, behaviour):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = [behaviour]
    kept = Kept(previous)
    assert main(["--source", url, "--db", str(previous), "--timeout", "1", "--retries", "0"]) == 1
    assert one_error_line(capsys) == (
        f"error: download timed out after 1 attempts: {url}: ReadTimeout: timed out"
    )
    kept.check()


def test_html_page_with_status_200(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = ["html"]
    kept = Kept(previous)
    assert ingest(url, previous, "--force") == 1
    assert one_error_line(capsys) == (
        "error: not a registry CSV: line 1 must be the 12 registry columns, got '<!DOCTYPE html>'"
    )
    kept.check()


def test_truncated_body(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = ["truncated"]
    kept = Kept(previous)
    assert ingest(url, previous, "--force", "--retries", "0") == 1
    assert one_error_line(capsys) == (
        f"error: download failed after 1 attempts: {url}: RemoteProtocolError: "
        "peer closed connection without sending complete message body "
        f"(received {len(registry.body) // 2} bytes, expected {len(registry.body)})"
    )
    kept.check()


def test_404(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = ["not_found"]
    kept = Kept(previous)
    assert ingest(url, previous, "--force") == 1
    assert one_error_line(capsys) == f"error: download failed: HTTP 404 from {url}"
    assert len(registry.requests) == 1
    kept.check()


def test_size_cap_refuses_before_reading(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    kept = Kept(previous)
    assert ingest(url, previous, "--force", "--max-bytes", "1000") == 1
    assert one_error_line(capsys) == (
        f"error: download refused: {len(registry.body)} bytes is over the 1000-byte cap"
    )
    kept.check()


def test_nothing_listening(previous, capsys):
    server = Server(("127.0.0.1", 0), Handler)  # bound then closed: a port nobody serves
    host, port = server.server_address
    server.server_close()
    url = f"http://{host}:{port}/registry.csv"
    kept = Kept(previous)
    assert ingest(url, previous, "--retries", "0") == 1
    assert one_error_line(capsys) == (
        f"error: download failed after 1 attempts: {url}: ConnectError: [Errno 111] Connection refused"
    )
    kept.check()


def test_negative_retries(previous, capsys):
    kept = Kept(previous)
    assert ingest("http://127.0.0.1:9/registry.csv", previous, "--retries", "-1") == 1
    assert one_error_line(capsys) == "error: retries must be 0 or more, got -1"
    kept.check()
