"""What a visitor and a link preview meet, over HTTP through a real Datasette: the head of every
page (title, description, Open Graph and Twitter tags, icons), the icon itself, forgiving URLs,
the port page's explainer, names instead of ids, and Datasette's pages joined to the site
(links in cells, titles, the full CSV)."""

import csv
import io
import json
import re
import sqlite3
import struct
import zlib
from html.parser import HTMLParser

import pytest

from helpers import ROOT
from iana_ports.facts import RANGES
from iana_ports.text import contact_names
from iana_ports.web import icon
from iana_ports.web.render import CONFIG

ORIGIN = "http://localhost"  # what datasette.client's requests carry as their host


class Head(HTMLParser):
    """The <title>, <meta> and <link> tags of a page, and the text of the first <p> in <main>."""

    def __init__(self):
        super().__init__()
        self.title = None
        self.meta = {}
        self.links = []
        self.first_p = None
        self._in = None
        self._main = False
        self._text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "title" and self.title is None:
            self._in, self._text = "title", []
        elif tag == "meta" and ("name" in a or "property" in a):
            key = a.get("name") or a.get("property")
            assert key not in self.meta, f"{key} twice"
            self.meta[key] = a["content"]
        elif tag == "link":
            self.links.append(a)
        elif tag == "main":
            self._main = True
        elif tag == "p" and self._main and self.first_p is None and self._in is None:
            self._in, self._text = "p", []

    def handle_endtag(self, tag):
        if tag == "title" and self._in == "title":
            self.title, self._in = "".join(self._text), None
        elif tag == "p" and self._in == "p":
            self.first_p, self._in = " ".join("".join(self._text).split()), None

    def handle_data(self, data):
        if self._in:
            self._text.append(data)


def head_of(html: str) -> Head:
    h = Head()
    h.feed(html)
    return h


async def get(datasette, path, status=200):
    response = await datasette.client.get(path)
    assert response.status_code == status, (path, response.status_code)
    return response


LEAD = object()
PREVIEWS = [
    # path, title, description (the page's first sentence), canonical path or None
    (
        "/",
        "Ports and services",
        "Every one of the 65,536 TCP, UDP, SCTP and DCCP port numbers and every registered service name, "
        "explained from IANA's registry.",
        "/",
    ),
    # A port page's description is its lead (`lead` in its JSON, whose wording tests/web/test_pages.py checks).
    ("/ports/22", "Port 22 (ssh)", LEAD, "/ports/22"),
    ("/ports/8080", "Port 8080 (http-alt)", LEAD, "/ports/8080"),
    ("/ports/40001", "Port 40001", LEAD, "/ports/40001"),
    ("/ports/60878", "Port 60878", LEAD, "/ports/60878"),
    ("/ports/1008", "Port 1008", LEAD, "/ports/1008"),
    (
        "/services/ssh",
        "Service ssh",
        "IANA registers the service name ssh on port 22 for tcp, udp and sctp.",
        "/services/ssh",
    ),
    (
        "/services/x11",
        "Service x11",
        "IANA registers the service name x11 on ports 6000–6063 for tcp and udp.",
        "/services/x11",
    ),
    (
        "/services/netconf-beep",
        "Service netconf-beep",
        "IANA registers the service name netconf-beep without a port number.",
        "/services/netconf-beep",
    ),
    (
        "/search",
        "Search",
        "Search IANA's registry by words in service names, descriptions and notes, or type ports and names as you "
        "would write them: 22, 22/tcp, ssh/tcp, 8080,8443 or 6000-6010.",
        None,
    ),
    (
        "/changes",
        "Registry changes",
        "What changed in IANA's service name and port number registry from one ingest to the next, newest first by "
        "registry date.",
        None,
    ),
    (
        "/free",
        "Free ports",
        "Ports that are good for your own service: unassigned by IANA on the transports you choose, outside the "
        "System and Dynamic ranges and the ephemeral ranges of the platforms you run on, not refused by browsers, "
        "and not the known default of other software.",
        None,
    ),
    (
        "/map",
        "Port map",
        "All 65,536 ports on one map, 256 to a line, each square coloured by its status in IANA's registry.",
        "/map",
    ),
]


@pytest.mark.parametrize("path,title,description,canonical", PREVIEWS)
async def test_every_page_previews_with_its_title_and_first_sentence(datasette, path, title, description, canonical):
    if description is LEAD:
        description = (await get(datasette, path + ".json")).json()["lead"]
    h = head_of((await get(datasette, path)).text)
    assert h.title == f"{title} · IANA ports"
    assert h.first_p.startswith(description), h.first_p
    expected = {
        "description": description,
        "color-scheme": "light dark",
        "viewport": "width=device-width, initial-scale=1",
        "og:site_name": "IANA ports",
        "og:type": "website",
        "og:title": title,
        "og:description": description,
        "og:image": f"{ORIGIN}/icon.png",
        "twitter:card": "summary",
        "twitter:title": title,
        "twitter:description": description,
    }
    if canonical:
        expected["og:url"] = ORIGIN + canonical
    assert h.meta == expected
    rels = {(link["rel"], link["href"]) for link in h.links}
    assert {("icon", "/favicon.ico"), ("icon", "/icon.svg"), ("apple-touch-icon", "/icon.png")} <= rels
    assert [link["href"] for link in h.links if link["rel"] == "canonical"] == (
        [ORIGIN + canonical] if canonical else []
    )


@pytest.mark.parametrize(
    "path,title,description",
    [
        (
            "/iana",
            "IANA registry",
            "The registry as published (registrations), and tables derived from it for every port.",
        ),
        (
            "/iana/ports",
            "Ports: 65,536 rows",
            "All 65,536 ports with their status per transport, worked out from the registrations.",
        ),
        (
            "/iana/ports/22",
            "Row 22 of ports",
            "All 65,536 ports with their status per transport, worked out from the registrations.",
        ),
        ("/iana/port_lookup?port=22", "Port lookup", "Status of one port and every registry row that covers it."),
        (
            "/iana?sql=select+1",
            "SQL query",
            "The registry as published (registrations), and tables derived from it for every port.",
        ),
    ],
)
async def test_datasette_pages_preview_and_carry_the_icon(datasette, path, title, description):
    h = head_of((await get(datasette, path)).text)
    assert h.title == f"{title} · IANA ports"
    assert {
        k: h.meta[k] for k in ("description", "og:title", "og:description", "og:image", "twitter:card", "color-scheme")
    } == {
        "description": description,
        "og:title": title,
        "og:description": description,
        "og:image": f"{ORIGIN}/icon.png",
        "twitter:card": "summary",
        "color-scheme": "light dark",
    }
    rels = {(link["rel"], link["href"]) for link in h.links}
    assert {("icon", "/favicon.ico"), ("icon", "/icon.svg"), ("stylesheet", "/static/site.css")} <= rels


# The icon: one drawing, three files.


def read_png(data: bytes) -> tuple[int, list[list[tuple]]]:
    """(size, rows of RGBA) of an 8-bit palette PNG as icon.png() writes it (filter 0 rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        assert struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0] == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (width, depth, colour) == (height, 8, 3)
    palette = [tuple(chunks[b"PLTE"][i : i + 3]) for i in range(0, len(chunks[b"PLTE"]), 3)]
    alpha = list(chunks[b"tRNS"]) + [255] * (len(palette) - len(chunks[b"tRNS"]))
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = []
    for y in range(height):
        line = raw[y * (width + 1) : (y + 1) * (width + 1)]
        assert line[0] == 0
        rows.append([(*palette[i], alpha[i]) for i in line[1:]])
    return width, rows


def svg_pixels(svg: str) -> list[list[tuple]]:
    """The 16x16 drawing the SVG's rects paint, as RGBA (unpainted: transparent)."""
    grid = [[(0, 0, 0, 0)] * 16 for _ in range(16)]
    for x, y, w, h, fill in re.findall(
        r'<rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)" fill="#([0-9a-f]{6})"/>', svg
    ):
        rgba = (*bytes.fromhex(fill), 255)
        for yy in range(int(y), int(y) + int(h)):
            for xx in range(int(x), int(x) + int(w)):
                grid[yy][xx] = rgba
    return grid


def downscale(rows, scale):
    return [row[::scale] for row in rows[::scale]]


async def test_favicon_ico_holds_the_svgs_drawing_at_three_sizes(datasette):
    svg = await get(datasette, "/icon.svg")
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.startswith('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"')
    drawing = svg_pixels(svg.text)
    assert drawing[5][7] == (0xF0, 0xB4, 0x29, 255)  # the amber "your port" cell
    assert drawing[0][0] == (0, 0, 0, 0)  # a rounded corner
    ico = await get(datasette, "/favicon.ico")
    # Ours, not Datasette's default PNG.
    assert ico.headers["content-type"] == "image/vnd.microsoft.icon"
    data = ico.content
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind, count) == (0, 1, 3)
    sizes = []
    for i in range(count):
        w, h, colours, _, planes, bits, length, offset = struct.unpack("<BBBBHHII", data[6 + 16 * i : 22 + 16 * i])
        size, rows = read_png(data[offset : offset + length])
        assert (w, h, size) == (size, size, size)
        assert downscale(rows, size // 16) == drawing
        sizes.append(size)
    assert sizes == [16, 32, 48]
    png = await get(datasette, "/icon.png")
    assert png.headers["content-type"] == "image/png"
    size, rows = read_png(png.content)
    assert size == 512 and downscale(rows, 32) == drawing
    assert icon.PIXELS[5][7] == "A"


# Forgiving URLs


@pytest.mark.parametrize(
    "path,location",
    [
        ("/443", "/ports/443"),
        ("/0", "/ports/0"),
        ("/65535?x=1", "/ports/65535?x=1"),
        ("/ports/443/", "/ports/443"),
        ("/ports/443.json/", "/ports/443.json"),
        ("/services/ssh/", "/services/ssh"),
        ("/services/ssh.json/", "/services/ssh.json"),
        ("/services/cl%2F1/", "/services/cl%2F1"),
        ("/services/ssh//?a=b", "/services/ssh?a=b"),
        ("/search/?q=ssh", "/search?q=ssh"),
        ("/free/?near=8000", "/free?near=8000"),
        ("/changes/", "/changes"),
        ("/map/", "/map"),
        ("/lookup/?q=22", "/lookup?q=22"),
        ("/iana/", "/iana"),
        ("/iana/ports/", "/iana/ports"),
        ("/iana/ports/22/", "/iana/ports/22"),
    ],
)
async def test_forgiving_urls_redirect(datasette, path, location):
    response = await datasette.client.get(path)
    assert (response.status_code, response.headers["location"]) == (302, location)


async def test_the_redirects_land(datasette):
    assert (await get(datasette, "/services/cl%2F1")).text.count("<h1>Service <span") == 1
    assert "<h1>Port 443 <span" in (await get(datasette, "/ports/443")).text


# The port page's explainer


def section(page: str, name: str) -> str:
    return re.search(rf'<section aria-labelledby="{name}">.*?</section>', page, re.S).group(0)


@pytest.mark.parametrize(
    "port,range_name,crumb",
    [(22, "System Ports", 0), (8080, "User Ports", 1024), (60878, "Dynamic Ports", 49152)],
)
async def test_port_pages_explain_all_three_ranges_and_mark_this_one(datasette, port, range_name, crumb):
    page = (await get(datasette, f"/ports/{port}")).text
    assert (
        '<nav class="crumbs" aria-label="Breadcrumb"><ol>\n  <li><a href="/map">Ports</a></li>\n'
        f'  <li><a href="/map?port={crumb}">{range_name}</a></li>\n'
        f'  <li aria-current="page">{port}</li>\n</ol></nav>'
    ) in page
    ranges = section(page, "range")
    assert f'<line class="bar-marker" x1="{port}.5" x2="{port}.5" y1="0" y2="24"/>' in ranges
    assert (
        f'<title id="ranges-bar-title">Port {port} on the line of all ports from 0 to 65535, in the '
        f"{range_name} range</title>"
    ) in ranges
    lines = re.findall(r'<li class="range-line range-(\w+)( current)?"><strong>[0-9]+–[0-9]+ ([^<]+)</strong>', ranges)
    assert lines == [
        (r["name"].split()[0].lower(), " current" if r["name"] == range_name else "", r["name"]) for r in RANGES
    ]
    assert ranges.count('<span class="here">(this port)</span>') == 1
    # The longer text, for this port's range only, behind a disclosure.
    details = re.search(r'<details class="range-more">.*?</details>', ranges, re.S).group(0)
    for r in RANGES:
        assert (r["explanation"] in details) == (r["name"] == range_name)
    bigger = '<section aria-labelledby="bigger-picture">' in page
    assert bigger == (range_name == "Dynamic Ports")


async def test_the_bigger_picture_on_dynamic_ports(datasette):
    page = (await get(datasette, "/ports/60878")).text
    text = " ".join(re.sub(r"<[^>]+>", "", section(page, "bigger-picture")).split())
    assert text.startswith("The bigger picture A connection is told apart by the address and port at both ends")
    assert text.endswith("is what lets billions of devices connect at once.")
    assert '<a href="https://www.rfc-editor.org/rfc/rfc6335#section-8.1.2">RFC 6335</a>' in page


async def test_the_port_page_starts_with_the_verdict(datasette):
    page = (await get(datasette, "/ports/3000")).text
    lede_end = page.index('<p class="lede">')
    verdict = page.index(
        '<p class="verdict verdict-avoid"><strong>For your own service: avoid.</strong> '
        "IANA has assigned it to hbci and remoteware-cl on tcp and udp.</p>"
    )
    assert lede_end < verdict < page.index('<section aria-labelledby="status">')


# Names, not ids


@pytest.mark.parametrize(
    "text,names",
    [
        ("[Kurt_Haubner]", ["Kurt Haubner"]),
        ("[Dave_Mills_2]", ["Dave Mills"]),
        ("[Eric_Soderberg_2][Edward_Yim]", ["Eric Soderberg", "Edward Yim"]),
        ("[IETF_Chair]", ["IETF Chair"]),
        ("[Amazon.com_Services_LLC]", ["Amazon.com Services LLC"]),
        ("[OMS-Group_e._V.]", ["OMS-Group e. V."]),
        ("Written out", ["Written out"]),
        ("", []),
        (None, []),
    ],
)
def test_contact_names(text, names):
    assert contact_names(text) == names


@pytest.mark.parametrize(
    "port,assignee,contact",
    [
        (3000, "Kurt Haubner", "Kurt Haubner"),
        (5300, "Eric Soderberg and Edward Yim", "Eric Soderberg and Edward Yim"),
        (4195, "Amazon.com Services LLC", "Lauren Townsend"),
        (133, "Dave Mills", "Dave Mills"),
        (22, "Randall Stewart", "Randall Stewart"),
    ],
)
async def test_assignees_and_contacts_show_as_names(datasette, port, assignee, contact):
    # A build from the CSV alone: the names are the rule's reading of the ids, and say so
    # (tests/web/test_xml_pages.py has the registry's own names).
    page = (await get(datasette, f"/ports/{port}")).text
    guessed = ' <span class="muted">(read from the id)</span>'
    assert f"<dt>Assignee</dt><dd>{assignee}{guessed}</dd>" in page
    assert f"<dt>Contact</dt><dd>{contact}{guessed}</dd>" in page
    # A field the registry leaves empty is left out, not shown as a dash.
    assert "<dd>—</dd>" not in page
    assert not re.search(r"<dd>\[[A-Za-z]", page)


async def test_rfcs_in_notes_are_links(datasette):
    page = (await get(datasette, "/ports/9100")).text
    assert 'in DNS SRV records (<a href="https://www.rfc-editor.org/rfc/rfc2782">RFC 2782</a>).' in page


# Datasette's pages join the site


@pytest.mark.parametrize(
    "path,cells",
    [
        # A row page: its port links to the port's page.
        ("/iana/ports/1491", ['<td class="col-port type-int"><a href="/ports/1491">1491</a></td>']),
        # The ports table: each row's port leads to the port's page.
        (
            "/iana/ports?_size=2",
            [
                '<td class="col-port type-pk"><a href="/ports/0">0</a></td>',
                '<td class="col-port type-pk"><a href="/ports/1">1</a></td>',
                '<td class="col-services type-str"><a href="/services/tcpmux">tcpmux</a></td>',
            ],
        ),
        (
            "/iana/registrations?service_key=x11",
            [
                '<td class="col-service_name type-str"><a href="/services/x11">x11</a></td>',
                '<td class="col-port type-str"><a href="/ports/6000">6000-6063</a></td>',
                '<td class="col-port_low type-int"><a href="/ports/6000">6000</a></td>',
                '<td class="col-port_high type-int"><a href="/ports/6063">6063</a></td>',
            ],
        ),
        (
            "/iana/services?key=http",
            [
                '<td class="col-name type-str"><a href="/services/http">http</a></td>',
                '<td class="col-ports type-str"><a href="/ports/80">80</a></td>',
            ],
        ),
        (
            "/iana/services?key=whois%2B%2B",
            [
                '<td class="col-key type-pk"><a href="/iana/services/whois~2B~2B">whois++</a></td>',
                '<td class="col-name type-str"><a href="/services/whois%2B%2B">whois++</a></td>',
                '<td class="col-alias_of type-str"><a href="/services/whoispp">whoispp</a></td>',
            ],
        ),
        (
            "/iana/common_uses?software=PostgreSQL",
            ['<td class="col-first type-int"><a href="/ports/5432">5432</a></td>'],
        ),
        # Query results, canned and not, by column name.
        (
            "/iana/port_lookup?port=22",
            [
                '<td class="col-port"><a href="/ports/22">22</a></td>',
                '<td class="col-service_name"><a href="/services/ssh">ssh</a></td>',
            ],
        ),
        (
            "/iana?sql=select+port%2C+services+from+ports+where+port+in+(22%2C+80)",
            [
                '<td class="col-port"><a href="/ports/22">22</a></td>',
                '<td class="col-services"><a href="/services/http">http</a>, <a href="/services/www">www</a>, '
                '<a href="/services/www-http">www-http</a></td>',
            ],
        ),
    ],
)
async def test_datasette_cells_link_to_the_sites_pages(datasette, path, cells):
    page = (await get(datasette, path)).text
    for cell in cells:
        assert cell in page, cell


async def test_cell_links_leave_data_and_other_columns_alone(datasette):
    body = (await get(datasette, "/iana/ports/22.json?_shape=array")).json()
    assert body[0]["port"] == 22 and body[0]["services"] == '["ssh"]'
    page = (await get(datasette, "/iana/ports?_size=1")).text
    assert '<td class="col-status type-str">reserved</td>' in page
    # A number outside 0-65535 in a port column is left as it is.
    page = (await get(datasette, "/iana?sql=select+70000+as+port%2C+%27ssh%27+as+description")).text
    assert '<td class="col-port">70000</td>' in page
    assert '<td class="col-description">ssh</td>' in page


async def test_canned_queries_are_titled_by_their_title(datasette):
    page = (await get(datasette, "/iana/unassigned_between?first=1&last=2&transports=")).text
    assert "<title>Unassigned ports between two numbers · IANA ports</title>" in page
    assert "select" not in head_of(page).title


async def test_the_visible_csv_link_streams_every_row(datasette, db_2026):
    page = (await get(datasette, "/iana/ports?status=assigned")).text
    links = re.findall(r'<a class="csv-all" href="([^"]+)">([^<]+)</a>', page)
    assert links == [("/iana/ports.csv?status=assigned&amp;_size=max&amp;_stream=on", "CSV (all 6,342 rows)")]
    response = await get(datasette, links[0][0].replace("&amp;", "&"))
    rows = list(csv.DictReader(io.StringIO(response.text)))
    with sqlite3.connect(db_2026) as db:
        expected = [str(p) for (p,) in db.execute("select port from ports where status = 'assigned' order by port")]
    assert len(expected) == 6342
    assert [r["port"] for r in rows] == expected


async def test_a_one_page_table_links_its_csv_plainly(datasette):
    page = (await get(datasette, "/iana/ranges")).text
    assert re.findall(r'<a class="csv-all" href="([^"]+)">([^<]+)</a>', page) == [("/iana/ranges.csv?_size=max", "CSV")]


async def test_datasette_forms_are_labelled(datasette):
    page = (await get(datasette, "/iana/ports?status=assigned")).text
    for control in (
        '<select name="_filter_column_1" aria-label="Filter 1: column">',
        '<select name="_filter_op_1" aria-label="Filter 1: operation">',
        'name="_filter_value_1" class="filter-value" value="assigned" aria-label="Filter 1: value">',
        '<select name="_filter_column" aria-label="New filter: column">',
        '<input type="text" name="_filter_value" class="filter-value" aria-label="New filter: value">',
        '<select name="_sort" id="sort_by" aria-label="Sort by">',
    ):
        assert control in page, control
    page = (await get(datasette, "/iana")).text
    assert '<label class="visually-hidden" for="sql-editor">SQL query</label><textarea id="sql-editor"' in page


# Every link goes through link() / urls: the site under a base URL


async def test_links_follow_the_base_url(db_2026):
    # As `datasette serve --setting base_url /sub/` makes it: the setting there from the start.
    from datasette.app import Datasette

    settings = dict(json.loads((ROOT / "settings.json").read_text()), base_url="/sub/")
    ds = Datasette([], immutables=[str(db_2026)], config_dir=CONFIG, settings=settings)
    await ds.invoke_startup()
    # datasette.client puts base_url in front of the paths it is given.
    response = await ds.client.get("/ports/60878")
    assert (response.status_code, str(response.url)) == (200, "http://localhost/sub/ports/60878")
    page = response.text
    hrefs = re.findall(r'(?:href|src|data-[a-z-]+)="(/[^"]*)"', page)
    assert hrefs and all(h.startswith("/sub/") for h in hrefs), [h for h in hrefs if not h.startswith("/sub/")]
    assert '<meta property="og:image" content="http://localhost/sub/icon.png">' in page
    page = (await ds.client.get("/map")).text
    assert 'data-port-url="/sub/ports/"' in page and 'src="/sub/static/map.js"' in page
    page = (await ds.client.get("/iana/ports/1491")).text
    assert '<a href="/sub/ports/1491">1491</a>' in page
    response = await ds.client.get("/443")
    assert response.headers["location"] == "/sub/ports/443"
    for db in ds.databases.values():
        db.close()
