"""How every answer ends (step 5 of iana_ports.web.front): the one place for CORS and caching.

An answer from the immutable build gets the build's ETag and a public
Cache-Control, and a matching If-None-Match gets a 304; an error that may
be answered otherwise a moment later gets none; no Location leaves the
site; an error Datasette answered in a shape of its own is replaced by the
one error shape (the replacement is made by the caller, Front.shaped()).
"""

from urllib.parse import urlsplit

# An answer from the immutable build may be kept by browsers and shared caches,
# and served a while longer while a cache revalidates it.
CACHE_BUILD = b"public, max-age=300, stale-while-revalidate=86400"
CACHE_ERROR = b"public, max-age=60"
NO_STORE = b"no-store"
# Instance state, not build data: never cached.
UNCACHED = ("/-/",)
BUILD_PREFIXES = ("/-/static/",)
# Datasette's answers that run no SQL: files.
UNGATED = ("/-/static/", "/static/")
# Every answer may be read by other sites' scripts; the MCP endpoint's headers included.
CORS = [
    (b"access-control-allow-origin", b"*"),
    # Mcp-Method and Mcp-Name: MCP 2026-07-28 clients send them on every message.
    (b"access-control-allow-headers", b"Content-Type, Mcp-Protocol-Version, Mcp-Session-Id, Mcp-Method, Mcp-Name"),
    (b"access-control-expose-headers", b"ETag, Link, Mcp-Session-Id"),
]
# Headers a 304 keeps from the 200 it stands for (RFC 9110 15.4.5), plus CORS.
KEPT_ON_304 = (b"cache-control", b"content-location", b"date", b"etag", b"expires", b"vary")
# Browsers drop tabs and newlines from URLs and treat "\" like "/".
_IGNORED = str.maketrans("", "", "\t\r\n")
# The header an answer in the one error shape carries between web.errors.error_response() and Finisher.
SHAPED = b"x-iana-error"


def off_site(location: str, host: str = "") -> bool:
    """Would a browser leave `host` following this Location?"""
    cleaned = location.translate(_IGNORED).lstrip(" ").replace("\\", "/")
    if cleaned.startswith("//"):
        return True
    if ":" not in cleaned.split("/", 1)[0]:
        return False
    parts = urlsplit(cleaned)
    return parts.scheme not in ("http", "https") or parts.netloc != host


class Finisher:
    """The send() every answer goes through (step 5 of the module docstring)."""

    cache_control = CACHE_BUILD
    # For answers that look the build up themselves: the build served by the time they start.
    recheck = None
    # For Datasette's answers: (status, headers, body) -> the one error answer for an error it
    # answered in a shape of its own, or None to keep it (see Front.shaped()).
    reshape = None
    # An error answer of Datasette's held back to be read whole before it is sent or replaced.
    held = None
    # A start held back until its first body part (_send_body()).
    pending = None
    # Headers an error answered in its own shape keeps in the site's.
    KEPT_ON_RESHAPE = (b"allow", b"retry-after", b"connection")

    def __init__(self, send, build, path: str, conditional: bytes | None, host: str):
        self.send = send
        self.build = build
        self.path = path
        self.conditional = conditional
        self.host = host
        self.swallowing = False

    async def __call__(self, message):
        if message["type"] == "http.response.start":
            shaped = any(k.lower() == SHAPED for k, _ in message.get("headers", ()))
            if message["status"] >= 400 and not shaped and self.reshape is not None:
                self.held = (message, [])
                return None
            message = self.start(message)
            if message is None:
                self.swallowing = True
                if self.reshape is not None:
                    return await self.reshape(404, [], b"").asgi_send(self._send_start)
                return await plain(self.send, 404, b"Not found")
            if message["status"] == 304:
                self.swallowing = True
                await self.send(message)
                return await self.send({"type": "http.response.body", "body": b""})
            self.pending = message
        elif self.held is not None:
            return await self._hold(message)
        elif not self.swallowing:
            await self._send_body(message)

    async def _send_body(self, message):
        """Send a body part, after the start held back for it: an answer whole in its first
        part (every page of the site's, most of Datasette's) says its Content-Length, so it
        is not sent chunked."""
        start, self.pending = self.pending, None
        if start is not None:
            headers = start.get("headers", ())
            if not message.get("more_body") and not any(k.lower() == b"content-length" for k, _ in headers):
                length = str(len(message.get("body", b""))).encode()
                start = dict(start, headers=[*headers, (b"content-length", length)])
            await self.send(start)
        await self.send(message)

    async def _hold(self, message):
        start, chunks = self.held
        chunks.append(message.get("body", b""))
        if message.get("more_body"):
            return None
        self.held = None
        headers = [(k.lower(), v) for k, v in start.get("headers", ())]
        replacement = self.reshape(start["status"], headers, b"".join(chunks))
        if replacement is not None:
            self.swallowing = True
            return await replacement.asgi_send(self._send_start)
        await self._send_start(start)
        await self._send_body({"type": "http.response.body", "body": b"".join(chunks)})

    async def _send_start(self, message):
        """Send a replacement answer past the swallowing of the original's body."""
        if message["type"] == "http.response.start":
            self.pending = self.start(message)
        else:
            await self._send_body(message)

    def start(self, message) -> dict | None:
        status = message["status"]
        headers = []
        transient = False
        for k, v in message.get("headers", ()):
            k = k.lower()
            if k == SHAPED:
                transient = v == b"transient"
                continue
            if k == b"location" and off_site(v.decode("latin-1"), self.host):
                return None
            if k == b"vary":
                kept = [p.strip() for p in v.split(b",") if p.strip().lower() not in (b"cookie", b"authorization")]
                if kept:
                    headers.append((k, b", ".join(kept)))
            elif k not in (b"cache-control", b"etag") and not k.startswith(b"access-control-"):
                headers.append((k, v))
        headers += CORS
        cacheable = self.build is not None and (
            self.path.startswith(BUILD_PREFIXES) or not self.path.startswith(UNCACHED)
        )
        # An answer that sets a cookie is someone's own (Datasette says private, no-store);
        # one that straddled a swap may be either build's: neither is shared or labelled.
        if any(k == b"set-cookie" for k, _ in headers) or (self.recheck and self.recheck() is not self.build):
            cacheable = False
        if status == 200 and cacheable:
            etag = self.build.etag.encode()
            headers += [(b"cache-control", self.cache_control), (b"etag", etag)]
            if self.conditional is not None and etag_matches(self.conditional, etag):
                kept = [(k, v) for k, v in headers if k in KEPT_ON_304 or k.startswith(b"access-control-")]
                return {"type": "http.response.start", "status": 304, "headers": kept}
        elif 300 <= status < 500 and cacheable and not transient:
            headers.append((b"cache-control", CACHE_ERROR))
        else:
            headers.append((b"cache-control", NO_STORE))
        return dict(message, headers=headers)


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """Weak comparison (RFC 9110 13.1.2), as If-None-Match asks."""
    bare = etag.removeprefix(b"W/")
    candidates = [c.strip().removeprefix(b"W/") for c in if_none_match.split(b",")]
    return bare in candidates or b"*" in candidates


async def plain(send, status: int, body: bytes, headers=()):
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", NO_STORE),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
