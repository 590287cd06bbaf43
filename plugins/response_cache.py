"""Answer repeat GETs of database-backed pages from memory.

Every database served with -i is immutable, so a page is a pure function of
(the Database objects being served, the URL). The cache is keyed on those
objects' identity: when the server swaps in a rebuilt Database the next
request sees a different generation and the cache starts empty, so nothing
from the old file is ever served and the old objects are not kept alive.

Only unconditional, anonymous GETs (no Cookie, Authorization or
Cache-Control: no-cache) use the cache, and only successful, cookie-free
responses of the project's pages and the immutable databases' pages are
kept; /-/ and anything else stays live.
"""

from collections import OrderedDict

from datasette import hookimpl

MAX_ENTRIES = 4096
MAX_BODY = 2 * 1024 * 1024
MAX_TOTAL = 64 * 1024 * 1024  # a crawler walking big table pages must not eat the machine
PAGE_PREFIXES = ("/ports/", "/services/", "/search", "/portmap.png")
# Conditional requests go through, so plugins/caching.py can answer 304.
UNCACHED_HEADERS = (b"cookie", b"authorization", b"if-none-match", b"if-modified-since")
# A client asking for a fresh answer (a browser's hard reload, the benchmark) gets one.
FRESH = (b"no-cache", b"no-store", b"max-age=0")


class ResponseCache:
    def __init__(self, datasette):
        self.datasette = datasette
        self.generation = ()
        self.prefixes = ()
        self.entries = OrderedDict()
        self.total = 0

    def _refresh(self):
        """Start over when any served Database object is not the one cached for."""
        current = tuple(self.datasette.databases.values())
        if len(current) == len(self.generation) and all(
            a is b for a, b in zip(current, self.generation)
        ):
            return
        self.generation = current
        self.entries = OrderedDict()
        self.total = 0
        immutable = [
            db.route for name, db in self.datasette.databases.items()
            if name != "_internal" and not db.is_mutable
        ]
        self.prefixes = PAGE_PREFIXES + tuple(f"/{route}" for route in immutable)

    def cacheable(self, scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET":
            return False
        for k, v in scope.get("headers", ()):
            if k in UNCACHED_HEADERS or (k == b"cache-control" and any(f in v for f in FRESH)):
                return False
        self._refresh()
        path = scope["path"]
        if path == "/":
            return True
        for prefix in self.prefixes:
            if path.startswith(prefix) and (
                prefix.endswith("/") or len(path) == len(prefix) or path[len(prefix)] in "/.?"
            ):
                return True
        return False

    def get(self, key):
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
        return entry

    def put(self, key, entry):
        old = self.entries.pop(key, None)
        if old is not None:
            self.total -= len(old[1])
        self.entries[key] = entry
        self.total += len(entry[1])
        while len(self.entries) > MAX_ENTRIES or self.total > MAX_TOTAL:
            _, (_, body) = self.entries.popitem(last=False)
            self.total -= len(body)


@hookimpl
def asgi_wrapper(datasette):
    cache = ResponseCache(datasette)

    def wrap(app):
        async def cached(scope, receive, send):
            if not cache.cacheable(scope):
                return await app(scope, receive, send)
            # Datasette writes absolute links from the Host header, so the host
            # is part of what a response is: one forged Host must not reach others.
            host = next((v for k, v in scope.get("headers", ()) if k == b"host"), b"")
            key = (host, scope.get("raw_path") or scope["path"].encode(), scope.get("query_string", b""))
            generation = cache.generation
            entry = cache.get(key)
            if entry is not None:
                start, body = entry
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
            start = None
            chunks = []
            size = 0
            keep = True

            async def recording_send(message):
                nonlocal start, size, keep
                if message["type"] == "http.response.start":
                    start = message
                    keep = message["status"] == 200 and not any(
                        k.lower() == b"set-cookie" for k, _ in message.get("headers", ())
                    )
                elif message["type"] == "http.response.body" and keep:
                    body = message.get("body", b"")
                    size += len(body)
                    keep = size <= MAX_BODY
                    chunks.append(body)
                    if keep and not message.get("more_body") and generation is cache.generation:
                        cache.put(key, (start, b"".join(chunks)))
                await send(message)

            await app(scope, receive, recording_send)

        return cached

    return wrap
