"""`make serve`: `datasette serve` on a uvicorn that bounds what one client may hold.

`main(["serve", ARGS])` (what `iana-ports serve` calls) takes `datasette serve`'s arguments and does
what it does (the startup hooks, the database checks), then runs uvicorn with
its HTTP protocol replaced by Protocol below. uvicorn 0.54 times out only an
idle keep-alive connection (`timeout_keep_alive`, after an answer): a client
that connects and sends nothing, or half a request line, or headers one byte
a minute, was held forever, and 20,000 of them exhausted the file
descriptors. Its `limit_concurrency` answers 503 past a count but still keeps
every connection open. So:

- a request must arrive whole within REQUEST_TIMEOUT seconds of its first
  byte (or of the connection, for the first request); otherwise the
  connection is closed;
- at most max_connections() connections at once (MAX_CONNECTIONS, or half
  the process's descriptor limit if lower): the next one is answered a 503
  in the one error shape and closed at once, so the server always keeps
  descriptors for the clients it serves;
- uvicorn's own 400 for a request h11 cannot parse is in the one error shape.

IANA_PORTS_REQUEST_TIMEOUT and IANA_PORTS_MAX_CONNECTIONS override the two
figures (the tests use small ones).
"""

import os
import resource
import sys

import h11
import orjson
import uvicorn
from datasette.cli import check_databases, run_sync, serve
from uvicorn.protocols.http.h11_impl import H11Protocol

from .pages import error_body

# Long enough for a client on a slow mobile link to send a request (a few hundred
# bytes, a 2 MB MCP message at 2 Mbit/s), short enough that a host cannot hold many.
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 1000
# uvicorn's default, stated: idle time allowed between requests on a kept-alive connection.
KEEP_ALIVE = 5
TOO_MANY = "The server has as many connections open as it takes; try again in a few seconds."
UNREADABLE = "The request is not valid HTTP/1.1."


def max_connections() -> int:
    wanted = int(os.environ.get("IANA_PORTS_MAX_CONNECTIONS", MAX_CONNECTIONS))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(1, min(wanted, soft // 2)) if soft != resource.RLIM_INFINITY else wanted


def _raw_error(status: int, reason: bytes, message: str, extra: bytes = b"") -> bytes:
    """A whole HTTP/1.1 answer in the one error shape (JSON: nothing says what the client reads)."""
    body = orjson.dumps(error_body(status, message))
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: %d\r\n"
        b"cache-control: no-store\r\naccess-control-allow-origin: *\r\nconnection: close\r\n%s\r\n%s"
        % (status, reason, len(body), extra, body)
    )


class Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request to arrive and a connection cap."""

    request_timeout = REQUEST_TIMEOUT
    connection_cap = MAX_CONNECTIONS
    TOO_MANY = _raw_error(503, b"Service Unavailable", TOO_MANY, b"retry-after: 2\r\n")
    _deadline = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        # self.connections counts this one.
        if len(self.connections) > self.connection_cap:
            transport.write(self.TOO_MANY)
            transport.close()
            return
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.is_closing():
            self._disarm()
        elif self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            # A request under way (uvicorn's keep-alive timer stopped at its first byte).
            if self._deadline is None:
                self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            # Closing is all an unfinished request gets: whatever app is waiting for its body
            # reads a disconnect.
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        self._disarm()
        body = orjson.dumps(error_body(400, UNREADABLE))
        headers = [
            (b"content-type", b"application/json; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"access-control-allow-origin", b"*"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["serve"]:
        sys.exit('usage: main(["serve", datasette serve\'s arguments])')
    ctx = serve.make_context("iana-ports serve", args[1:])
    with ctx:
        # datasette serve's own parsing and checks; return_instance stops it short of uvicorn.
        ds = ctx.invoke(serve, **ctx.params, return_instance=True)
    run_sync(ds.invoke_startup)
    run_sync(lambda: check_databases(ds))
    Protocol.request_timeout = float(os.environ.get("IANA_PORTS_REQUEST_TIMEOUT", REQUEST_TIMEOUT))
    Protocol.connection_cap = max_connections()
    p = ctx.params
    config = uvicorn.Config(
        ds.app(),
        host=p["host"],
        port=p["port"],
        uds=p.get("uds"),
        ssl_keyfile=p.get("ssl_keyfile"),
        ssl_certfile=p.get("ssl_certfile"),
        log_level="info",
        lifespan="on",
        http=Protocol,
        timeout_keep_alive=KEEP_ALIVE,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
