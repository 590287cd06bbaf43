"""The one request wrapper around Datasette, and the one error path.

Every HTTP request goes through Front, in this order:

1. refuse what a read-only public site never answers: an over-long URL
   (414), a path a browser would read as another host (Datasette 0.65.5's
   open redirect, upstream #2680: 404), a method other than GET, HEAD and
   OPTIONS (405); the MCP endpoint takes POST and OPTIONS only;
2. drop Cookie and Authorization: the site is anonymous, so no answer may
   depend on them and none has to say `Vary` on them;
3. answer CORS preflights;
4. answer the site's own pages (iana_ports.web.pages) here, ahead of
   Datasette's router, which costs more than a port page itself; everything
   else goes to Datasette;
5. finish every answer the same way: CORS, caching headers by status (an
   answer from the immutable build gets the build's ETag and a public
   Cache-Control, and a matching If-None-Match gets 304), and no Location
   that leaves the site.
"""

import re
import traceback
import weakref
from urllib.parse import unquote, urlsplit

from datasette.utils.asgi import Request, Response

from iana_ports.query import BadQuery
from iana_ports.read import NotFound

from . import builds, crawlers, exports, pages
from .render import Renderer

MAX_URL = 4096
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


def error_for(datasette, status: int, message: str, fmt: str) -> Response:
    """The site's error answer for a failure on one of Datasette's own pages."""
    site = site_vars(datasette, builds.current(datasette))
    return error_response(renderer_for(datasette), site, status, message, fmt)


class Broken(Exception):
    def __str__(self):
        return pages.BROKEN


class Front:
    def __init__(self, datasette, app):
        self.ds = datasette
        self.app = app
        self.renderer = renderer_for(datasette)
        self._site = (None, site_vars(datasette, None))

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
        if len(raw_path) + len(scope.get("query_string", b"")) > MAX_URL:
            return await _plain(send, 414, b"URI too long")
        if off_site(unquote(raw_path.decode("latin-1")).partition("?")[0]):
            return await _plain(send, 404, b"Not found")
        # Routed on the raw path, as Datasette does: "cl%2F1" is one service name, not two segments.
        route = self._route_path(raw_path.decode("latin-1"))
        if route == MCP_PATH:
            # Stateless MCP (iana_ports.web.mcp): every message is a POST. A GET would open an
            # event stream nothing is ever sent on, held open until the client leaves; 405 is
            # the MCP spec's answer for it, as for DELETE (no session to end). CORS, so a
            # browser-based client reads the status.
            if method not in (b"POST", b"OPTIONS"):
                return await _plain(send, 405, b"Method not allowed", [*CORS, (b"allow", b"POST")])
        elif method not in READ_METHODS:
            return await _plain(send, 405, b"Method not allowed", [(b"allow", b"GET, HEAD")])
        headers = scope.get("headers", ())
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
            page = pages.Page(self.ds, request, build, self._render(build), url_vars, fmt)
            try:
                response = await view(page)
            except (NotFound, BadQuery, pages.Unavailable) as exc:
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
        return await self.app(scope, receive, finish)

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
        """The one error answer: a read-side exception as an HTML page or JSON."""
        if isinstance(exc, Broken):
            status, message, context = 500, str(exc), {"title": "Something went wrong"}
        elif isinstance(exc, pages.Unavailable):
            status, message, context = 503, pages.UNAVAILABLE, {"title": "Service unavailable"}
        elif isinstance(exc, NotFound):
            status, message, context = 404, str(exc), dict(exc.context)
        else:
            status, message, context = 400, str(exc), {}
        return error_response(self.renderer, self.site(build), status, message, fmt, **context)


def error_response(renderer, site: dict, status: int, message: str, fmt: str, title=None, **context) -> Response:
    """An error in the form asked for: HTML (""), JSON (".json") or, for every other format
    (a feed, a text or XML file), one line of text."""
    if fmt == ".json":
        return pages.json_response(pages.error_body(status, message, title, **context), status=status)
    if fmt:
        return Response.text(message + "\n", status=status)
    html = renderer.render("site/error.html", site=site, error=message, status=status, title=title, **context)
    return Response.html(html, status=status)


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

    def __init__(self, send, build, path: str, conditional: bytes | None, host: str):
        self.send = send
        self.build = build
        self.path = path
        self.conditional = conditional
        self.host = host
        self.swallowing = False

    async def __call__(self, message):
        if message["type"] == "http.response.start":
            message = self.start(message)
            if message is None:
                self.swallowing = True
                return await _plain(self.send, 404, b"Not found")
            if message["status"] == 304:
                self.swallowing = True
                await self.send(message)
                return await self.send({"type": "http.response.body", "body": b""})
        elif self.swallowing:
            return None
        await self.send(message)

    def start(self, message) -> dict | None:
        status = message["status"]
        headers = []
        for k, v in message.get("headers", ()):
            k = k.lower()
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
        elif 300 <= status < 500 and cacheable:
            headers.append((b"cache-control", CACHE_ERROR))
        else:
            headers.append((b"cache-control", NO_STORE))
        return dict(message, headers=headers)


# Every page the site answers itself: each web module's ROUTES, (pattern, view), in order.
ROUTES = tuple(
    (re.compile(pattern), view) for module in (pages, exports, crawlers) for pattern, view in module.ROUTES
)


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
