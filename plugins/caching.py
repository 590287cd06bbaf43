"""HTTP caching for the port and service pages: ETag from the build, 304 on a match.

The ETag is set by plugins/reload.py on the Database object it loads: a hash
of every ingest's sha256 plus the code that renders the pages, so it changes
exactly when a page can. Only a response that would be 200 becomes a 304
(RFC 9110 13.2.1): a 404 or a redirect stays what it is whatever the client
sends.
"""

from datasette import hookimpl

DATABASE = "iana"
CACHEABLE = ("/ports/", "/services/")
CACHE_CONTROL = b"public, max-age=300, stale-while-revalidate=60"
# Headers a 304 keeps from the 200 it stands for (RFC 9110 15.4.5), plus CORS.
KEPT_ON_304 = (b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary")


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
            if (
                scope["type"] != "http"
                or scope["method"] not in ("GET", "HEAD")
                or not scope["path"].startswith(CACHEABLE)
            ):
                return await app(scope, receive, send)
            etag = _etag(datasette)
            if etag is None:
                return await app(scope, receive, send)
            not_modified = _matches(dict(scope["headers"]).get(b"if-none-match", b""), etag)
            swallowing = False

            async def send_with_etag(message):
                nonlocal swallowing
                if message["type"] == "http.response.start" and message["status"] == 200:
                    headers = [
                        (k, v)
                        for k, v in message.get("headers", [])
                        if k.lower() not in (b"etag", b"cache-control")
                    ]
                    headers += [(b"etag", etag), (b"cache-control", CACHE_CONTROL)]
                    if not_modified:
                        swallowing = True
                        headers = [
                            (k, v)
                            for k, v in headers
                            if k.lower() in KEPT_ON_304 or k.lower().startswith(b"access-control-")
                        ]
                        await send({"type": "http.response.start", "status": 304, "headers": headers})
                        return await send({"type": "http.response.body", "body": b""})
                    message = dict(message, headers=headers)
                elif swallowing:
                    return
                await send(message)

            await app(scope, receive, send_with_etag)

        return caching

    return wrap
