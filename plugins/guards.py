"""Guards against bad input: Datasette 0.65.5's open redirect, writes, and 500s for bad queries.

Open redirect (upstream #2680):
Datasette's trailing-slash redirect turns GET /\\example.com/ into
`Location: /\\example.com`, which browsers read as //example.com. Such paths
are refused before routing, and any Location that a browser would read as
another host is replaced by a 404 whatever produced it.
"""

from urllib.parse import unquote, urlsplit

from datasette import hookimpl
from datasette.views.base import DatasetteError

# Browsers drop tabs and newlines from URLs and treat "\" like "/".
_IGNORED = str.maketrans("", "", "\t\r\n")
NOT_FOUND = b"Not found"
# Every database is immutable, so nothing here takes a write; Datasette 0.65.5
# answers a POST to a read-only canned query with a 500, for one.
READ_METHODS = ("GET", "HEAD", "OPTIONS")


def off_site(location: str, host: str = "") -> bool:
    """Would a browser leave `host` following this Location?"""
    cleaned = location.translate(_IGNORED).lstrip(" ").replace("\\", "/")
    if cleaned.startswith("//"):
        return True
    if ":" not in cleaned.split("/", 1)[0]:
        return False
    parts = urlsplit(cleaned)
    return parts.scheme not in ("http", "https") or parts.netloc != host


def _path_is_off_site(scope) -> bool:
    raw = scope.get("raw_path") or scope.get("path", "").encode("utf-8")
    path = unquote(raw.decode("latin-1").partition("?")[0])
    return off_site(path)


async def _not_found(send):
    await _plain(send, 404, NOT_FOUND)


async def _plain(send, status: int, body: bytes, headers=()):
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


@hookimpl
def asgi_wrapper():
    def wrap(app):
        async def guarded(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            if _path_is_off_site(scope):
                return await _not_found(send)
            if scope["method"] not in READ_METHODS:
                return await _plain(send, 405, b"Method not allowed", [(b"allow", b"GET, HEAD")])
            blocked = False
            host = dict(scope.get("headers", ())).get(b"host", b"").decode("latin-1")

            async def checked_send(message):
                nonlocal blocked
                if message["type"] == "http.response.start":
                    for key, value in message.get("headers", []):
                        if key.lower() == b"location" and off_site(value.decode("latin-1"), host):
                            blocked = True
                            return await _not_found(send)
                elif blocked:
                    return
                await send(message)

            await app(scope, receive, checked_send)

        return guarded

    return wrap


@hookimpl
def handle_exception(exception):
    # Datasette raises DatasetteError with its default status 500 for input it
    # refuses (`?_sort=nosuch`, a raw FTS query that does not parse). Every
    # database here is immutable and read-only, so such an error is the
    # request's fault: say 400 and let Datasette's own handler render it.
    if isinstance(exception, DatasetteError) and exception.status == 500:
        exception.status = 400
