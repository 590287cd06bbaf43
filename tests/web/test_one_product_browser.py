"""Issue 19's "one product" in real Chromium (Debian's) on `make serve`: Datasette's titles
without their coloured bar, the ports table's verdict in view at 1280 px, the port map dark in
dark mode, housekeeping folded on /changes, and no axe-core violation at all (any impact) on
the pages this changed, at 375 and 1280 px, light and dark. Screenshots go to test-artifacts/."""

import json

import pytest
from deploy.harness import live_server
from helpers import ARTIFACTS, ROOT

from iana_ports.web import portmap

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VIEWS = ((375, "light"), (1280, "light"), (375, "dark"), (1280, "dark"))
# The pages this work changed, on a database with history (and /changes on one without).
PAGES = (
    ("/iana", "ds-database"),
    ("/iana/ports", "ds-ports"),
    ("/iana/ports/22", "ds-row"),
    ("/iana/safe_ports?start=8000", "ds-free-ports-query"),
    ("/iana?sql=select+port%2C+verdict+from+ports+limit+5", "ds-sql"),
    ("/changes", "changes-history"),
    ("/services/http", "service-http"),
    ("/", "home-map"),
    ("/map", "map"),
)


@pytest.fixture(scope="module")
def server(history_db):
    with live_server(history_db) as base:
        yield base


@pytest.fixture(scope="module")
def server_one_ingest(db_2026):
    with live_server(db_2026) as base:
        yield base


@pytest.fixture(scope="module")
def axe_source() -> str:
    assert AXE.is_file(), f"{AXE} is missing: run `npm ci` (make test does) to install axe-core"
    return AXE.read_text()


def violations(page, axe_source) -> list[str]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['impact']} {v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in result["violations"]]


@pytest.mark.parametrize("width,scheme", VIEWS)
def test_changed_pages_have_no_axe_violations(server, server_one_ingest, browser, axe_source, width, scheme):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    problems = []
    for base, path, name in [(server, p, n) for p, n in PAGES] + [(server_one_ingest, "/changes", "changes-empty")]:
        assert page.goto(base + path).status == 200, path
        page.wait_for_load_state("load")
        page.screenshot(path=ARTIFACTS / f"{name}-{width}-{scheme}.png")
        if page.evaluate("document.documentElement.scrollWidth") > width:
            problems.append(f"{path}: wider than {width} px")
        problems += [f"{path}: {v}" for v in violations(page, axe_source)]
    context.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("path", ["/iana", "/iana/ports", "/iana/ports/22", "/iana/port_lookup?port=22"])
def test_datasette_titles_have_no_coloured_bar(server, browser, path):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + path)
    h1 = page.locator("h1")
    assert h1.count() == 1
    # Neither the heading nor the box around it (Datasette's .page-header) draws a bar.
    bars = h1.evaluate("""h => [h, h.parentElement].map(e => {
        const s = getComputedStyle(e); return [s.borderLeftWidth, s.paddingLeft]; })""")
    assert bars == [["0px", "0px"], ["0px", "0px"]]
    # The site's heading size, as on its own pages (1.8rem).
    assert h1.evaluate("h => getComputedStyle(h).fontSize") == "28.8px"
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_ports_verdict_is_in_view_at_1280(server, browser, scheme):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    page.goto(server + "/iana/ports")
    wrapper = page.locator(".table-wrapper")
    # The table is wider than its box: without the sticky column the verdict is off the right edge.
    assert wrapper.evaluate("w => w.scrollWidth > w.clientWidth + 100")
    cell = page.locator("td.col-verdict").first
    cell.scroll_into_view_if_needed()
    box, frame = cell.bounding_box(), wrapper.bounding_box()
    assert frame["x"] <= box["x"] and box["x"] + box["width"] <= min(frame["x"] + frame["width"], 1280) + 0.5
    # Nothing covers it: the point at its centre is the cell itself, and it reads a verdict.
    assert cell.evaluate("""c => { const r = c.getBoundingClientRect();
        return document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2) === c; }""")
    assert cell.inner_text() == "avoid"  # port 0
    header = page.locator("th.col-verdict")
    assert header.bounding_box()["x"] + header.bounding_box()["width"] <= 1280
    page.screenshot(path=ARTIFACTS / f"ds-ports-verdict-1280-{scheme}.png")
    context.close()


@pytest.mark.parametrize("path,image", [("/", "#portmap"), ("/map", "#bigmap")])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_port_map_follows_the_colour_scheme(server, browser, path, image, scheme):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    page.goto(server + path)
    page.wait_for_function(f"document.querySelector('{image}').complete")
    source = page.locator(image).evaluate("i => new URL(i.currentSrc).pathname")
    assert source == ("/portmap-dark.png" if scheme == "dark" else "/portmap.png")
    # The legend's swatches show the image's own colours.
    swatches = page.evaluate("""() => ['assigned', 'reserved', 'unassigned', 'dynamic'].map(s =>
        getComputedStyle(document.querySelector('.swatch-' + s)).backgroundColor)""")
    assert swatches == ["rgb(%d, %d, %d)" % rgb for rgb in portmap.PALETTES[scheme]]
    # Pixel (0, 0) is port 0 (reserved), drawn in the scheme's colour.
    drawn = page.locator(image).evaluate("""i => { const c = document.createElement('canvas');
        c.width = 256; c.height = 256; const g = c.getContext('2d'); g.drawImage(i, 0, 0);
        return Array.from(g.getImageData(0, 0, 1, 1).data.slice(0, 3)); }""")
    assert tuple(drawn) == portmap.PALETTES[scheme][portmap.INDEX["reserved"]]
    context.close()


def test_housekeeping_is_folded_until_asked_for(server, browser):
    page = browser.new_page(viewport={"width": 375, "height": 800})
    page.goto(server + "/changes")
    folded = page.locator("details.housekeeping")
    assert folded.count() == 1 and folded.evaluate("d => d.open") is False
    chore = folded.locator("li.change").first
    assert not chore.is_visible()
    folded.locator("summary").click()
    assert chore.is_visible()
    page.close()


def test_an_empty_history_leads_with_how_to_get_one(server_one_ingest, browser):
    page = browser.new_page(viewport={"width": 375, "height": 800})
    page.goto(server_one_ingest + "/changes")
    box = page.locator(".changes-none")
    assert box.count() == 1
    # On the first screen of a phone.
    top = box.bounding_box()["y"]
    assert top < 800
    assert box.inner_text().startswith("No changes yet: this database holds one snapshot of the registry")
    assert json.loads(page.evaluate("JSON.stringify(document.querySelectorAll('li.change').length)")) == 0
    page.close()
