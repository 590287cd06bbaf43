"""What one client may hold of `make serve`'s server (iana_ports.web.server), with real sockets.

uvicorn alone held a silent socket or half a request forever (20,000 of them
exhausted the descriptors); its 400 was plain text; a request framed both by
Content-Length and Transfer-Encoding was answered and the connection kept.
The server here runs with a 2 s request deadline and a cap of 20 connections
(IANA_PORTS_REQUEST_TIMEOUT, IANA_PORTS_MAX_CONNECTIONS) so the tests stay short.
"""

import contextlib
import json
import select
import socket
import time

import httpx
import pytest

from deploy.harness import process
from deploy.harness import free_port, serve_command

DEADLINE = 2.0
CAP = 20
# Generous for a loaded machine: the deadline plus a scheduling margin.
CLOSED_WITHIN = DEADLINE + 3.0


@pytest.fixture(scope="module")
def server(db_2026):
    port = free_port()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("IANA_PORTS_REQUEST_TIMEOUT", str(DEADLINE))
        env.setenv("IANA_PORTS_MAX_CONNECTIONS", str(CAP))
        with process(serve_command(db_2026, port), port) as (base, _):
            yield base, port


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(CLOSED_WITHIN + 5)
    return s


def read_until_closed(s: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails the test)."""
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def answered(base: str) -> int:
    return httpx.get(base + "/ports/22.json", timeout=10).status_code


def body_of(raw: bytes) -> tuple[str, dict, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return status, headers, json.loads(body)


def error(status: int, message: str) -> dict:
    return {"ok": False, "error": message, "status": status, "title": None}


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /ports/22.json HTTP/1.1\r\n", b"GET /ports/22.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: b"],
    ids=["silent", "request line only", "half the headers"],
)
def test_an_unfinished_request_is_closed_within_the_deadline(server, sent):
    base, port = server
    sockets = [connect(port) for _ in range(5)]
    start = time.monotonic()
    for s in sockets:
        s.sendall(sent)
    # New clients are answered meanwhile.
    assert answered(base) == 200
    for s in sockets:
        assert read_until_closed(s) == b""
        s.close()
    took = time.monotonic() - start
    assert DEADLINE - 0.5 < took < CLOSED_WITHIN, took
    assert answered(base) == 200


def test_headers_sent_a_byte_at_a_time_do_not_extend_the_deadline(server):
    base, port = server
    s = connect(port)
    s.sendall(b"GET /ports/22.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    start = time.monotonic()
    closed = False
    # Each byte well inside the deadline, the whole request never.
    while not closed and time.monotonic() - start < CLOSED_WITHIN:
        try:
            s.sendall(b"a")
            closed = bool(select.select([s], [], [], 0.2)[0]) and s.recv(1) == b""
        except ConnectionError:
            closed = True
    s.close()
    assert closed
    assert DEADLINE - 0.5 < time.monotonic() - start < CLOSED_WITHIN
    assert answered(base) == 200


def test_a_kept_alive_connection_serves_several_requests(server):
    base, _ = server
    with httpx.Client(base_url=base, timeout=10) as client:
        assert [client.get(p).status_code for p in ("/ports/22.json", "/services/ssh.json", "/-/healthz")] == [200] * 3


def test_past_the_cap_a_connection_gets_a_503_in_the_one_shape_and_is_closed(server):
    base, port = server
    with contextlib.ExitStack() as stack:
        held = [stack.enter_context(connect(port)) for _ in range(CAP)]
        time.sleep(0.2)
        extra = connect(port)
        raw = read_until_closed(extra)
        extra.close()
        status, headers, body = body_of(raw)
        assert status == "HTTP/1.1 503 Service Unavailable"
        assert (headers["content-type"], headers["retry-after"], headers["connection"], headers["cache-control"]) == (
            "application/json; charset=utf-8",
            "2",
            "close",
            "no-store",
        )
        assert body == error(503, "The server has as many connections open as it takes; try again in a few seconds.")
        # The held ones are unfinished requests: closed at the deadline, and the server answers again.
        for s in held:
            assert read_until_closed(s) == b""
    assert answered(base) == 200


def test_a_request_that_is_not_http_gets_the_one_error_shape(server):
    _, port = server
    s = connect(port)
    s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
    status, headers, body = body_of(read_until_closed(s))
    s.close()
    assert status == "HTTP/1.1 400 Bad Request"
    assert (headers["content-type"], headers["connection"]) == ("application/json; charset=utf-8", "close")
    assert body == error(400, "The request is not valid HTTP/1.1.")


@pytest.mark.parametrize("method", [b"GET", b"POST"])
def test_content_length_with_transfer_encoding_is_a_400_and_the_connection_closed(server, method):
    _, port = server
    s = connect(port)
    s.sendall(
        method + b" /ports/22.json HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        # A smuggled second request the server must never answer.
        b"GET /ports/23.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    raw = read_until_closed(s)
    s.close()
    assert raw.count(b"HTTP/1.1 ") == 1
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"\r\nconnection: close\r\n" in head.lower() + b"\r\n"
    # Sent whole: its length said, not chunked.
    assert f"\r\ncontent-length: {len(body)}\r\n".encode() in head.lower() + b"\r\n"
    body = json.loads(body)
    assert body == error(400, "A request may not carry both Content-Length and Transfer-Encoding.")
