"""/robots.txt and the sitemaps, on a real Datasette configured as `make serve` configures it."""

import re
import shutil
import sqlite3
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from datasette.utils import PrefixedUrlString

from helpers import make_datasette
from iana_ports.facts import PORT_COUNT, registry_date
from iana_ports.web import builds

NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
W3C_DATE = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?")
BUILD_CACHE = "public, max-age=300, stale-while-revalidate=86400"


class Robots:
    """RFC 9309 matching for the group `User-agent: *`: the longest matching rule wins,
    Allow on a tie; `*` is any run of characters and `$` ends the path."""

    def __init__(self, text: str):
        self.rules, self.sitemaps, group = [], [], None
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            field, _, value = line.partition(":")
            field, value = field.strip().lower(), value.strip()
            if field == "user-agent":
                group = value
            elif field == "sitemap":
                self.sitemaps.append(value)
            elif field in ("allow", "disallow") and group == "*" and value:
                pattern = "".join(".*" if c == "*" else "$" if c == "$" else re.escape(c) for c in value)
                self.rules.append((len(value), field == "allow", re.compile(pattern)))

    def allowed(self, url: str) -> bool:
        best = (-1, True)
        for length, allow, pattern in self.rules:
            if pattern.match(url) and (length, allow) > best:
                best = (length, allow)
        return best[1]


def xml(response):
    assert response.status_code == 200, response.text[:200]
    assert response.headers["content-type"] == "application/xml; charset=utf-8"
    return ET.fromstring(response.content)


async def get(ds, url: str, **kwargs):
    """GET an absolute URL from the sitemaps on the in-process Datasette."""
    parts = urlsplit(url)
    # Already under base_url: the client must not prefix it again.
    return await ds.client.get(PrefixedUrlString(parts.path + (f"?{parts.query}" if parts.query else "")), **kwargs)


@pytest.fixture(scope="module")
async def crawl(datasette):
    """The sitemap index and every sitemap it lists: {sitemap URL: [(loc, lastmod)]}."""
    index = xml(await datasette.client.get("/sitemap.xml"))
    assert index.tag == f"{NS}sitemapindex"
    sitemaps = {}
    for entry in index:
        loc, lastmod = entry.findtext(f"{NS}loc"), entry.findtext(f"{NS}lastmod")
        urlset = xml(await get(datasette, loc))
        assert urlset.tag == f"{NS}urlset"
        urls = [(u.findtext(f"{NS}loc"), u.findtext(f"{NS}lastmod")) for u in urlset]
        assert urls and len(urls) <= 50_000, loc
        assert lastmod == max(d for _, d in urls), loc
        sitemaps[loc] = urls
    return sitemaps


def expected_lastmods(db):
    """Each port's and service's newest registration or modification date, straight from the file."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    ingest = conn.execute("select * from ingests order by id desc limit 1").fetchone()
    build_date = registry_date(dict(ingest))
    ports, services = [None] * PORT_COUNT, {k: None for (k,) in conn.execute("select key from services")}
    for r in conn.execute("select * from registrations"):
        dates = [d for d in (r["registration_date"], r["modification_date"]) if d]
        if not dates:
            continue
        newest = max(dates)
        if r["port_low"] is not None:
            for p in range(r["port_low"], r["port_high"] + 1):
                ports[p] = max(ports[p] or "", newest)
        if r["service_key"]:
            services[r["service_key"]] = max(services[r["service_key"]] or "", newest)
    conn.close()
    return build_date, [d or build_date for d in ports], {k: d or build_date for k, d in services.items()}


async def test_the_sitemaps_list_every_port_and_service_page_once(crawl, db_2026):
    every = [(urlsplit(loc).path, lastmod) for urls in crawl.values() for loc, lastmod in urls]
    paths = [p for p, _ in every]
    assert len(paths) == len(set(paths)), "a page is listed twice"
    build_date, port_dates, service_dates = expected_lastmods(db_2026)
    listed_ports = {p: d for p, d in every if p.startswith("/ports/")}
    assert listed_ports == {f"/ports/{n}": port_dates[n] for n in range(PORT_COUNT)}
    from iana_ports.web.render import path_name

    listed_services = {p: d for p, d in every if p.startswith("/services/")}
    assert listed_services == {f"/services/{path_name(k)}": d for k, d in service_dates.items()}
    assert len(listed_services) > 7000
    # The registry's own dates, not today's: port 22 (ssh) and the dynamic range.
    assert listed_ports["/ports/22"] < build_date == listed_ports["/ports/60878"]
    assert all(W3C_DATE.fullmatch(d) for _, d in every)
    # Home and changes are listed too; nothing else.
    assert {p for p in paths if not p.startswith(("/ports/", "/services/"))} == {"/", "/changes"}


async def test_listed_pages_exist_and_crawlers_may_fetch_them(datasette, crawl):
    robots = Robots((await datasette.client.get("/robots.txt")).text)
    for urls in crawl.values():
        for loc, _ in urls:
            assert robots.allowed(urlsplit(loc).path), loc
    # A sample of them, fetched: every kind answers 200, names with a slash included.
    locs = [loc for urls in crawl.values() for loc, _ in urls]
    sample = locs[::997] + [loc for loc in locs if "%2F" in loc][:3] + [loc for loc in locs if loc.endswith("/65535")]
    for loc in sample:
        assert (await get(datasette, loc)).status_code == 200, loc


@pytest.mark.parametrize(
    "path, allowed",
    [
        # Datasette's SQL in every format, facets, filters, sorts, searches, pages of a table
        ("/iana?sql=select+1", False),
        ("/iana.json?sql=select+1", False),
        ("/iana.csv?sql=select+1", False),
        ("/iana/ports?_facet=range", False),
        ("/iana/ports.json?_facet=status&_facet=range", False),
        ("/iana/ports?status=assigned", False),
        ("/iana/ports?_sort_desc=port", False),
        ("/iana/registrations?_search=http", False),
        ("/iana/ports.csv?_size=max", False),
        ("/iana/ports?_next=40", False),
        # canned queries, bare or with parameters, and the download
        ("/iana/port_lookup", False),
        ("/iana/port_lookup.json?port=22", False),
        ("/iana/unassigned_between?first=1&last=9&transports=", False),
        ("/iana/safe_ports.csv?start=8000", False),
        ("/iana/service_lookup?name=ssh", False),
        ("/iana.db", False),
        # the site's search, free-port results, redirects and instance pages
        ("/search?q=http", False),
        ("/search.json?q=http", False),
        ("/free?near=8000", False),
        ("/free.json?near=8000", False),
        ("/lookup?q=22", False),
        ("/-/healthz", False),
        ("/-/mcp", False),
        ("/-/versions.json", False),
        # what crawlers are for: the explainer pages, their JSON, plain tables and rows, styles
        ("/", True),
        ("/ports/22", True),
        ("/ports/22.json", True),
        ("/services/ssh", True),
        ("/services/cl%2F1", True),
        ("/changes", True),
        ("/changes.atom", True),
        ("/free", True),
        ("/search", True),
        ("/portmap.png", True),
        ("/iana", True),
        ("/iana/ports", True),
        ("/iana/ports/22", True),
        ("/iana/registrations.json", True),
        ("/static/site.css", True),
        ("/-/static/app.css", True),
        ("/sitemap.xml", True),
    ],
)
async def test_robots_rules(datasette, path, allowed):
    response = await datasette.client.get("/robots.txt")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert Robots(response.text).allowed(path) is allowed
    # Each rule is about a page that exists (a 200, or a redirect for /lookup); the MCP
    # endpoint answers only once its session manager runs, in a live server.
    if path != "/-/mcp":
        assert (await datasette.client.get(path)).status_code in (200, 302), path


async def test_robots_points_at_the_sitemap_index_of_the_host_asked(datasette):
    robots = Robots((await datasette.client.get("/robots.txt", headers={"Host": "ports.example"})).text)
    assert robots.sitemaps == ["http://ports.example/sitemap.xml"]
    index = xml(await datasette.client.get("/sitemap.xml", headers={"Host": "ports.example"}))
    locs = [e.findtext(f"{NS}loc") for e in index]
    assert locs and all(loc.startswith("http://ports.example/sitemap-") for loc in locs)


async def test_rules_and_urls_follow_the_served_name_and_base_url(tmp_path, db_2026):
    # `make serve DB=.../registry.db` serves the build as "registry"; a base_url prefixes everything.
    db = tmp_path / "registry.db"
    shutil.copy(db_2026, db)
    ds = make_datasette(db, base_url="/ports-db/", force_https_urls=True)
    await ds.invoke_startup()
    try:
        # The client puts base_url in front of these paths, as a proxy in front would.
        text = (await ds.client.get("/robots.txt")).text
        robots = Robots(text)
        assert "/iana" not in text
        assert not robots.allowed("/ports-db/registry?sql=select+1")
        assert not robots.allowed("/ports-db/registry/ports?_facet=range")
        assert not robots.allowed("/ports-db/registry/port_lookup?port=22")
        assert not robots.allowed("/ports-db/search?q=x")
        assert robots.allowed("/ports-db/ports/22") and robots.allowed("/ports-db/registry/ports")
        assert robots.allowed("/ports-db/-/static/app.css")
        assert robots.sitemaps == ["https://localhost/ports-db/sitemap.xml"]
        index = xml(await ds.client.get("/sitemap.xml"))
        first = index[0].findtext(f"{NS}loc")
        assert first.startswith("https://localhost/ports-db/sitemap-")
        urls = xml(await get(ds, first))
        assert urls[0].findtext(f"{NS}loc") in ("https://localhost/ports-db/", "https://localhost/ports-db/ports/0")
    finally:
        for d in ds.databases.values():
            d.close()


@pytest.mark.parametrize("path", ["/robots.txt", "/sitemap.xml", "/sitemap-ports-0.xml", "/sitemap-services-0.xml"])
async def test_cached_like_every_page(datasette, path):
    etag = builds.current(datasette).etag
    response = await datasette.client.get(path)
    assert (response.status_code, response.headers["cache-control"], response.headers["etag"]) == (
        200,
        BUILD_CACHE,
        etag,
    )
    again = await datasette.client.get(path, headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")


@pytest.mark.parametrize(
    "path", ["/sitemap-ports-4.xml", "/sitemap-services-9.xml", "/sitemap-ports-01.xml", "/sitemap-nope-0.xml"]
)
async def test_no_such_sitemap_is_a_short_lived_404(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 404
    assert response.headers["cache-control"] == "public, max-age=60"
