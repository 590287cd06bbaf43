"""The real server (`make serve`'s own command line) driven by real Chromium."""

import json
import re

import pytest

import httpx

from conftest import ARTIFACTS, ROOT, live_server, serve_command


def test_make_serve_reads_its_configuration_from_the_checkout(tmp_path):
    # One configuration for `make serve`, the tests and the benchmarks: the checkout
    # is Datasette's configuration directory.
    command = serve_command(tmp_path / "my ports" / "registry.db", 8001)
    assert command[1:5] == ["serve", ".", "-i", str(tmp_path / "my ports" / "registry.db")]


@pytest.fixture(scope="module")
def server(db_2026):
    with live_server(db_2026) as base:
        yield base


def test_the_server_runs_with_settings_json(server):
    settings = httpx.get(server + "/-/settings.json").json()
    wanted = json.loads((ROOT / "settings.json").read_text())
    assert {k: settings[k] for k in wanted} == wanted


def test_lookup_box_leads_to_the_port_page(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/")
    page.screenshot(path=ARTIFACTS / "home-desktop.png", full_page=True)
    page.get_by_label("Look up a port number or service name").fill("60878")
    page.keyboard.press("Enter")
    page.wait_for_url(server + "/ports/60878")
    assert page.locator("h1").inner_text() == "Port 60878"
    range_text = page.locator("#range + p").inner_text()
    assert "Dynamic Ports" in range_text
    assert "49152" in range_text and "65535" in range_text
    page.screenshot(path=ARTIFACTS / "port-60878-desktop.png", full_page=True)
    page.close()


def test_clicking_a_map_cell_opens_that_port(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/")
    image = page.locator("#portmap")
    page.wait_for_function("document.getElementById('portmap').naturalWidth === 256")
    box = image.bounding_box()
    row, col = 17, 200
    where = {"x": (col + 0.5) * box["width"] / 256, "y": (row + 0.5) * box["height"] / 256}
    image.hover(position=where)
    assert page.locator("#portmap-hover").inner_text() == f"Port {row * 256 + col}"
    image.click(position=where)
    page.wait_for_url(server + f"/ports/{row * 256 + col}")
    assert page.locator("h1").inner_text().startswith(f"Port {row * 256 + col}")
    page.close()


PHONE_PAGES = (
    ("/", "home"), ("/ports/80", "port-80"), ("/ports/300", "port-300"), ("/ports/1008", "port-1008"),
    ("/ports/0", "port-0"), ("/ports/60878", "port-60878"), ("/services/http", "service-http"),
    ("/services/netconf-beep", "service-portless"), ("/search?q=http", "search"),
    ("/search?q=http&_next=50", "search-page-2"), ("/ports/abc", "error"), ("/lookup?q=70000", "lookup-error"),
    ("/iana/registrations?_search=kerberos", "table"), ("/iana/safe_ports?start=1024", "canned-query"),
)


def check_phone_width(base, browser, pages, prefix="", width=375):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": width, "height": 812}, device_scale_factor=2)
    for path, name in pages:
        page.goto(base + path)
        page.screenshot(path=ARTIFACTS / f"{prefix}{name}-{width}.png", full_page=True)
        # Nothing may force sideways scrolling on a phone, not even by a pixel.
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        # At 375 px the tables fit whole; their scrolling box is for narrower phones.
        if width >= 375:
            assert page.evaluate(
                "[...document.querySelectorAll('.table-wrap')].every(e => e.scrollWidth <= e.clientWidth)"), path
    return page


def test_phone_width_pages_fit(server, browser):
    page = check_phone_width(server, browser, PHONE_PAGES)
    page.goto(server + "/")
    page.wait_for_function("document.getElementById('portmap').naturalWidth === 256")
    # The map is drawn at 3 px a port and scrolls sideways inside its own frame.
    frame = page.locator(".portmap-scroll").bounding_box()
    image = page.locator("#portmap").bounding_box()
    assert 300 <= frame["width"] <= 375
    assert (image["width"], image["height"]) == (768, 768)
    assert page.locator(".portmap-scroll").evaluate("e => getComputedStyle(e).overflowX") == "auto"
    page.close()
    narrow = (("/", "home"), ("/ports/60878", "port-60878"), ("/ports/80", "port-80"))
    check_phone_width(server, browser, narrow, width=320).close()


@pytest.fixture(scope="module")
def history_server(history_db):
    """`make serve` on a database that replayed two snapshots, so pages show history."""
    with live_server(history_db) as base:
        yield base


def test_phone_width_pages_with_history_fit(history_server, browser):
    # Port 300 was a 1-px overflow with its history table (tacacss, assigned 2025-07-15).
    pages = (("/ports/300", "port-300"), ("/ports/1980", "port-1980"), ("/services/panquest-xact", "service-renamed"),
             ("/services/pearldoc-xact", "service-old-name"))
    check_phone_width(history_server, browser, pages, prefix="history-").close()


def test_tapping_the_map_marks_a_port_and_links_to_it(server, browser):
    context = browser.new_context(viewport={"width": 375, "height": 812}, has_touch=True, is_mobile=True,
                                  device_scale_factor=2)
    page = context.new_page()
    page.goto(server + "/")
    page.wait_for_function("document.getElementById('portmap').naturalWidth === 256")
    image = page.locator("#portmap")
    marker = page.locator("#portmap-marker")
    assert marker.is_hidden()
    for row, col, scroll in ((17, 60, 0), (200, 230, 400)):
        page.locator(".portmap-scroll").evaluate(f"e => {{ e.scrollLeft = {scroll}; }}")
        image.tap(position={"x": (col + 0.5) * 3, "y": (row + 0.5) * 3})
        port = row * 256 + col
        # A tap stays on the home page: it names the port and offers a link.
        assert page.url == server + "/"
        assert page.locator("#portmap-hover").inner_text() == f"Tapped port {port}: Open port {port}"
        box, cell = marker.bounding_box(), image.bounding_box()
        assert (box["x"] - cell["x"], box["y"] - cell["y"], box["width"]) == (col * 3, row * 3, 3)
        # The link is on screen beside the tapped cell, not 700 px further down.
        line = page.locator("#portmap-hover").bounding_box()
        assert 0 <= line["y"] and line["y"] + line["height"] <= 812
    page.get_by_role("link", name=f"Open port {port}").click()
    page.wait_for_url(server + f"/ports/{port}")
    assert page.locator("h1").inner_text().startswith(f"Port {port}")
    context.close()


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
