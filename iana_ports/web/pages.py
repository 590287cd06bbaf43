"""The site's own pages and their JSON twins: parse the request, call the read side, render.

Each view takes a RequestContext (the request, the build it started on, the format
asked for) and returns a Response, or raises one of iana_ports.errors (NotFound,
BadQuery, Unavailable), which iana_ports.web.front turns into the one kind of error
page. Views never touch Datasette's router: front.py answers them first.
"""

from dataclasses import dataclass
from urllib.parse import unquote, urlencode

import orjson
from datasette.utils.asgi import Request, Response

from iana_ports import firewall, read
from iana_ports.facts import EVERYDAY_TRANSPORTS, TRANSPORTS, port_number, registry_date
from iana_ports.errors import BadQuery, Unavailable
from iana_ports.query import MAX_TEXT
from iana_ports.text import LEAD_SOFTWARE

from . import builds, feed, icon, portmap, workers
from .builds import Build
from .render import path_name

JSON = "application/json; charset=utf-8"
BROKEN = "Something went wrong on our side; the error has been logged."


def error_body(status: int, message: str, title=None, **context) -> dict:
    """The JSON of every error: the site's pages, Datasette's, the MCP tools'."""
    return {"ok": False, "error": message, "status": status, "title": title, **context}


@dataclass
class RequestContext:
    datasette: object
    request: Request
    build: Build | None
    render: object  # Renderer.render
    vars: dict
    fmt: str  # "" for HTML, else the suffix of the one format asked for (".json", ".atom", ".txt", ...)

    @property
    def store(self):
        if self.build is None:
            raise Unavailable()
        return self.build.store

    @property
    def urls(self):
        return self.datasette.urls

    def html(self, template: str, status: int = 200, **context) -> Response:
        # The request: previews need the page's absolute address (render.origin()).
        return Response.html(self.render(template, request=self.request, **context), status=status)

    async def in_thread(self, fn, *args):
        """For work that runs SQL (full-text search, ...), off the event loop, never behind visitors' SQL."""
        return await workers.site(fn, *args)


def json_response(data, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, content_type=JSON)


def redirect(page: RequestContext, path: str, query: dict | str | None = None) -> Response:
    """To a site path; `query` a dict, or a query string already encoded."""
    if isinstance(query, dict):
        query = urlencode(query)
    return Response.redirect(page.urls.path(path) + (f"?{query}" if query else ""))


# The pages


async def home(page: RequestContext) -> Response:
    return page.html("site/home.html", h=read.home(page.store))


async def port(page: RequestContext) -> Response:
    number = port_number(page.vars["port"])
    if number is None:
        raise read.NotFound(
            "Not a port number: ports are whole numbers from 0 to 65535, written without leading zeros.",
            title="No such port",
        )
    # Most requests carry no query string: no parse of one.
    targets = read.targets(page.request.args.get("os")) if page.request.query_string else read.DEFAULT_TARGETS
    if page.fmt:
        return json_response(read.port(page.store, number, targets))
    # Read once: the timeline's changes and, newest first, the history section's.
    changes = read.history(page.store, port=number, limit=read.MAX_CHANGES_PAGE)
    facts = read.port(page.store, number, targets, changes=changes)
    return page.html(
        "site/port.html",
        p=facts,
        history=changes[: read.CHANGES_PAGE],
        json_url=page.urls.path(f"/ports/{number}.json"),
        firewall_lines=firewall.of_any_port(),
        firewall_tools=firewall.TOOLS,
    )


async def service(page: RequestContext) -> Response:
    facts = read.service(page.store, unquote(page.vars["name"]))
    if page.fmt:
        return json_response(facts)
    key = facts["service"]["key"]
    return page.html(
        "site/service.html",
        s=facts,
        history=read.history(page.store, service_key=key),
        lead_software=LEAD_SOFTWARE,
        json_url=page.urls.path("/services/{}.json".format(path_name(key))),
    )


async def search(page: RequestContext) -> Response:
    args = page.request.args
    text = args.get("q") or ""
    transport = args.get("transport") or ""
    offset = read.whole_number(args.get("_next"), "_next", 0, 10**9) or 0
    path = page.urls.path("/search" + page.fmt)
    results = await page.in_thread(lambda: read.search(page.store, text, transport, offset, path))
    if page.fmt:
        return json_response(results)
    table = page.urls.table(page.build.name, "registrations")
    table_url = f"{table}?{urlencode({'_search': text, **({'transport': transport} if transport else {})})}"
    return page.html("site/search.html", r=results, transports=TRANSPORTS, table_url=table_url)


async def lookup(page: RequestContext) -> Response:
    text = (page.request.args.get("q") or "").strip()
    if not text:
        return redirect(page, "/")
    kind, target = read.lookup(page.store, text)
    if kind == "port":
        return redirect(page, f"/ports/{target}")
    if kind == "service":
        return redirect(page, f"/services/{path_name(target)}")
    return redirect(page, "/search", {"q": text[:MAX_TEXT]})


async def free(page: RequestContext) -> Response:
    args = page.request.args
    near = args.get("near")
    # Repeated (the form's checkboxes) or comma-separated (links and scripts).
    transports = [t for v in args.getlist("transports") for t in v.split(",") if t] or list(EVERYDAY_TRANSPORTS)
    count = args.get("count") or 10
    if near in (None, ""):
        if page.fmt:
            raise BadQuery("near must be a port number: /free.json?near=8000")
        return page.html("site/free.html", f=None, transports=TRANSPORTS, wanted=transports, count=count)
    found = read.free(page.store, near, transports, count, read.targets(args.get("os")))
    if page.fmt:
        return json_response(found)
    return page.html("site/free.html", f=found, transports=TRANSPORTS, wanted=found["transports"], count=count)


async def firewall_lines(page: RequestContext) -> Response:
    """The firewall lines of `iana-ports firewall` and the MCP tool: ?target=8080/tcp&for=ufw,nftables."""
    target = page.request.args.get("target") or ""
    if not target.strip():
        raise BadQuery("target must be a port, a range or a service name: /firewall.json?target=8080/tcp")
    return json_response(read.firewall(page.store, target[:MAX_TEXT], page.request.args.get("for")))


firewall_lines.fmt = ".json"


async def changes(page: RequestContext) -> Response:
    try:
        found = read.change_page(page.store, page.request.args, page.urls.path("/changes" + page.fmt))
    except BadQuery as exc:
        if page.fmt:
            raise
        # The page keeps its filter form, with the message above it.
        return page.html("site/changes.html", status=400, **_changes_context(page, {}, [], error=str(exc)))
    if page.fmt == ".json":
        return json_response(found)
    context = _changes_context(page, found["filters"], found["changes"], next_url=found["next"])
    if page.fmt == ".atom":
        return _atom(page, context)
    return page.html("site/changes.html", **context)


def _changes_context(page: RequestContext, public: dict, rows: list, error=None, next_url=None) -> dict:
    query = f"?{urlencode(public)}" if public else ""
    return {
        "changes": rows,
        # An empty page says why: one ingest has nothing to compare with yet.
        "ingests": page.store.ingests(),
        "snapshot_date": registry_date(page.store.latest_ingest()),
        "kinds": read.CHANGE_KINDS,
        "filters": public,
        "error": error,
        "query": query,
        "page_url": page.urls.path("/changes") + query,
        "atom_url": page.urls.path("/changes.atom") + query,
        "json_url": page.urls.path("/changes.json") + query,
        "next_url": next_url,
    }


def _atom(page: RequestContext, c: dict) -> Response:
    def absolute(path):
        return page.datasette.absolute_url(page.request, path)

    body = feed.atom(
        c["changes"],
        feed_id=feed.TAG_PREFIX + "changes" + c["query"],
        feed_url=absolute(c["atom_url"]),
        page_url=absolute(c["page_url"]),
        changes_url=absolute(page.urls.path("/changes")),
        updated=page.store.latest_ingest()["fetched_at"],
        subtitle=", ".join(f"{k} {v}" for k, v in c["filters"].items()),
        next_url=absolute(c["next_url"]) if c["next_url"] else None,
    )
    return Response(body, content_type=feed.CONTENT_TYPE)


async def portmap_png(page: RequestContext) -> Response:
    store = page.store

    def draw_both() -> dict:
        # Both schemes at once: one pass over the ports, two small encodings.
        indexes = portmap.indexes(store)
        return {s: portmap.encode_png(indexes, s) for s in portmap.PALETTES}

    # One image per build and scheme; they go when the build goes.
    maps = await page.build.once("portmap.png", lambda: page.in_thread(draw_both))
    return Response(maps[page.vars.get("scheme") or "light"], content_type="image/png")


async def map_page(page: RequestContext) -> Response:
    # The drawing is /portmap.png; what a port holds, static/map.js reads from /ports/N.json.
    page.store  # 503 like every page while no registry is loaded
    return page.html("site/map.html")


def _bytes(body: bytes, content_type: str):
    async def view(page: RequestContext) -> Response:
        return Response(body, content_type=content_type)

    return view


favicon = _bytes(icon.ICO, "image/vnd.microsoft.icon")
icon_svg = _bytes(icon.SVG, "image/svg+xml")
icon_png = _bytes(icon.PNG, "image/png")


async def port_shortcut(page: RequestContext) -> Response:
    """/443 -> /ports/443: a bare number is a port."""
    number = port_number(page.vars["port"])
    if number is None:
        raise read.NotFound(
            "There is no page at this address: ports are numbers from 0 to 65535.", title="Page not found"
        )
    return redirect(page, f"/ports/{number}", page.request.query_string)


async def without_slash(page: RequestContext) -> Response:
    """/services/ssh/ -> /services/ssh, as Datasette does for every other path."""
    return redirect(page, page.vars["path"], page.request.query_string)


async def healthz(page: RequestContext) -> Response:
    """For load balancers: 200 with the build being served, else the 503 every page gives.

    A build is served until a good one replaces it, so a served path that no
    longer backs it (deleted, replaced by a file that cannot be served, made
    unreadable) is still a 200, "stale" with the reason: the replica answers
    right, from the last good build, and pulling it would only take capacity
    away (all of it, when every replica got the same bad file); the operator
    is who must act (README: /-/healthz).
    """
    ingest = page.store.latest_ingest()
    reason = builds.stale(page.datasette, page.build)
    return json_response(
        {
            "status": "stale" if reason else "ok",
            "stale": reason is not None,
            "reason": reason,
            "database": page.build.name,
            "sha256": ingest["sha256"],
            "etag": page.build.etag,
            "ingested_at": ingest["fetched_at"],
            "source": ingest["source"],
            "registrations": ingest["row_count"],
            "newest_registry_date": registry_date(ingest),
        }
    )


healthz.fmt = ".json"


async def databases(page: RequestContext) -> Response:
    """Datasette's /-/databases less each file's path: where a build sits on the server is not public."""
    listed = page.datasette._connected_databases()
    return json_response([{k: v for k, v in d.items() if k != "path"} for d in listed])


databases.fmt = ".json"

# Path (after base_url) -> view. The port pages come first: they are most of the traffic.
ROUTES = (
    (r"/ports/(?P<port>[^/]*?)(?P<fmt>\.json)?", port),
    (r"(?P<path>/services/.+?)/+", without_slash),
    (r"/services/(?P<name>.+?)(?P<fmt>\.json)?", service),
    (r"/", home),
    (r"/lookup", lookup),
    (r"/search(?P<fmt>\.json)?", search),
    (r"/free(?P<fmt>\.json)?", free),
    (r"/changes(?P<fmt>\.json|\.atom)?", changes),
    (r"/firewall\.json", firewall_lines),
    (r"/portmap(?:-(?P<scheme>dark))?\.png", portmap_png),
    (r"/map", map_page),
    (r"/favicon\.ico", favicon),
    (r"/icon\.svg", icon_svg),
    (r"/icon\.png", icon_png),
    (r"/(?P<port>[0-9]+)", port_shortcut),
    (r"/-/healthz", healthz),
    (r"/-/databases(?:\.json)?", databases),
)
