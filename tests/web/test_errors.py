"""URLs no route matches are the site's own 404 page (with the lookup box), as HTML or JSON, never 500s."""

import pytest

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
