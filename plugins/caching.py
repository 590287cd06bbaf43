"""HTTP caching for the port and service pages: ETag from the build, 304 on a match.

The ETag is set by plugins/reload.py on the Database object it loads: a hash
of every ingest's sha256 plus the code that renders the pages, so it changes
exactly when a page can.
"""

from datasette import hookimpl

DATABASE = "iana"
CACHEABLE = ("/ports/", "/services/")
CACHE_CONTROL = b"public, max-age=300, stale-while-revalidate=60"


def _etag(datasette) -> bytes | None:
    build = getattr(datasette.databases.get(DATABASE), "build", None)
    return build["etag"].encode() if build else None


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    candidates = [c.strip().removeprefix(b"W/") for c in if_none_match.split(b",")]
    return etag in candidates or b"*" in candidates


@hookimpl
def asgi_wrapper(datasette):
    def wrap(app):
        async def caching(scope, receive, send):
            if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not scope[
                "path"
            ].startswith(CACHEABLE):
                return await app(scope, receive, send)
            etag = _etag(datasette)
            if etag is None:
                return await app(scope, receive, send)
            request_headers = dict(scope["headers"])
            if _matches(request_headers.get(b"if-none-match", b""), etag):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 304,
                        "headers": [(b"etag", etag), (b"cache-control", CACHE_CONTROL)],
                    }
                )
                return await send({"type": "http.response.body", "body": b""})

            async def send_with_etag(message):
                if message["type"] == "http.response.start" and message["status"] == 200:
                    headers = [
                        (k, v)
                        for k, v in message.get("headers", [])
                        if k.lower() not in (b"etag", b"cache-control")
                    ]
                    headers += [(b"etag", etag), (b"cache-control", CACHE_CONTROL)]
                    message = dict(message, headers=headers)
                await send(message)

            await app(scope, receive, send_with_etag)

        return caching

    return wrap
