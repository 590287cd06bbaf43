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
import traceback
from http import HTTPStatus
from urllib.parse import unquote

from datasette.utils.asgi import Request, Response

from iana_ports.errors import PortsError

from . import builds, pages, workers
from .errors import NO_PAGE, Broken, error_response
from .finish import CORS, CACHE_BUILD, Finisher, off_site, plain
from .render import renderer_for, site_vars
from .routes import match

MAX_URL = 4096
# One JSON-RPC message: the tools' arguments are at most iana_ports.web.mcp.MAX_ARGUMENT characters,
# an SQL query at most SQLite's 100,000 (sql_limits.LIMITS); room for JSON escapes.
MAX_MCP_BODY = 1_048_576 * 2
# Datasette's pages that show the server's own files (threads' stacks: the Python installation).
REFUSED = frozenset({"/-/threads", "/-/threads.json"})
# Datasette's answers in a shape of their own are a line ("404: File not found"); its pages
# (a query's error above the SQL editor) are many kilobytes.
OWN_SHAPE_MAX = 1024
READ_METHODS = (b"GET", b"HEAD", b"OPTIONS")
MCP_PATH = "/-/mcp"
# Datasette's answers that run no SQL: files.
UNGATED = ("/-/static/", "/static/")


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
            return await plain(send, 204, b"", [*CORS, (b"access-control-allow-methods", allowed)])
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
