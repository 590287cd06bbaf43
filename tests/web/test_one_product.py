"""Datasette's pages in the site's words, the port map in dark mode, /changes newest first with
housekeeping folded and an empty history that says how to get one, service pages that lead with
the service (issue 19, "One product" and "Service pages"). Real Datasette, real builds."""

import csv
import html
import re
import struct
import zlib

import pytest
from helpers import ROOT

from iana_ports import read
from iana_ports.web import portmap


async def text_of(ds, path: str, status: int = 200) -> str:
    response = await ds.client.get(path)
    assert response.status_code == status, path
    return response.text


def crumbs(page: str) -> list[tuple[str, str | None]]:
    """(label, href or None for the current page) of the breadcrumbs above a page."""
    nav = re.search(r'<nav class="crumbs[^"]*" aria-label="Breadcrumb">(.*?)</nav>', page, re.S).group(1)
    found = []
    for item in re.findall(r"<li[^>]*>(.*?)</li>", nav, re.S):
        link = re.fullmatch(r'<a href="([^"]*)">(.*)</a>', item.strip())
        found.append((html.unescape(link.group(2)), link.group(1)) if link else (html.unescape(item.strip()), None))
    return found


def headings(page: str, level: int) -> list[str]:
    return [
        " ".join(html.unescape(re.sub(r"<[^>]+>", "", h)).split())
        for h in re.findall(rf"<h{level}[^>]*>(.*?)</h{level}>", page, re.S)
    ]


# Datasette's pages: titles, breadcrumbs, canned queries


@pytest.mark.parametrize(
    "path,expected,h1",
    [
        ("/iana", [("Home", "/"), ("IANA registry", None)], "IANA registry"),
        ("/iana/ports", [("Home", "/"), ("IANA registry", "/iana"), ("Ports", None)], "Ports"),
        (
            "/iana/os_ephemeral_ranges",
            [("Home", "/"), ("IANA registry", "/iana"), ("OS ephemeral ranges", None)],
            "OS ephemeral ranges",
        ),
        (
            "/iana/ports/22",
            [("Home", "/"), ("IANA registry", "/iana"), ("Ports", "/iana/ports"), ("22", None)],
            "Ports: 22",
        ),
        (
            "/iana/safe_ports?start=8000",
            [("Home", "/"), ("IANA registry", "/iana"), ("Free ports from a port", None)],
            "Free ports from a port",
        ),
        ("/iana?sql=select+1", [("Home", "/"), ("IANA registry", "/iana"), ("SQL query", None)], "SQL query"),
    ],
)
async def test_datasette_pages_have_the_sites_crumbs_and_titles(datasette, path, expected, h1):
    page = await text_of(datasette, path)
    assert crumbs(page) == expected
    assert headings(page, 1) == [h1]
    # Datasette's lowercase crumbs ("home / iana") and its coloured bar beside the title are gone.
    assert '<p class="crumbs">' not in page and ">home<" not in page
    assert "border-left: 10px" not in page and 'style="border-color' not in page


async def test_the_stylesheet_takes_away_datasettes_title_bar(datasette):
    css = await text_of(datasette, "/static/site.css")
    # app.css: `.page-header { border-left: 10px solid #666; padding-left: 10px }`.
    assert ".page-header { border-left: 0; padding-left: 0;" in css


async def test_metadata_titles_the_registry_and_its_tables(datasette):
    metadata = (await datasette.client.get("/-/metadata.json")).json()["databases"]["iana"]
    assert metadata["title"] == "IANA registry"
    assert {name: t["title"] for name, t in metadata["tables"].items()} == {
        "registrations": "Registrations",
        "ingests": "Ingests",
        "ports": "Ports",
        "ranges": "Ranges",
        "os_ephemeral_ranges": "OS ephemeral ranges",
        "unassigned_ranges": "Unassigned runs",
        "services": "Services",
        "references": "References",
        "changes": "Changes",
        "common_uses": "Common uses",
        "people": "People and organisations",
        "footnotes": "Footnotes",
        "registry_notes": "Registry notes",
        "registry_xml": "Registry XML",
    }
    assert {name: q["title"] for name, q in metadata["queries"].items()} == {
        "port_lookup": "Port lookup",
        "service_lookup": "Service lookup",
        "unassigned_between": "Unassigned ports between two numbers",
        "safe_ports": "Free ports from a port",
    }


async def test_the_database_page_lists_canned_queries_by_their_titles(datasette):
    page = await text_of(datasette, "/iana")
    queries = re.search(r'<h2 id="queries">Queries</h2>\s*<ul class="bullets">(.*?)</ul>', page, re.S).group(1)
    assert [html.unescape(t) for t in re.findall(r'<a href="[^"]*" title="[^"]*">([^<]*)</a>', queries)] == [
        "Port lookup",
        "Service lookup",
        "Unassigned ports between two numbers",
        "Free ports from a port",
    ]
    assert "Safe port" not in page


async def test_a_canned_query_is_headed_by_its_title_not_custom_sql(datasette):
    page = await text_of(datasette, "/iana/safe_ports?start=8000")
    assert "<title>Free ports from a port · IANA ports</title>" in page
    assert headings(page, 1) == ["Free ports from a port"]
    # Its parameters and results first, its SQL after them; never "Custom SQL query returning ...".
    assert headings(page, 2) == ["The first 1,000 rows (there are more)", "SQL (hide)"]
    assert "Custom SQL" not in page and ":start" not in page.split("<pre")[0]
    assert (
        page.index('<label for="qp1">start</label>')
        < page.index('<h2 class="row-count">')
        < page.index('<pre id="sql-query">')
    )
    assert '<input type="submit" value="Run query">' in page


async def test_a_custom_query_keeps_its_editor_first(datasette):
    page = await text_of(datasette, "/iana?sql=select+port+from+ports+limit+3")
    assert headings(page, 2) == ["Custom SQL query (hide)", "3 rows"]
    assert page.index('<textarea id="sql-editor"') < page.index('<h2 class="row-count">')


async def test_the_ports_table_keeps_its_verdict_in_view(datasette):
    page = await text_of(datasette, "/iana/ports")
    assert '<body class="table db-iana table-ports">' in page
    css = await text_of(datasette, "/static/site.css")
    # The sticky column (checked in Chromium at 1280 px by test_one_product_browser.py).
    assert ".table-ports .rows-and-columns .col-verdict {\n  position: sticky; right: 0;" in css


# The port map, light and dark


def png_palette_and_pixels(png: bytes) -> tuple[list[str], bytes]:
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        chunks[png[pos + 4 : pos + 8]] = png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(chunks[b"IDAT"])
    pixels = b"".join(raw[r * 257 + 1 : (r + 1) * 257] for r in range(256))
    plte = chunks[b"PLTE"]
    return [plte[i : i + 3].hex() for i in range(0, len(plte), 3)], pixels


def luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance."""

    def channel(c):
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(hex_colour[i : i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


async def test_the_dark_map_is_the_same_map_in_dark_colours(datasette):
    light = await datasette.client.get("/portmap.png")
    dark = await datasette.client.get("/portmap-dark.png")
    assert (dark.status_code, dark.headers["content-type"]) == (200, "image/png")
    light_palette, light_pixels = png_palette_and_pixels(light.content)
    dark_palette, dark_pixels = png_palette_and_pixels(dark.content)
    assert dark_pixels == light_pixels
    assert light_palette == ["1f5fa8", "d98a1c", "e3e8ee", "9bd4b0"]
    assert dark_palette == ["4a90e2", "e0a040", "2a3440", "3a7a57"]

    def colour(palette, port):
        return palette[dark_pixels[port]]

    assert [colour(dark_palette, p) for p in (22, 0, 717, 60878)] == ["4a90e2", "e0a040", "2a3440", "3a7a57"]
    # Dark: mostly dark (unassigned and the Dynamic quarter), where the light map is mostly pale.
    mean = {
        name: sum(luminance(palette[i]) for i in pixels) / len(pixels)
        for name, palette, pixels in (("light", light_palette, light_pixels), ("dark", dark_palette, dark_pixels))
    }
    assert mean["light"] > 0.5 and mean["dark"] < 0.1
    assigned, reserved, unassigned, dynamic = dark_palette
    # Assigned and reserved stand out from unassigned (WCAG non-text contrast, 3:1) and from each other
    # by hue; the Dynamic quarter is told from unassigned by hue and a step of lightness.
    assert contrast(assigned, unassigned) >= 3 and contrast(reserved, unassigned) >= 3
    assert 1.5 <= contrast(dynamic, unassigned) < 3
    assert len(set(dark_palette)) == 4


async def test_the_map_legend_uses_the_maps_colours(datasette):
    css = await text_of(datasette, "/static/site.css")
    dark_block = css[css.index("@media (prefers-color-scheme: dark)") :]
    for scheme, block in (("light", css[: css.index("@media (prefers-color-scheme: dark)")]), ("dark", dark_block)):
        got = [re.search(rf"--map-{s}: #([0-9a-f]{{6}});", block).group(1) for s in portmap.STATUSES]
        assert got == ["%02x%02x%02x" % rgb for rgb in portmap.PALETTES[scheme]], scheme


@pytest.mark.parametrize("path,image", [("/", "portmap"), ("/map", "bigmap")])
async def test_the_maps_follow_the_colour_scheme(datasette, path, image):
    page = await text_of(datasette, path)
    assert (
        f'<picture><source srcset="/portmap-dark.png" media="(prefers-color-scheme: dark)"><img id="{image}"'
    ) in page


# /changes


async def test_changes_are_newest_first_by_registry_date(datasette_history):
    changes = (await datasette_history.client.get("/changes.json?_size=1000")).json()["changes"]
    shown = [c["change_date"] or c["registry_date"] for c in changes]
    assert shown == sorted(shown, reverse=True)
    page = await text_of(datasette_history, "/changes?_size=1000")
    dates = re.findall(r'<time class="change-date" datetime="([^"]*)">', page)
    substantive = [d for d, c in zip(shown, changes) if not c["housekeeping"]]
    chores = [d for d, c in zip(shown, changes) if c["housekeeping"]]
    assert dates == substantive + chores
    assert substantive == sorted(substantive, reverse=True) and chores == sorted(chores, reverse=True)


async def test_housekeeping_is_only_names_references_and_dates(datasette_history):
    changes = (await datasette_history.client.get("/changes.json?_size=1000")).json()["changes"]
    chores = [c for c in changes if c["housekeeping"]]
    assert len(chores) == 29 and len(changes) == 78
    assert all(
        c["kind"] == "modified" and {f["field"] for f in c["fields"]} <= read.HOUSEKEEPING_FIELDS for c in chores
    )
    by_summary = {c["summary"]: c["housekeeping"] for c in changes}
    # A new description is news; a new contact, handle, reference or date alone is not.
    assert by_summary["dx-instrument on 1325/tcp: description, assignee, contact, modification_date changed"] is False
    assert by_summary["smtp on 25/tcp: reference changed"] is True
    assert not any(c["housekeeping"] for c in changes if c["kind"] != "modified")


async def test_the_changes_page_folds_housekeeping(datasette_history):
    changes = (await datasette_history.client.get("/changes.json?_size=1000")).json()["changes"]
    page = await text_of(datasette_history, "/changes?_size=1000")
    folded = re.search(r'<details class="housekeeping">(.*?)</details>', page, re.S).group(1)
    assert "<summary>29 housekeeping changes: only assignees, contacts, references or dates</summary>" in folded
    assert [int(i) for i in re.findall(r'<li id="change-(\d+)"', folded)] == [
        c["id"] for c in changes if c["housekeeping"]
    ]
    before = page[: page.index('<details class="housekeeping">')]
    assert len(re.findall(r'<li id="change-', before)) == 49


async def test_an_empty_history_says_how_to_get_one(datasette):
    page = await text_of(datasette, "/changes")
    box = re.search(r'<div class="changes-none">(.*?)</div>', page, re.S)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", box.group(1))).strip()
    assert text == (
        "No changes yet: this database holds one snapshot of the registry (of 2026-02-25), and a change is "
        "what differs between two. The next build from a newer registry records them: make refresh (what cron "
        "runs, see the README's “Keeping the data fresh”). To see history now, build from two snapshots, "
        "oldest first: .venv/bin/python -m ingest replay OLDER.csv NEWER.csv --db history.db make serve "
        "DB=history.db"
    )
    # First thing under the heading, before the filters it has nothing to filter.
    assert page.index("<h1>Registry changes</h1>") < box.start() < page.index('<form class="changes-filter"')
    assert "No recorded changes." not in page


async def test_a_filter_that_finds_nothing_says_so(datasette_history):
    page = await text_of(datasette_history, "/changes?kind=removed")
    assert '<p>No changes match these filters. <a href="/changes">Every change</a></p>' in page
    assert "No changes yet" not in page


# Service pages


def section(page: str, heading_id: str) -> str:
    return re.search(rf'<section[^>]*aria-labelledby="{heading_id}">(.*?)</section>', page, re.S).group(1)


def curated(word: str, port: int) -> tuple[set, int]:
    """From the project's CSV itself: (software listening on `port` by default, how many other
    entries mention `word` at the start of a word)."""
    own, elsewhere = set(), 0
    with open(ROOT / "curated" / "common_uses.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            low, _, high = row["port"].partition("-")
            covers = int(low) <= port <= int(high or low)
            if row["kind"] == "default" and covers:
                own.add(row["software"])
            elif re.search(rf"\b{word}", f"{row['software']} {row['description']}".lower()):
                elsewhere += 1
    return own, elsewhere


def mentions(use: dict, word: str) -> bool:
    return re.search(rf"\b{word}", f"{use['software']} {use['description']}".lower()) is not None


async def test_the_http_page_leads_with_http_and_caps_the_loose_matches(datasette):
    own, elsewhere = curated("http", 80)
    assert len(own) > 4 and elsewhere > 8
    body = (await datasette.client.get("/services/http.json")).json()
    listed = [u for u in body["common_uses"] if u["on_service_port"]]
    page = await text_of(datasette, "/services/http")
    # The service, its port and the software met there: four (those naming HTTP first) and a count.
    first = [u["software"] for u in listed[:4]]
    assert all(mentions(u, "http") for u in listed[:4])
    assert (
        '<p class="lede">IANA registers the service name http on port 80 for tcp, udp and sctp. '
        "The registry describes it as “World Wide Web HTTP”. Software known to use port 80: "
        f"{html.escape(', '.join(first[:3]))}, {html.escape(first[3])} and {len(own) - 4} more.</p>"
    ) in page
    section_own = section(page, "common-uses")
    assert '<h2 id="common-uses">Software known to use port 80</h2>' in section_own
    assert {html.unescape(s) for s in re.findall(r"<strong>(.*?)</strong>", section_own)} == own
    loose = section(page, "loose-uses")
    assert f'<h2 id="loose-uses">Other software mentioning “http” (8 of {elsewhere})</h2>' in loose
    assert len(re.findall(r"<li>", loose)) == 8
    assert (
        '<p class="loose-more"><a href="/search?q=http">The rest in search: all software mentioning “http”</a></p>'
    ) in loose
    # The service's own registry entries come before both lists.
    assert (
        page.index('<h2 id="registrations">') < page.index('<h2 id="common-uses">') < page.index('<h2 id="loose-uses">')
    )


async def test_the_search_link_keeps_its_promise(datasette):
    body = (await datasette.client.get("/services/http.json")).json()
    loose = {u["software"] for u in body["common_uses"] if not u["on_service_port"]}
    page = await text_of(datasette, "/search?q=http")
    listed = {html.unescape(s) for s in re.findall(r"<li><strong>(.*?)</strong>", section(page, "common-uses"))}
    assert loose and loose <= listed


async def test_a_service_with_few_loose_matches_lists_them_all(datasette):
    page = await text_of(datasette, "/services/ssh")
    assert page.count("Software known to use port 22: Dropbear SSH, GitLab (Linux package), Gogs and OpenSSH.</p>") == 1
    loose = section(page, "loose-uses")
    body = (await datasette.client.get("/services/ssh.json")).json()
    elsewhere = [u["software"] for u in body["common_uses"] if not u["on_service_port"]]
    assert 0 < len(elsewhere) <= 8
    assert re.findall(r"<li><strong>(.*?)</strong>", loose) == [html.escape(s) for s in elsewhere]
    assert '<h2 id="loose-uses">Other software mentioning “ssh”</h2>' in loose
    assert "loose-more" not in loose


async def test_the_software_naming_the_service_leads(datasette):
    # X.Org's X server, not the first of the web UIs that happen to sit in 6000-6063.
    body = (await datasette.client.get("/services/x11.json")).json()
    assert [u["software"] for u in body["common_uses"] if u["on_service_port"]][0] == "X.Org X Server"


async def test_service_json_marks_the_software_on_its_ports(datasette):
    own, elsewhere = curated("http", 80)
    body = (await datasette.client.get("/services/http.json")).json()
    uses = body["common_uses"]
    assert {u["software"] for u in uses if u["on_service_port"]} == own
    # Only software listening there by default counts as the service's own.
    assert {u["kind"] for u in uses if u["on_service_port"]} == {"default"}
    assert len([u for u in uses if not u["on_service_port"]]) == elsewhere
    # The software on the service's ports comes first, those naming the service before the rest.
    assert [u["on_service_port"] for u in uses] == sorted((u["on_service_port"] for u in uses), reverse=True)
    naming = [mentions(u, "http") for u in uses if u["on_service_port"]]
    assert naming == sorted(naming, reverse=True) and naming[0] and not naming[-1]
