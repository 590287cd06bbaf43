"""URLs no route matches are the site's own 404 page (with the lookup box), as HTML or JSON, never 500s."""

import errno

import pytest

from iana_ports.web.pages import BROKEN

NO_PAGE = "There is no page at this address."
SITE_NAME = ('<a class="site-name" href="/"><img class="site-icon" src="/icon.svg" alt="" width="24" height="24">'
             "IANA ports</a>")
LOOKUP = '<form class="lookup" action="/lookup" method="get" role="search">'


@pytest.mark.parametrize(
    "path", ["/nope", "/a/b/c/d/e", "/ports//0", "/services", "/iana/ports/1/2/3/4", "/-/nothing/here"]
)
async def test_unrouted_paths_are_the_sites_404_page(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<title>Page not found · IANA ports</title>" in page
    assert "<h1>Page not found</h1>" in page
    assert f'<p class="error-message">{NO_PAGE}</p>' in page
    assert SITE_NAME in page
    assert LOOKUP in page
    assert '<meta name="robots" content="noindex">' in page
    assert ('<p class="error-next">Or start from the <a href="/">home page</a>, the <a href="/map">port map</a> '
            'or a <a href="/search">search of the registry</a>.</p>') in page
    # Datasette's words for a path it cannot route mean nothing to a visitor.
    assert "Database not found" not in page


@pytest.mark.parametrize("path", ["/nope.json", "/a/b/c/d/e.json"])
async def test_unrouted_json_is_a_json_404(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": NO_PAGE, "status": 404, "title": None}
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("path", ["/99999", "/0443", "/65536"])
async def test_a_number_that_is_no_port_is_a_404(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in response.text
    assert ('<p class="error-message">There is no page at this address: ports are numbers from 0 to 65535.</p>'
            in response.text)
    assert LOOKUP in response.text


async def test_datasette_errors_keep_their_messages(datasette):
    response = await datasette.client.get("/iana/ports/99999999.json")
    assert response.status_code == 404
    assert response.json()["error"] == "Record not found"
    response = await datasette.client.get("/iana/nosuch")
    assert response.status_code == 404
    assert '<p class="error-message">Table not found</p>' in response.text
    assert "<h1>Page not found</h1>" in response.text
    response = await datasette.client.get("/iana.json?sql=select+nosuch")
    assert response.status_code == 400
    assert response.json()["error"] == "no such column: nosuch"


def failure(fn):
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


def test_the_status_of_an_exception_on_datasettes_pages():
    from iana_ports.web import datasette_pages, render

    port_link = render.link_filters(lambda path: path)["port_link"]
    unreadable = (400, "Bad request: a parameter of this URL cannot be read.")
    assert datasette_pages.error_status(failure(lambda: int("x"))) == unreadable
    # The same kind of exception raised in the project's own code is a bug, and says nothing of itself.
    assert datasette_pages.error_status(failure(lambda: port_link("x"))) == (500, BROKEN)
    assert datasette_pages.error_status(RuntimeError("/srv/secret")) == (500, BROKEN)
    assert datasette_pages.error_status(OSError(errno.ENAMETOOLONG, "File name too long")) == (404, "Not found")
    assert datasette_pages.error_status(OSError(errno.EMFILE, "Too many open files")) == (500, BROKEN)


async def test_a_query_over_the_time_limit_says_so_in_plain_words(datasette):
    endless = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"
    response = await datasette.client.get("/iana.json", params={"sql": endless, "_timelimit": "20"})
    assert response.status_code == 400
    assert response.json() == {
        "ok": False, "error": "The SQL query took too long and was stopped; ask for less.", "status": 400,
        "title": None,
    }
    page = await datasette.client.get("/iana", params={"sql": endless, "_timelimit": "20"})
    assert page.status_code == 400
    assert '<p class="error-message">The SQL query took too long and was stopped; ask for less.</p>' in page.text
    assert "&lt;textarea" not in page.text


async def test_datasettes_bad_request_keeps_its_status_and_words(datasette):
    response = await datasette.client.get("/iana/registrations.json?_size=x")
    assert (response.status_code, response.json()) == (
        400, {"ok": False, "error": "_size must be a positive integer", "status": 400, "title": None},
    )
