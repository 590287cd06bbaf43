"""The one request wrapper around Datasette, and the one error path.

Every HTTP request goes through Front, in this order:

1. refuse what a read-only public site never answers, before any work and
   in the one error shape: an over-long URL (414), a path a browser would
   read as another host (Datasette 0.65.5's open redirect, upstream #2680:
   404), a request framed by both Content-Length and Transfer-Encoding (400,
   connection closed), a method other than GET, HEAD and OPTIONS (405), the
   pages that show the server's own files (/-/threads: 404); the MCP
   endpoint takes POST and OPTIONS only, a message of known, bounded length;
2. drop Cookie and Authorization: the site is anonymous, so no answer may
   depend on them and none has to say `Vary` on them;
3. answer CORS preflights;
4. answer the site's own pages (iana_ports.web.pages) here, ahead of
   Datasette's router, which costs more than a port page itself; everything
   else goes to Datasette, through the bounded queue of its SQL threads
   (iana_ports.web.workers: 503 when full);
5. finish every answer the same way: CORS, caching headers by status (an
   answer from the immutable build gets the build's ETag and a public
   Cache-Control, and a matching If-None-Match gets 304; a transient error
   none), no Location that leaves the site, and an error Datasette answered
   in a shape of its own (a static file's plain 404) in the one shape.
"""

import contextlib
import functools
import json
import re
import traceback
import weakref
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from datasette.utils.asgi import Request, Response

from iana_ports.errors import PortsError

from . import builds, crawlers, exports, pages, workers
from .render import Renderer

MAX_URL = 4096
# One JSON-RPC message: the tools' arguments are at most iana_ports.web.mcp.MAX_ARGUMENT characters,
# an SQL query at most SQLite's 100,000 (datasette_pages.LIMITS); room for JSON escapes.
MAX_MCP_BODY = 1_048_576 * 2
# Datasette's pages that show the server's own files (threads' stacks: the Python installation).
REFUSED = frozenset({"/-/threads", "/-/threads.json"})
NO_PAGE = "There is no page at this address."
# The header an answer in the one error shape carries between error_response() and Finisher.
SHAPED = b"x-iana-error"
# Datasette's answers in a shape of their own are a line ("404: File not found"); its pages
# (a query's error above the SQL editor) are many kilobytes.
OWN_SHAPE_MAX = 1024
READ_METHODS = (b"GET", b"HEAD", b"OPTIONS")
MCP_PATH = "/-/mcp"
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


def off_site(location: str, host: str = "") -> bool:
    """Would a browser leave `host` following this Location?"""
    cleaned = location.translate(_IGNORED).lstrip(" ").replace("\\", "/")
    if cleaned.startswith("//"):
        return True
    if ":" not in cleaned.split("/", 1)[0]:
        return False
    parts = urlsplit(cleaned)
    return parts.scheme not in ("http", "https") or parts.netloc != host


# One template environment per Datasette instance, shared by its pages and its error answers.
_renderers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def renderer_for(datasette) -> Renderer:
    renderer = _renderers.get(datasette)
    if renderer is None:
        renderer = _renderers[datasette] = Renderer(datasette)
    return renderer


def error_for(datasette, status: int, message: str, fmt: str, transient: bool = False) -> Response:
    """The site's error answer for a failure on one of Datasette's own pages."""
    site = site_vars(datasette, builds.current(datasette))
    return error_response(renderer_for(datasette), site, status, message, fmt, transient=transient)


class Broken(Exception):
    def __str__(self):
        return pages.BROKEN


class Front:
    def __init__(self, datasette, app):
        self.ds = datasette
        self.app = app
        self.renderer = renderer_for(datasette)
        self._site = (None, site_vars(datasette, None))
        self.gate = workers.Gate(datasette)

    def site(self, build) -> dict:
        """What the shared partials need to know about the site (site_vars()), once per build."""
        if self._site[0] is not build:
            self._site = (build, site_vars(self.ds, build))
        return self._site[1]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        method = scope["method"].encode()
        raw_path = scope.get("raw_path") or scope["path"].encode()
        # Routed on the raw path, as Datasette does: "cl%2F1" is one service name, not two segments.
        route = self._route_path(raw_path.decode("latin-1"))
        refuse = functools.partial(self.refuse, send, route)
        headers = scope.get("headers", ())
        if len(raw_path) + len(scope.get("query_string", b"")) > MAX_URL:
            return await refuse(414, f"The address is too long: at most {MAX_URL:,} characters.")
        if off_site(unquote(raw_path.decode("latin-1")).partition("?")[0]):
            return await refuse(404, NO_PAGE)
        framing = {k for k, _ in headers if k in (b"content-length", b"transfer-encoding")}
        if len(framing) == 2:
            # RFC 9112 6.1: a request framed both ways may be smuggling another; answer and close.
            return await refuse(
                400, "A request may not carry both Content-Length and Transfer-Encoding.", [(b"connection", b"close")]
            )
        if route == MCP_PATH:
            # Stateless MCP (iana_ports.web.mcp): every message is a POST. A GET would open an
            # event stream nothing is ever sent on, held open until the client leaves; 405 is
            # the MCP spec's answer for it, as for DELETE (no session to end). CORS, so a
            # browser-based client reads the status.
            if method not in (b"POST", b"OPTIONS"):
                return await refuse(405, "The MCP endpoint takes POST only.", [(b"allow", b"POST")])
            # A message says its length up front (every HTTP client does for a JSON body), so a
            # long one is refused before a byte of it is read.
            length = next((v for k, v in headers if k == b"content-length"), None)
            if method == b"POST" and length is None:
                return await refuse(411, "An MCP message must carry Content-Length.", [(b"connection", b"close")])
            if method == b"POST" and (not length.isdigit() or int(length) > MAX_MCP_BODY):
                return await refuse(
                    413, f"An MCP message is at most {MAX_MCP_BODY:,} bytes.", [(b"connection", b"close")]
                )
        elif method not in READ_METHODS:
            return await refuse(405, "This site only reads: GET and HEAD.", [(b"allow", b"GET, HEAD")])
        if route in REFUSED:
            return await refuse(404, NO_PAGE)
        scope = dict(scope, headers=[(k, v) for k, v in headers if k not in (b"cookie", b"authorization")])
        if method == b"OPTIONS":
            allowed = b"POST" if route == MCP_PATH else b"GET, HEAD"
            return await _plain(send, 204, b"", [*CORS, (b"access-control-allow-methods", allowed)])
        build = builds.current(self.ds)
        conditional = next((v for k, v in headers if k == b"if-none-match"), None)
        host = next((v for k, v in headers if k == b"host"), b"").decode("latin-1")
        finish = Finisher(send, build, route, conditional, host)
        found = match(route)
        if found is not None:
            view, url_vars = found
            request = Request(scope, receive)
            # A view that only ever answers in one format (healthz: JSON) says so, for its errors too.
            fmt = url_vars.pop("fmt", None) or getattr(view, "fmt", "")
            page = pages.RequestContext(self.ds, request, build, self._render(build), url_vars, fmt)
            try:
                response = await view(page)
            except PortsError as exc:
                response = self.error(exc, page.fmt, build)
            except Exception:
                # A bug: logged in full for us, one plain line for the visitor.
                traceback.print_exc()
                response = self.error(Broken(), page.fmt, build)
            # None: the view leaves this one to Datasette (another database's download).
            if response is not None:
                # A view whose answer never changes (a content-addressed export) may say so for longer.
                finish.cache_control = getattr(view, "cache_control", CACHE_BUILD)
                return await response.asgi_send(finish)
        # Datasette looks the database up again, a moment later: if a rebuild was
        # swapped in between, its answer may be the next build's (measured: 9 in
        # 2,700 during 20 swaps), so it must not carry this build's ETag.
        finish.recheck = lambda: builds.current(self.ds)
        if route != MCP_PATH:
            # What Datasette answers itself without an exception (a static file's 404) in the one shape.
            finish.reshape = functools.partial(self.shaped, route, build)
        if route == MCP_PATH or route.startswith(UNGATED):
            return await self.app(scope, receive, finish)
        # Visitors' SQL: a bounded queue (iana_ports.web.workers).
        if not self.gate.enter():
            return await refuse(503, workers.BUSY, [(b"retry-after", workers.RETRY_AFTER)])
        try:
            return await self.app(scope, receive, finish)
        finally:
            self.gate.leave()

    def shaped(self, route: str, build, status: int, headers, body: bytes) -> Response | None:
        """The one error answer for an error Datasette answered itself (a static file's 404,
        the 400 of a query it ran), keeping its message when its JSON has one. None keeps a
        page of Datasette's own (a query's error above its SQL editor, in the site's frame)."""
        content_type = next((v for k, v in headers if k == b"content-type"), b"")
        message = NO_PAGE if status == 404 else f"{HTTPStatus(status).phrase}."
        if content_type.startswith(b"application/json"):
            with contextlib.suppress(ValueError, TypeError):
                message = str(json.loads(body)["error"] or message)
        elif content_type.startswith(b"text/html") and len(body) > OWN_SHAPE_MAX:
            return None
        fmt = ".json" if route.endswith(".json") or route == MCP_PATH else ""
        response = error_response(self.renderer, self.site(build), status, message, fmt)
        for k, v in headers:
            if k in Finisher.KEPT_ON_RESHAPE:
                response.headers[k.decode("latin-1")] = v.decode("latin-1")
        return response

    async def refuse(self, send, route: str, status: int, message: str, headers=()) -> None:
        """Answer a request refused before any work, in the one error shape, never cached."""
        build = builds.current(self.ds)
        fmt = ".json" if route.endswith(".json") or route == MCP_PATH else ""
        response = error_response(self.renderer, self.site(build), status, message, fmt, transient=True)
        for k, v in headers:
            response.headers[k.decode("latin-1")] = v.decode("latin-1")
        finish = Finisher(send, None, route, None, "")
        await response.asgi_send(finish)

    def _route_path(self, path: str) -> str:
        base_url = self.ds.setting("base_url")
        if base_url != "/" and path.startswith(base_url):
            return "/" + path[len(base_url) :]
        return path

    def _render(self, build):
        site = self.site(build)

        def render(template, **context):
            return self.renderer.render(template, site=site, **context)

        return render

    def error(self, exc: Exception, fmt: str, build) -> Response:
        """The one error answer: a read-side exception (its status and context) as an HTML page or JSON."""
        if isinstance(exc, Broken):
            status, message, context = 500, str(exc), {"title": "Something went wrong"}
        else:
            status, message, context = exc.status, str(exc), {"title": exc.title, **exc.context}
        return error_response(self.renderer, self.site(build), status, message, fmt, **context)


def error_response(
    renderer, site: dict, status: int, message: str, fmt: str, title=None, transient=False, **context
) -> Response:
    """An error in the form asked for: HTML (""), JSON (".json") or, for every other format
    (a feed, a text or XML file), one line of text. A transient one (a time limit, a full
    queue) may be answered differently a moment later, so no cache keeps it."""
    if fmt == ".json":
        response = pages.json_response(pages.error_body(status, message, title, **context), status=status)
    elif fmt:
        response = Response.text(message + "\n", status=status)
    else:
        html = renderer.render("site/error.html", site=site, error=message, status=status, title=title, **context)
        response = Response.html(html, status=status)
    # Read and removed by Finisher: the answer is already in the one shape.
    response.headers[SHAPED.decode()] = "transient" if transient else "lasting"
    return response


def site_vars(datasette, build) -> dict:
    """Links the shared page parts (header, footer) show, for whichever build is served."""
    urls = datasette.urls
    if build is None:
        return {"database": None, "data_url": None, "registrations_url": None}
    return {
        "database": build.name,
        "data_url": urls.database(build.name),
        "registrations_url": urls.table(build.name, "registrations"),
    }


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
                return await _plain(self.send, 404, b"Not found")
            if message["status"] == 304:
                self.swallowing = True
                await self.send(message)
                return await self.send({"type": "http.response.body", "body": b""})
        elif self.held is not None:
            return await self._hold(message)
        elif self.swallowing:
            return None
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
        await self.send({"type": "http.response.body", "body": b"".join(chunks)})

    async def _send_start(self, message):
        """Send a replacement answer past the swallowing of the original's body."""
        if message["type"] == "http.response.start":
            message = self.start(message)
        await self.send(message)

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
            if self.conditional is not None and _matches(self.conditional, etag):
                kept = [(k, v) for k, v in headers if k in KEPT_ON_304 or k.startswith(b"access-control-")]
                return {"type": "http.response.start", "status": 304, "headers": kept}
        elif 300 <= status < 500 and cacheable and not transient:
            headers.append((b"cache-control", CACHE_ERROR))
        else:
            headers.append((b"cache-control", NO_STORE))
        return dict(message, headers=headers)


# Every page the site answers itself: each web module's ROUTES, (pattern, view), in order.
ROUTES = tuple((re.compile(pattern), view) for module in (pages, exports, crawlers) for pattern, view in module.ROUTES)


def match(path: str):
    """(view, url vars) for a path the site answers itself, else None (Datasette's)."""
    for pattern, view in ROUTES:
        m = pattern.fullmatch(path)
        if m:
            return view, m.groupdict()
    return None


def _matches(if_none_match: bytes, etag: bytes) -> bool:
    """Weak comparison (RFC 9110 13.1.2), as If-None-Match asks."""
    bare = etag.removeprefix(b"W/")
    candidates = [c.strip().removeprefix(b"W/") for c in if_none_match.split(b",")]
    return bare in candidates or b"*" in candidates


async def _plain(send, status: int, body: bytes, headers=()):
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
