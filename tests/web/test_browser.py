"""The real server (`make serve`'s own command line) driven by real Chromium (Debian's), checked
with real axe-core (from the npm registry, pinned in package-lock.json, installed by `make test`).

At 320, 375 and 1280 px, light and dark: no page scrolls sideways, every table of the site's
own pages fits the screen without a scroller and breaks no word, axe finds nothing serious or
critical on the site's own pages and nothing critical on the Datasette pages the site serves.
Screenshots of every page at every width go to test-artifacts/.
"""

import json
import re

import httpx
import pytest

from deploy.harness import live_server, serve_command
from helpers import ARTIFACTS, ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"

# The site's own pages: home, a System, a User and a Dynamic port, a service, search, changes, the map, a 404.
SITE_PAGES = (
    ("/", "home"),
    ("/ports/22", "port-22-system"),
    ("/ports/8080", "port-8080-user"),
    ("/ports/60878", "port-60878-dynamic"),
    ("/ports/300", "port-300-history"),
    ("/services/ssh", "service-ssh"),
    ("/services/netconf-beep", "service-portless"),
    ("/search?q=http", "search"),
    ("/changes", "changes"),
    ("/changes?kind=released", "changes-released"),
    ("/map", "map"),
    ("/free?near=8000", "free"),
    ("/nope", "not-found"),
)
# Datasette's pages, served through the project's templates.
DATASETTE_PAGES = (
    ("/iana", "database"),
    ("/iana/ports?status=assigned", "table-filtered"),
    ("/iana/registrations?_search=kerberos", "table-search"),
    ("/iana/ports/1491", "row"),
    ("/iana/port_lookup?port=22", "canned-query"),
    ("/iana?sql=select+port%2C+services+from+ports+limit+5", "sql-query"),
)
VIEWS = ((320, "light"), (375, "light"), (1280, "light"), (375, "dark"), (1280, "dark"))


def test_make_serve_runs_the_installed_command(tmp_path):
    # One configuration for `make serve`, the tests and the benchmarks: the package's own
    # (iana-ports serve), whatever the folder and name of the database.
    command = serve_command(tmp_path / "my ports" / "registry.db", 8001)
    assert command[0].endswith("/iana-ports")
    assert command[1:4] == ["serve", "--db", str(tmp_path / "my ports" / "registry.db")]


@pytest.fixture(scope="module")
def server(history_db):
    """`make serve` on a database that replayed two snapshots: today's registry, with history."""
    with live_server(history_db) as base:
        yield base


@pytest.fixture(scope="module")
def axe_source() -> str:
    # Installed by `make test` (npm ci from package-lock.json); missing is a failure, never a skip.
    assert AXE.is_file(), f"{AXE} is missing: run `npm ci` (make test does) to install axe-core"
    lock = json.loads((ROOT / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/axe-core"]["version"]
    installed = json.loads((AXE.parent / "package.json").read_text())["version"]
    assert installed == pinned, f"axe-core {installed} installed, {pinned} pinned: run `npm ci`"
    return AXE.read_text()


def test_the_settings_are_the_checkouts(server):
    settings = httpx.get(server + "/-/settings.json").json()
    wanted = json.loads((ROOT / "settings.json").read_text())
    assert {k: settings[k] for k in wanted} == wanted


def axe(page, axe_source) -> dict:
    """{impact: [rule id: nodes, ...]} of axe-core's violations on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    found = {}
    for v in result["violations"]:
        found.setdefault(v["impact"], []).append(f"{v['id']}: {[n['target'] for n in v['nodes']]}")
    return found


# Tables that are wider than the screen, or sit in a box that scrolls sideways.
TABLES_OFF_SCREEN = """() => [...document.querySelectorAll('main table')].filter(t => {
  if (t.getBoundingClientRect().right > window.innerWidth + 0.5) return true;
  for (let e = t; e && e !== document.body; e = e.parentElement) {
    const s = getComputedStyle(e).overflowX;
    if ((s === 'auto' || s === 'scroll') && e.scrollWidth > e.clientWidth) return true;
  }
  return false;
}).map(t => t.className || t.outerHTML.slice(0, 60))"""

# Words (up to 20 characters: longer tokens such as URLs may have to break) split across lines.
BROKEN_WORDS = """() => {
  const broken = [];
  for (const cell of document.querySelectorAll('main table th, main table td')) {
    // A header row kept only for screen readers (in a 1 px clipped box) is not read on screen.
    let hidden = false;
    for (let e = cell; e && !hidden; e = e.parentElement) hidden = e.getBoundingClientRect().width <= 1;
    if (hidden) continue;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.textContent.matchAll(/\\S+/g)) {
        if (m[0].length > 20) continue;
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}"""


def visit(page, base, path, name, width, scheme):
    response = page.goto(base + path)
    assert response.status == (404 if name == "not-found" else 200), path
    page.wait_for_load_state("load")
    page.screenshot(path=ARTIFACTS / f"{name}-{width}-{scheme}.png", full_page=True)


@pytest.mark.parametrize("width,scheme", VIEWS)
def test_site_pages_fit_and_pass_axe(server, browser, axe_source, width, scheme):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme)
    page = context.new_page()
    problems = []
    for path, name in SITE_PAGES:
        visit(page, server, path, name, width, scheme)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            problems.append(f"{path}: the page is {scroll} px wide")
        if off := page.evaluate(TABLES_OFF_SCREEN):
            problems.append(f"{path}: tables wider than the screen or in a scroller: {off}")
        if broken := page.evaluate(BROKEN_WORDS):
            problems.append(f"{path}: words broken across lines in tables: {broken}")
        found = axe(page, axe_source)
        for impact in ("critical", "serious"):
            if impact in found:
                problems.append(f"{path}: axe {impact}: {found[impact]}")
    context.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("width,scheme", VIEWS)
def test_datasette_pages_fit_and_have_no_critical_axe_issues(server, browser, axe_source, width, scheme):
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme)
    page = context.new_page()
    problems = []
    for path, name in DATASETTE_PAGES:
        visit(page, server, path, name, width, scheme)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            problems.append(f"{path}: the page is {scroll} px wide")
        found = axe(page, axe_source)
        if "critical" in found:
            problems.append(f"{path}: axe critical: {found['critical']}")
    context.close()
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("path", ["/ports/22", "/iana/ports?status=assigned"])
def test_dark_mode_follows_the_system(server, browser, path):
    colours = {}
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
        page = context.new_page()
        page.goto(server + path)
        colours[scheme] = page.evaluate(
            "[getComputedStyle(document.body).backgroundColor, getComputedStyle(document.body).color,"
            " getComputedStyle(document.querySelector('main a')).color]"
        )
        context.close()
    assert colours == {
        "light": ["rgb(247, 249, 251)", "rgb(29, 39, 51)", "rgb(31, 95, 168)"],
        "dark": ["rgb(18, 23, 29)", "rgb(227, 232, 238)", "rgb(140, 188, 242)"],
    }


def test_lookup_box_leads_to_the_port_page(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/")
    page.get_by_label("Look up a port number or service name").fill("60878")
    page.keyboard.press("Enter")
    page.wait_for_url(server + "/ports/60878")
    assert page.locator("h1").inner_text() == "Port 60878"
    assert page.locator("nav.crumbs li").all_inner_texts() == ["Ports", "Dynamic Ports", "60878"]
    assert page.locator("nav.crumbs li:nth-child(2)").evaluate("e => getComputedStyle(e, '::before').content") == '"›"'
    assert page.locator(".range-line.current").inner_text().startswith("49152–65535 Dynamic Ports (this port):")
    page.close()


def test_the_404_page_offers_the_lookup_box(server, browser):
    page = browser.new_page(viewport={"width": 375, "height": 800})
    assert page.goto(server + "/nope").status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    page.get_by_label("Look up a port number or service name").fill("ssh")
    page.keyboard.press("Enter")
    page.wait_for_url(server + "/services/ssh")
    page.close()


# The home page's overview map


def wait_for_map(page, image_id):
    page.wait_for_function(f"document.getElementById('{image_id}').naturalWidth === 256")


def test_clicking_a_cell_of_the_overview_map_opens_that_port(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/")
    wait_for_map(page, "portmap")
    image = page.locator("#portmap")
    box = image.bounding_box()
    row, col = 17, 200
    where = {"x": (col + 0.5) * box["width"] / 256, "y": (row + 0.5) * box["height"] / 256}
    image.hover(position=where)
    assert page.locator("#portmap-hover").inner_text() == f"Port {row * 256 + col}"
    image.click(position=where)
    page.wait_for_url(server + f"/ports/{row * 256 + col}")
    page.close()


@pytest.mark.parametrize("width", [320, 375])
def test_tapping_the_overview_map_offers_the_port_right_below_it(server, browser, width):
    context = browser.new_context(
        viewport={"width": width, "height": 800}, has_touch=True, is_mobile=True, device_scale_factor=2
    )
    page = context.new_page()
    page.goto(server + "/")
    wait_for_map(page, "portmap")
    image = page.locator("#portmap")
    # The whole map fits the phone: no scroller to reach it.
    box = image.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    row, col = 200, 100
    image.tap(position={"x": (col + 0.5) * box["width"] / 256, "y": (row + 0.5) * box["height"] / 256})
    port = row * 256 + col
    assert page.url == server + "/"
    line = page.locator("#portmap-hover")
    assert line.inner_text() == f"Tapped port {port}: Open port {port} · See it on the large map"
    # Next to the map: right below it, and on screen.
    under, box = line.bounding_box(), image.bounding_box()
    assert 0 <= under["y"] - (box["y"] + box["height"]) <= 16
    assert under["y"] + under["height"] <= 800
    page.screenshot(path=ARTIFACTS / f"home-tapped-{width}.png")
    page.get_by_role("link", name=f"Open port {port}").click()
    page.wait_for_url(server + f"/ports/{port}")
    context.close()


# The map page


def map_info(page) -> list[str]:
    """The map's answer: heading, sentence, then each transport and its status, then the link."""
    panel = page.locator(".map-info")
    return [
        panel.locator("h2").inner_text(),
        panel.locator("p").first.inner_text(),
        *panel.locator("dt, dd").all_inner_texts(),
        panel.locator("a").inner_text(),
    ]


PORT_22_INFO = [
    "Port 22",
    "Port 22 is assigned (System Ports).",
    "tcp",
    "assigned: ssh",
    "udp",
    "assigned: ssh",
    "sctp",
    "assigned: ssh",
    "dccp",
    "unassigned",
    "Open port 22",
]


def test_pointing_at_the_map_shows_the_port_its_statuses_and_services(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/map")
    wait_for_map(page, "bigmap")
    image = page.locator("#bigmap")
    box = image.bounding_box()
    # 256 ports a line at 3 px each: a readable map, with every 16th line numbered.
    assert (box["width"], box["height"]) == (768, 768)
    assert page.locator(".map-labels span:not(.minor)").all_inner_texts() == [str(n * 4096) for n in range(16)]
    image.hover(position={"x": 22 * 3 + 1.5, "y": 1.5})
    page.wait_for_function("document.querySelector('#map-info dl') !== null")
    assert map_info(page) == PORT_22_INFO
    image.hover(position={"x": 0 * 3 + 1.5, "y": 191 * 3 + 1.5})
    page.wait_for_function("document.getElementById('map-info-heading').textContent === 'Port 48896'")
    page.wait_for_function("document.querySelector('#map-info dl') !== null")
    assert map_info(page)[1].startswith("Port 48896 is ")
    image.click(position={"x": 22 * 3 + 1.5, "y": 1.5})
    page.wait_for_url(server + "/ports/22")
    page.screenshot(path=ARTIFACTS / "map-clicked-1280.png")
    page.close()


def test_the_map_zooms(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/map")
    wait_for_map(page, "bigmap")
    image = page.locator("#bigmap")
    page.get_by_role("button", name="Zoom in").click()
    assert image.bounding_box()["width"] == 1024
    assert page.locator("#map-zoom-level").inner_text() == "4 px per port"
    page.locator("#map-frame").focus()
    for _ in range(4):
        page.keyboard.press("+")
    assert image.bounding_box()["width"] == 256 * 16
    # Zoomed in, every line carries its number.
    assert page.locator(".map-labels span.minor").first.is_visible()
    page.get_by_role("button", name="Zoom out").click()
    assert image.bounding_box()["width"] == 256 * 12
    page.screenshot(path=ARTIFACTS / "map-zoomed-1280.png")
    page.close()


@pytest.mark.parametrize("width", [320, 1280])
def test_the_map_works_from_the_keyboard(server, browser, width):
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(server + "/map")
    wait_for_map(page, "bigmap")
    # Tab reaches the map (also the scrolling box it is at 320 px) and focus selects port 0.
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "map-frame":
            break
    assert page.evaluate("document.activeElement.id") == "map-frame"
    for key in ("ArrowRight", "ArrowRight", "ArrowDown", "End", "PageDown", "Home", "ArrowUp", "ArrowLeft"):
        page.keyboard.press(key)
    # 0 -> 2 -> 258 -> 511 -> 4607 -> 4352 -> 4096 -> 4095
    page.wait_for_function("document.getElementById('map-info-heading').textContent === 'Port 4095'")
    marker = page.locator("#map-marker").bounding_box()
    frame = page.locator("#map-frame").bounding_box()
    assert frame["x"] <= marker["x"] and marker["x"] + marker["width"] <= frame["x"] + frame["width"]
    assert frame["y"] <= marker["y"] and marker["y"] + marker["height"] <= frame["y"] + frame["height"]
    page.keyboard.press("Enter")
    page.wait_for_url(server + "/ports/4095")
    page.close()


@pytest.mark.parametrize("width", [320, 375])
def test_tapping_the_map_shows_the_port_beside_it_with_a_link(server, browser, width):
    context = browser.new_context(
        viewport={"width": width, "height": 800}, has_touch=True, is_mobile=True, device_scale_factor=2
    )
    page = context.new_page()
    page.goto(server + "/map")
    wait_for_map(page, "bigmap")
    page.get_by_role("button", name="Zoom in").tap()
    image = page.locator("#bigmap")
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    assert box["width"] == 512  # 2 px a port
    image.tap(position={"x": 22 * 2 + 1, "y": 1})
    page.wait_for_function("document.querySelector('#map-info dl') !== null")
    assert page.url == server + "/map"
    assert map_info(page) == PORT_22_INFO
    # The answer is next to the map, on the same screen.
    frame = page.locator("#map-frame").bounding_box()
    info = page.locator(".map-info").bounding_box()
    assert 0 <= info["y"] - (frame["y"] + frame["height"]) <= 24
    page.locator(".map-info").scroll_into_view_if_needed()
    link = page.get_by_role("link", name="Open port 22")
    link_box = link.bounding_box()
    assert 0 <= link_box["y"] and link_box["y"] + link_box["height"] <= 800
    page.screenshot(path=ARTIFACTS / f"map-tapped-{width}.png")
    link.tap()
    page.wait_for_url(server + "/ports/22")
    context.close()


def test_the_map_opens_at_a_port(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/map?port=49152")
    page.wait_for_function("document.querySelector('#map-info dl') !== null")
    assert map_info(page) == [
        "Port 49152",
        "Port 49152 is unassigned (Dynamic Ports).",
        "tcp",
        "unassigned",
        "udp",
        "unassigned",
        "sctp",
        "unassigned",
        "dccp",
        "unassigned",
        "Open port 49152",
    ]
    page.get_by_label("Go to port").fill("443")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('map-info-heading').textContent === 'Port 443'")
    assert page.url == server + "/map?port=49152"
    page.close()


# Search and lookup


def test_lookup_box_takes_port_slash_transport(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/")
    page.get_by_label("Look up a port number or service name").fill(" 22/tcp ")
    page.keyboard.press("Enter")
    page.wait_for_url(server + "/ports/22")
    page.goto(server + "/")
    page.get_by_label("Look up a port number or service name").fill("70000")
    page.keyboard.press("Enter")
    page.wait_for_url(server + "/lookup?q=70000")
    message = page.locator(".error-message").inner_text()
    assert message == "Not a port number: 70000. Ports are whole numbers from 0 to 65535."
    page.close()


def test_search_page_highlights_matches(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/search")
    page.get_by_label("Words in service names, descriptions or notes").fill("kerberos")
    page.get_by_label("Transport").select_option("udp")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r".*/search\?q=kerberos&transport=udp$"))
    marks = page.locator("ol.results mark").all_inner_texts()
    assert marks and all(m.lower() == "kerberos" for m in marks)
    transports = page.locator("ol.results h2").all_inner_texts()
    assert transports and all(t.endswith("· udp") for t in transports)
    page.close()


def test_the_firewall_lines_copy_with_their_button(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    try:
        page.goto(server + "/ports/8080")
        button = page.get_by_role("button", name="Copy the lines for firewalld (Fedora, RHEL, openSUSE)")
        button.click()
        page.get_by_role("status").filter(has_text="Copied.").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == (
            "firewall-cmd --permanent --add-port=8080/tcp\n"
            "firewall-cmd --permanent --add-port=8080/udp\n"
            "firewall-cmd --reload"
        )
        assert page.get_by_role("button", name=re.compile("^Copy the lines for ")).count() == 5
    finally:
        context.close()
