"""The real server (`make serve`'s own command line) driven by real Chromium."""

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, SETTINGS, live_server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"


def serve_command(db: Path, port: int) -> list[str]:
    """The datasette command `make serve` runs (live_server runs it), from make's dry run."""
    out = subprocess.run(
        ["make", "-n", "-s", "serve", f"DB={db}", "HOST=127.0.0.1", f"PORT={port}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout
    line = next(part for part in out.replace("\\\n", " ").splitlines() if "datasette serve" in part)
    return shlex.split(line)


def test_make_serve_flags_match_the_test_settings(tmp_path):
    command = serve_command(tmp_path / "iana.db", 8001)
    pairs = [command[i + 1 : i + 3] for i, arg in enumerate(command) if arg == "--setting"]
    spelled = {k: {False: "off", True: "on"}.get(v, str(v)) for k, v in SETTINGS.items()}
    assert dict(pairs) == spelled
    assert command[command.index("-i") + 1] == str(tmp_path / "iana.db")
    assert "--cors" in command


@pytest.fixture(scope="module")
def server(db_2026):
    with live_server(db_2026) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: install Debian's chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


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
    image.click(position={"x": (col + 0.5) * box["width"] / 256, "y": (row + 0.5) * box["height"] / 256})
    page.wait_for_url(server + f"/ports/{row * 256 + col}")
    assert page.locator("h1").inner_text().startswith(f"Port {row * 256 + col}")
    page.close()


def test_phone_width_pages_fit(server, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 375, "height": 812}, device_scale_factor=2)
    pages = (
        ("/", "home"), ("/ports/80", "port-80"), ("/services/http", "service-http"),
        ("/search?q=http", "search"), ("/ports/abc", "error"),
        ("/iana/registrations?_search=kerberos", "table"), ("/iana/safe_ports?start=1024", "canned-query"),
    )
    for path, name in pages:
        page.goto(server + path)
        page.screenshot(path=ARTIFACTS / f"{name}-375.png", full_page=True)
        # Nothing may force sideways scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, path
    page.goto(server + "/")
    box = page.locator("#portmap").bounding_box()
    assert 300 <= box["width"] <= 375
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
