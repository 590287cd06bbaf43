"""A real HTTP(S) server on 127.0.0.1 (or 127.0.0.2) that answers as real servers do.

It serves the bytes it is given (the real registry snapshots) and answers
each request by a behaviour: the next one in `Registry.script` if any, else
the one named by the first segment of the path (`Registry.url("gzip")`),
else "ok". Behaviours cover the framings (Content-Length, chunked, ended by
closing the connection), content encodings made on the fly when the request
accepts them (gzip, deflate, raw deflate, br), slow and stalled bodies,
redirects (loops, chains, other schemes, other hosts) and broken answers,
among them a close-delimited body the server cuts after `Registry.cut_at` bytes.
It records every request and how each body was sent. A request for the
registry's XML (a path ending in .xml) is answered the same way from
`Registry.xml` and its own validators, or 404 when the server has none.
"""

import copy
import functools
import ssl
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import brotli
import pytest

ETAG = '"iana-2026-02-25"'
XML_ETAG = '"iana-2026-02-25-xml"'
LAST_MODIFIED = "Wed, 25 Feb 2026 18:04:11 GMT"
HTML = b"<!DOCTYPE html>\n<html><head><title>Maintenance</title></head><body>Back soon</body></html>\n"
NAME = "service-names-port-numbers.csv"
PIECE = 16 * 1024
BOMB_BYTES = 256 * 1024 * 1024  # decoded size of the bombs: four times the default cap


class Registry:
    """What the server serves, how it answers next, and what it was asked."""

    def __init__(self, body: bytes, etag: str | None = ETAG, last_modified: str | None = LAST_MODIFIED):
        self.body = body
        self.etag = etag
        self.last_modified = last_modified
        self.script: list[str] = []  # behaviours for the next requests, before the path's
        self.requests: list[dict] = []
        self.sent: list[tuple[str, str]] = []  # (framing, content encoding) of each 200 body
        self.connections = 0
        self.base = ""  # http://host:port of this server
        self.other = ""  # base URL the to_other_* redirects point at
        self.released = threading.Event()  # ends stalled and trickling handlers at teardown
        self.gate = threading.Event()  # the "gated" body's second half waits for it
        self.cut_at = 0  # bytes of the body the "cut_close" answer sends before hanging up
        self.xml: bytes | None = None  # the XML served beside the CSV, with its own validators
        self.xml_etag: str | None = XML_ETAG
        self.xml_last_modified: str | None = LAST_MODIFIED

    def url(self, behaviour: str = "ok") -> str:
        return f"{self.base}/{behaviour}/{NAME}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        registry = self.server.registry
        registry.requests.append({"path": self.path, **self.headers})
        named = self.path.split("/")[1]
        if registry.script:
            behaviour = registry.script.pop(0)
        else:
            behaviour = named if named in BEHAVIOURS else "ok"
        if self.path.split("?")[0].endswith(".xml"):
            if registry.xml is None:
                return self.not_found(registry)
            # The same answers from the XML's bytes; the lists of what was asked and sent stay shared.
            registry = copy.copy(registry)
            registry.body, registry.etag, registry.last_modified = (
                registry.xml,
                registry.xml_etag,
                registry.xml_last_modified,
            )
        getattr(self, behaviour)(registry)

    # -- whole answers ---------------------------------------------------

    def ok(self, registry):
        if registry.etag and self.headers.get("If-None-Match") == registry.etag:
            return self.answer(304, b"", registry)
        if registry.last_modified and self.headers.get("If-Modified-Since") == registry.last_modified:
            return self.answer(304, b"", registry)
        self.send_body(registry, registry.body)

    def error500(self, registry):
        self.answer(500, b"Internal Server Error\n", registry, "text/plain")

    def not_found(self, registry):
        self.answer(404, HTML, registry, "text/html")

    def html(self, registry):
        self.answer(200, HTML, registry, "text/html")

    # -- framings and encodings -------------------------------------------

    def chunked(self, registry):
        self.send_body(registry, registry.body, framing="chunked")

    def close(self, registry):
        self.send_body(registry, registry.body, framing="close")

    def gzip(self, registry):
        self.send_body(registry, registry.body, framing="chunked", encoding="gzip")

    def gzip_close(self, registry):
        self.send_body(registry, registry.body, framing="close", encoding="gzip")

    def gzip_length(self, registry):
        self.send_body(registry, registry.body, framing="length", encoding="gzip")

    def deflate(self, registry):
        self.send_body(registry, registry.body, framing="chunked", encoding="deflate")

    def raw_deflate(self, registry):
        self.send_body(registry, registry.body, framing="chunked", encoding="deflate", raw=True)

    def br(self, registry):
        self.send_body(registry, registry.body, framing="chunked", encoding="br")

    def over_cap_chunked(self, registry):
        # No Content-Length: only counting the bytes received can stop it.
        self.send_body(registry, registry.body * 3, framing="chunked")

    # -- broken answers --------------------------------------------------

    def false_gzip(self, registry):
        self.send_head(registry, 200, {"Content-Encoding": "gzip", "Content-Length": len(registry.body)})
        self.wfile.write(registry.body)

    def false_br(self, registry):
        self.send_head(registry, 200, {"Content-Encoding": "br", "Content-Length": len(registry.body)})
        self.wfile.write(registry.body)

    def cut_gzip_close(self, registry):
        # Ended by closing the connection, so the framing cannot tell it is short.
        whole = gzip_bytes(registry.body)
        self.send_head(registry, 200, {"Content-Encoding": "gzip", "Connection": "close"})
        self.wfile.write(whole[: len(whole) // 2])
        self.close_connection = True

    def cut_close(self, registry):
        # Close-delimited (legal HTTP/1.1: no Content-Length, no chunking), dropped
        # after `cut_at` bytes: to the client it is a complete body.
        self.send_head(registry, 200, {"Connection": "close"})
        self.wfile.write(registry.body[: registry.cut_at])
        self.wfile.flush()
        self.close_connection = True

    def compress(self, registry):
        self.send_head(registry, 200, {"Content-Encoding": "compress", "Content-Length": len(registry.body)})
        self.wfile.write(registry.body)

    def gzip_bomb(self, registry):
        bomb = gzip_bomb()
        self.send_head(registry, 200, {"Content-Encoding": "gzip", "Content-Length": len(bomb)})
        self.wfile.write(bomb)

    def br_bomb(self, registry):
        bomb = br_bomb()
        self.send_head(registry, 200, {"Content-Encoding": "br", "Content-Length": len(bomb)})
        self.wfile.write(bomb)

    def stall(self, registry):
        # Accept the request, then say nothing until the test is over.
        registry.released.wait(30)
        self.close_connection = True

    def stall_body(self, registry):
        # Headers and the first bytes, then silence.
        self.send_head(registry, 200, {"Content-Length": len(registry.body)})
        self.wfile.write(registry.body[:4096])
        self.wfile.flush()
        registry.released.wait(30)
        self.close_connection = True

    def truncated(self, registry):
        self.send_head(registry, 200, {"Content-Length": len(registry.body)})
        self.wfile.write(registry.body[: len(registry.body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def trickle(self, registry):
        # A few bytes every quarter second: no single read ever times out.
        self.send_head(registry, 200, {"Content-Length": len(registry.body)})
        for start in range(0, len(registry.body), 16):
            self.wfile.write(registry.body[start : start + 16])
            self.wfile.flush()
            if registry.released.wait(0.25):
                break
        self.close_connection = True

    def gated(self, registry):
        # Half the body, then the rest once the test opens the gate.
        half = len(registry.body) // 2
        self.send_head(registry, 200, {"Content-Length": len(registry.body)})
        self.wfile.write(registry.body[:half])
        self.wfile.flush()
        registry.gate.wait(60)
        self.wfile.write(registry.body[half:])

    # -- redirects -------------------------------------------------------

    def loop(self, registry):
        self.redirect("/loop/b" if self.path.endswith(NAME) else f"/loop/{NAME}")

    def hops(self, registry):
        last = self.path.rsplit("/", 1)[1]
        self.redirect(f"/hops/{int(last) + 1 if last.isdigit() else 1}")

    def moved(self, registry):
        self.redirect(f"/ok/{NAME}", 301)

    def moved_endless(self, registry):
        # A redirect whose body never ends: reading it before following would never finish.
        self.send_response(302)
        self.send_header("Location", f"/ok/{NAME}")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        end = time.monotonic() + 30
        while not registry.released.is_set() and time.monotonic() < end:
            self.wfile.write(b"%x\r\n%s\r\n" % (PIECE, bytes(PIECE)))
        self.close_connection = True

    def to_ftp(self, registry):
        self.redirect(f"ftp://127.0.0.1/{NAME}")

    def to_file(self, registry):
        self.redirect("file:///etc/passwd")

    def to_other(self, registry):
        self.redirect(f"{registry.other}/ok/{NAME}")

    def to_other_gzip(self, registry):
        self.redirect(f"{registry.other}/gzip/{NAME}")

    # -- helpers ---------------------------------------------------------

    def redirect(self, location: str, status: int = 302):
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def send_head(self, registry, status: int, headers: dict):
        self.send_response(status)
        if registry.etag:
            self.send_header("ETag", registry.etag)
        if registry.last_modified:
            self.send_header("Last-Modified", registry.last_modified)
        self.send_header("Content-Type", "text/csv")
        for name, value in headers.items():
            self.send_header(name, str(value))
        self.end_headers()

    def send_body(self, registry, body: bytes, framing: str = "length", encoding: str = "identity", raw=False):
        accepted = [e.strip().split(";")[0] for e in self.headers.get("Accept-Encoding", "").split(",")]
        if encoding not in accepted:
            encoding = "identity"
        registry.sent.append((framing, encoding))
        pieces = encoded(body, encoding, raw)
        headers = {} if encoding == "identity" else {"Content-Encoding": encoding}
        if framing == "length":
            pieces = [b"".join(pieces)]
            headers["Content-Length"] = len(pieces[0])
        elif framing == "chunked":
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Connection"] = "close"
        self.send_head(registry, 200, headers)
        for piece in pieces:
            if not piece:
                continue
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if framing == "chunked" else piece)
        if framing == "chunked":
            self.wfile.write(b"0\r\n\r\n")
        if framing == "close":
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


BEHAVIOURS = {name for name, value in vars(Handler).items() if callable(value) and not name.startswith("_")} - {
    "do_GET",
    "redirect",
    "send_head",
    "send_body",
    "answer",
    "log_message",
}


def encoded(body: bytes, encoding: str, raw: bool = False) -> list[bytes]:
    """`body` compressed piece by piece, as a server compressing on the fly sends it."""
    pieces = [body[i : i + PIECE] for i in range(0, len(body), PIECE)]
    if encoding == "identity":
        return pieces
    if encoding == "br":
        c = brotli.Compressor(quality=5)  # what servers use on the fly; 11 takes seconds
        return [c.process(p) for p in pieces] + [c.finish()]
    wbits = {"gzip": 31, "deflate": -15 if raw else 15}[encoding]
    c = zlib.compressobj(6, zlib.DEFLATED, wbits)
    return [c.compress(p) for p in pieces] + [c.flush()]


def gzip_bytes(body: bytes) -> bytes:
    return b"".join(encoded(body, "gzip"))


@functools.cache
def gzip_bomb() -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1024 * 1024)
    return b"".join(c.compress(zeros) for _ in range(BOMB_BYTES // len(zeros))) + c.flush()


@functools.cache
def br_bomb() -> bytes:
    c = brotli.Compressor(quality=5)
    zeros = bytes(1024 * 1024)
    return b"".join(c.process(zeros) for _ in range(BOMB_BYTES // len(zeros))) + c.finish()


class Server(ThreadingHTTPServer):
    def process_request(self, request, client_address):
        self.registry.connections += 1
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        # The client drops connections on purpose (unread bodies, timeouts,
        # refused certificates, caps).
        if not isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            super().handle_error(request, client_address)


def start(registry: Registry, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None):
    server = Server((host, 0), Handler)
    if tls is not None:
        # Handshake in the handler's thread, not in the accepting one.
        server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    server.registry = registry
    registry.base = f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return server, thread


def stop(server, thread) -> None:
    server.registry.released.set()
    server.registry.gate.set()
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def serve():
    """serve(body, host=..., tls=..., etag=..., last_modified=...) -> (url, Registry); stopped after the test."""
    started = []

    def serve(body: bytes, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None, **validators):
        registry = Registry(body, **validators)
        started.append(start(registry, host, tls))
        return f"{registry.base}/assignments/{NAME}", registry

    yield serve
    for server, thread in started:
        stop(server, thread)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made by the openssl command: (cert, key)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def tls_context(certificate) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, certificate))
    return context


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.005)
    return result
