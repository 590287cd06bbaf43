"""URLs no route matches are 404s, as HTML or JSON, never 500s."""

import pytest


@pytest.mark.parametrize("path", ["/a/b/c/d/e", "/ports//0", "/services", "/iana/ports/1/2/3/4", "/-/nothing/here"])
async def test_unrouted_paths_are_404_pages(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Error 404</h1>" in response.text
    assert '<a class="site-name" href="/">IANA ports</a>' in response.text


async def test_unrouted_json_is_a_json_404(datasette):
    response = await datasette.client.get("/a/b/c/d/e.json")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": "404", "status": 404, "title": None}
    assert response.headers["access-control-allow-origin"] == "*"


async def test_datasette_errors_keep_their_messages(datasette):
    response = await datasette.client.get("/iana/ports/99999999.json")
    assert response.status_code == 404
    assert response.json()["error"] == "Record not found"
    response = await datasette.client.get("/iana.json?sql=select+nosuch")
    assert response.status_code == 400
    assert response.json()["error"] == "no such column: nosuch"
