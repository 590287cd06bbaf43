"""/robots.txt and the sitemaps: what crawlers may fetch, and every port and service page.

robots.txt (RFC 9309) keeps crawlers off what costs the most and says the
least: Datasette's pages with parameters (arbitrary SQL, facets, filters,
sorts, searches, pages of a table: an endless URL space, each a fresh SQL
query), the canned queries, the database download, the site's own search
and free-port results and instance pages under /-/. Everything else, the
explainer pages above all, stays open. The database's URLs depend on the
name the file is served under, so the rules are written from the served
build and datasette.urls, never hard-coded.

The sitemaps follow the sitemaps.org protocol: an index at /sitemap.xml, and
sitemaps of at most PER_SITEMAP URLs (the protocol allows 50,000) at the
root of the site, so they may list any page of it. They list every port page
(65,536) and every service page exactly once, plus the home page and the
changes page; a page's lastmod is its own newest registration or
modification date in the registry, else the build's registry date. URLs are
absolute, from the request's host and scheme and base_url.

Everything is answered from the in-memory build, no SQL (so never queued
behind visitors' queries), made once per build however many crawlers ask at
once (Build.once), and cached by finish.Finisher like every page.
"""

from dataclasses import dataclass
from xml.sax.saxutils import escape

from datasette.utils.asgi import Response

from iana_ports.facts import DATE_PREFIX_RE, PORT_COUNT, registry_date
from iana_ports.errors import NotFound, Unavailable

from .render import path_name

# 65,536 ports make four sitemaps of 16,384, the last being the Dynamic range
# (49152-65535) exactly; each is some 1.4 MB, built in a few milliseconds.
PER_SITEMAP = 16_384
PROTOCOL_LIMIT = 50_000
assert PER_SITEMAP <= PROTOCOL_LIMIT
XML = "application/xml; charset=utf-8"
NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"


@dataclass(frozen=True)
class Catalogue:
    """Every page a sitemap lists, for one build: (path, lastmod) per kind, in order."""

    ports: tuple
    services: tuple
    pages: tuple

    def kind(self, name: str) -> tuple:
        return getattr(self, name)


KINDS = ("pages", "ports", "services")


def newest(rows, fallback: str) -> str:
    """The newest registration or modification date of registry rows, else `fallback`."""
    best = None
    # W3C Datetime as sitemaps take it (a year, a month or a day): nothing else may go into <lastmod>.
    for r in rows:
        for d in (r["registration_date"], r["modification_date"]):
            if d and DATE_PREFIX_RE.fullmatch(d) and (best is None or d > best):
                best = d
    return best or fallback


def catalogue_of(store, service_keys, build_date: str) -> Catalogue:
    """Pure: the catalogue of one build, from its read side (a MemoryStore or a Store)."""
    return Catalogue(
        ports=tuple((f"/ports/{p}", newest(store.registrations_at(p), build_date)) for p in range(PORT_COUNT)),
        services=tuple(
            (f"/services/{path_name(k)}", newest(store.service_registrations(k), build_date)) for k in service_keys
        ),
        pages=(("/", build_date), ("/changes", build_date)),
    )


async def catalogue(page) -> Catalogue:
    """The served build's catalogue, made once per build (a few hundred ms, off the event loop)."""
    store = page.store
    # Never empty for a build ingest has checked; "" would still be valid W3C.
    build_date = registry_date(store.latest_ingest()) or store.latest_ingest()["fetched_at"][:10]
    return await page.build.once(
        "catalogue", lambda: page.in_thread(catalogue_of, store, store.service_keys(), build_date)
    )


def absolute(page, path: str) -> str:
    """An absolute URL for a site path, from the request's scheme, host and base_url, XML-escaped."""
    return escape(page.datasette.absolute_url(page.request, page.urls.path(path)))


def chunks(entries: tuple) -> list[tuple]:
    return [entries[i : i + PER_SITEMAP] for i in range(0, len(entries), PER_SITEMAP)]


def xml_response(parts: list[str]) -> Response:
    return Response("".join(parts), content_type=XML)


async def robots(page) -> Response:
    if page.build is None:
        raise Unavailable()
    urls, name = page.urls, page.build.name
    database = urls.database(name)
    queries = await page.datasette.get_canned_queries(name, None)
    lines = [
        "# iana-ports: every port and service page is listed in the sitemap below.",
        "User-agent: *",
        "# Datasette with parameters: SQL, facets, filters, sorts, searches and pages of",
        "# tables are an endless set of URLs, each a fresh query. Plain table and row pages stay open.",
        f"Disallow: {database}*?",
        "# Canned queries, and the whole database as one file.",
        *(f"Disallow: {urls.query(name, q)}" for q in sorted(queries)),
        f"Disallow: {database}.db",
        "# The site's search, free-port results and redirects: endless, and the pages they find are listed.",
        f"Disallow: {urls.path('/search?')}",
        f"Disallow: {urls.path('/search.json')}",
        f"Disallow: {urls.path('/free?')}",
        f"Disallow: {urls.path('/free.json')}",
        f"Disallow: {urls.path('/lookup')}",
        "# Instance pages (health, versions, the MCP endpoint), but not the styles pages need.",
        f"Disallow: {urls.path('/-/')}",
        f"Allow: {urls.static('')}",
        "",
        f"Sitemap: {page.datasette.absolute_url(page.request, urls.path('/sitemap.xml'))}",
    ]
    return Response.text("\n".join(lines) + "\n")


robots.fmt = ".txt"


async def sitemap_index(page) -> Response:
    found = await catalogue(page)
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<sitemapindex xmlns="{NAMESPACE}">\n']
    for kind in KINDS:
        for n, entries in enumerate(chunks(found.kind(kind))):
            lastmod = max(d for _, d in entries)
            loc = absolute(page, f"/sitemap-{kind}-{n}.xml")
            parts.append(f"<sitemap><loc>{loc}</loc><lastmod>{lastmod}</lastmod></sitemap>\n")
    parts.append("</sitemapindex>\n")
    return xml_response(parts)


sitemap_index.fmt = ".xml"


async def sitemap(page) -> Response:
    found = await catalogue(page)
    kind, n = page.vars["kind"], int(page.vars["n"])
    sitemaps = chunks(found.kind(kind))
    if n >= len(sitemaps):
        raise NotFound("No such sitemap: /sitemap.xml lists them all.", title="No such sitemap")
    # The site's root as an absolute URL, escaped once; the paths are plain ASCII (ports, %-quoted names).
    root = absolute(page, "/").removesuffix("/")
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n', f'<urlset xmlns="{NAMESPACE}">\n']
    parts += [f"<url><loc>{root}{path}</loc><lastmod>{lastmod}</lastmod></url>\n" for path, lastmod in sitemaps[n]]
    parts.append("</urlset>\n")
    return xml_response(parts)


sitemap.fmt = ".xml"

# Path (after base_url) -> view.
ROUTES = (
    (r"/robots\.txt", robots),
    (r"/sitemap\.xml", sitemap_index),
    (r"/sitemap-(?P<kind>pages|ports|services)-(?P<n>0|[1-9][0-9]{0,3})\.xml", sitemap),
)
