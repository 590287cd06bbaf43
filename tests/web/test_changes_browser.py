"""/changes and the history sections in real Chromium at phone width."""

import pytest
from deploy.harness import live_server
from helpers import ARTIFACTS

PHONE = {"width": 375, "height": 800}


@pytest.fixture(scope="module")
def server(history_db):
    with live_server(history_db) as base:
        yield base


def boxes(page, selectors):
    return [page.locator(s).bounding_box() for s in selectors]


def check_badge(page):
    """The kind shows as a coloured badge, as statuses do elsewhere."""
    badge = page.locator("li.change .change-kind").first
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") not in ("rgba(0, 0, 0, 0)", "transparent")
    assert badge.evaluate("e => getComputedStyle(e).borderRadius") != "0px"


@pytest.mark.parametrize(
    "path,shot",
    [("/changes", "changes-375.png"), ("/changes?kind=renamed", "changes-renamed-375.png")],
)
def test_changes_page_has_no_sideways_scroll_at_phone_width(server, browser, path, shot):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport=PHONE)
    page.goto(server + path)
    assert page.locator("li.change").count() > 0
    page.screenshot(path=ARTIFACTS / shot, full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    check_badge(page)
    page.close()


# Whatever the rest of these pages does, their history section fits the phone.
HISTORY_RIGHT = """
Math.max(...[...document.querySelectorAll('#history ~ ol.changes, #history ~ ol.changes *')]
  .map(e => e.getBoundingClientRect().right))
"""


@pytest.mark.parametrize(
    "path,shot",
    [
        ("/ports/300", "port-300-history-375.png"),
        ("/services/netconf-beep", "service-netconf-beep-history-375.png"),
    ],
)
def test_history_sections_fit_at_phone_width(server, browser, path, shot):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport=PHONE)
    page.goto(server + path)
    assert page.locator("#history ~ ol.changes li.change").count() > 0
    page.locator("#history").scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / shot, full_page=True)
    assert 0 < page.evaluate(HISTORY_RIGHT) <= PHONE["width"]
    check_badge(page)
    page.close()


@pytest.mark.parametrize("width", [320, 375, 1280])
def test_field_tables_fit_the_screen_without_a_scroller(server, browser, width):
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(server + "/changes?kind=released")
    tables = page.locator("table.change-fields")
    assert tables.count() > 0
    for i in range(tables.count()):
        box = tables.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
        assert tables.nth(i).evaluate("t => t.scrollWidth <= t.clientWidth + 1")
    page.close()


def test_field_tables_reflow_on_phones_with_the_column_names(server, browser):
    """Below 30em a field's row is a small card: its name, then Before and After, each labelled."""
    page = browser.new_page(viewport={"width": 320, "height": 800})
    page.goto(server + "/changes?kind=renamed&port=1980")
    row = page.locator("table.change-fields tbody tr").first
    cells = row.locator("th, td")
    assert [cells.nth(i).evaluate("e => getComputedStyle(e).display") for i in range(3)] == ["block"] * 3
    assert [cells.nth(i).evaluate("e => getComputedStyle(e, '::before').content") for i in (1, 2)] == [
        '"Before"',
        '"After"',
    ]
    header = page.locator("table.change-fields thead").first.bounding_box()
    assert (header["width"], header["height"]) == (1, 1)
    page.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_filter_labels_sit_above_their_controls_without_overlap(server, browser, width):
    page = browser.new_page(viewport={"width": width, "height": 800})
    page.goto(server + "/changes?kind=renamed&port=1980")
    controls = boxes(page, ["#changes-kind", "#changes-port", "#changes-service"])
    for name, control in zip(("Kind", "Port", "Service"), controls):
        label = page.get_by_text(name, exact=True).bounding_box()
        assert label["y"] + label["height"] <= control["y"] + 1, name
        assert abs(label["x"] - control["x"]) <= 1, name
    for a, b in zip(controls, controls[1:]):
        apart_x = a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
        apart_y = a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"]
        assert apart_x or apart_y
    assert page.locator("#changes-kind").input_value() == "renamed"
    page.screenshot(path=ARTIFACTS / f"changes-filter-{width}.png")
    page.close()
