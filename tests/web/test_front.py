"""iana_ports/web/front.py: the one request wrapper, through a real Datasette.

Guards (open redirects, methods, long URLs), CORS, the anonymous site, caching
headers by status, conditional requests, and the answer when no build is served.
"""

import shutil
import sqlite3

import pytest

from helpers import make_datasette
from iana_ports.web import builds, finish

# What every answer from the build carries (finish.CACHE_BUILD).
BUILD_CACHE = "public, max-age=300, stale-while-revalidate=86400"


@pytest.mark.parametrize(
    "location, leaves",
    [
        ("/iana", False),
        ("/search?q=a:b//c", False),
        ("http://localhost/iana", False),
        ("//example.com", True),
        ("/\\example.com", True),
        ("\\\\example.com", True),
        ("/\t/example.com", True),
        (" //example.com", True),
        ("https://example.com/", True),
        ("javascript:alert(1)", True),
    ],
)
def test_off_site(location, leaves):
    assert finish.off_site(location, "localhost") is leaves


async def asgi_get(app, raw_path: bytes, headers=()) -> list[dict]:
    """Send the raw path a browser sends, which httpx would re-encode."""
    messages = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    path, _, query = raw_path.partition(b"?")
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path.decode("latin-1"),
        "raw_path": path,
        "query_string": query,
        "headers": [(b"host", b"localhost"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("localhost", 80),
    }
    await app(scope, receive, send)
    return messages


def header(start: dict, name: bytes) -> bytes | None:
    return {k.lower(): v for k, v in start["headers"]}.get(name)


@pytest.mark.parametrize(
    "raw",
    [
        b"/\\example.com/",
        b"//example.com/",
        b"/%5Cexample.com/",
        b"/%5C%5Cexample.com/",
        b"/\\\\example.com/",
        b"/\t/example.com/",
        b"/%2F/example.com/",
    ],
)
async def test_open_redirect_paths_are_404(datasette, raw):
    start = (await asgi_get(datasette.app(), raw))[0]
    assert start["status"] == 404, raw
    assert header(start, b"location") is None


async def test_ordinary_redirects_still_work(datasette):
    start = (await asgi_get(datasette.app(), b"/iana/ports/"))[0]
    assert (start["status"], header(start, b"location")) == (302, b"/iana/ports")
    start = (await asgi_get(datasette.app(), b"/lookup?q=22"))[0]
    assert (start["status"], header(start, b"location")) == (302, b"/ports/22")


@pytest.mark.parametrize(
    "path",
    [
        "/iana/ports.json?_sort=nosuch",
        "/iana/ports?_sort=nosuch",
        "/iana/registrations.json?_sort_desc=nosuch",
        "/iana/ports.json?_sort=port&_sort_desc=port",
        "/iana/registrations.json?_search=%22&_searchmode=raw",
    ],
)
async def test_refused_table_queries_are_400_not_500(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 400, response.text[:200]
    if ".json" in path:
        assert response.json()["ok"] is False


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
@pytest.mark.parametrize(
    "path",
    ["/", "/ports/22", "/services/ssh.json", "/search", "/changes.json", "/-/healthz", "/iana/port_lookup"],
)
async def test_the_site_only_reads(datasette, method, path):
    # A POST to a canned query is a 500 in plain Datasette 0.65.5.
    response = await datasette.client.request(method, path, data={"port": "22"} if method == "POST" else None)
    assert (response.status_code, response.headers["allow"]) == (405, "GET, HEAD")


async def test_an_over_long_url_is_414(datasette):
    response = await datasette.client.get("/search.json?q=" + "a" * 5000)
    assert (response.status_code, response.json()) == (
        414,
        {"ok": False, "error": "The address is too long: at most 4,096 characters.", "status": 414, "title": None},
    )
    assert response.headers["cache-control"] == "no-store"
    page = await datasette.client.get("/search?q=" + "a" * 5000)
    assert page.status_code == 414
    assert '<p class="error-message">The address is too long: at most 4,096 characters.</p>' in page.text


async def test_cors_preflight(datasette):
    response = await datasette.client.options("/ports/22.json", headers={"Origin": "https://example.org"})
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path",
    [
        "/ports/22.json",
        "/ports/22",
        "/iana/ports.json?_size=1",
        "/iana/ports.csv?_size=1",
        "/static/site.css",
        "/-/healthz",
        "/nope",
    ],
)
async def test_every_answer_carries_cors(datasette, path):
    response = await datasette.client.get(path)
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "path",
    [
        "/ports/22",
        "/ports/22.json",
        "/services/ssh",
        "/search?q=ssh",
        "/changes.json",
        "/free.json?near=8000",
        "/portmap.png",
        "/iana",
        "/iana/ports?status=assigned",
        "/iana/ports.json?_size=2",
        "/iana/ports.csv?_size=2",
        "/iana/ports/22",
        "/iana/port_lookup.json?port=22",
        "/iana.json?sql=select+1",
        "/static/site.css",
        "/-/static/app.css",
    ],
)
async def test_answers_from_the_build_are_cacheable_and_revalidate(datasette, path):
    etag = builds.current(datasette).etag
    response = await datasette.client.get(path)
    assert response.status_code == 200, path
    assert (response.headers["cache-control"], response.headers["etag"]) == (BUILD_CACHE, etag)
    # Nothing here depends on who asks: no Vary on cookies.
    assert "cookie" not in response.headers.get("vary", "").lower()
    again = await datasette.client.get(path, headers={"If-None-Match": etag})
    assert (again.status_code, again.content) == (304, b"")
    assert (again.headers["etag"], again.headers["cache-control"]) == (etag, BUILD_CACHE)
    assert again.headers["access-control-allow-origin"] == "*"
    stale = await datasette.client.get(path, headers={"If-None-Match": 'W/"another-build"'})
    assert stale.status_code == 200


@pytest.mark.parametrize(
    "path, status",
    [
        ("/ports/22", 200),
        ("/ports/60878.json", 200),
        ("/services/ssh", 200),
        ("/iana/ports?status=assigned", 200),
        ("/iana/ports.json?_size=2", 200),
        ("/ports/99999", 404),
        ("/nope", 404),
        ("/iana/ports?_sort=nosuch", 400),
    ],
)
async def test_an_answer_sent_whole_says_its_length(datasette, path, status):
    response = await datasette.client.get(path)
    assert response.status_code == status
    assert response.headers["content-length"] == str(len(response.content))


async def test_a_streamed_answer_has_no_length(datasette):
    response = await datasette.client.get("/iana/ports.csv?_stream=1")
    assert response.status_code == 200
    assert "content-length" not in response.headers
    assert response.text.count("\n") == 65537


@pytest.mark.parametrize(
    "path, status",
    [("/ports/99999", 404), ("/nope", 404), ("/search?transport=x", 400), ("/iana/ports?_sort=nosuch", 400)],
)
async def test_errors_are_cached_briefly_and_never_304(datasette, path, status):
    etag = builds.current(datasette).etag
    response = await datasette.client.get(path, headers={"If-None-Match": etag})
    assert response.status_code == status
    assert response.headers["cache-control"] == "public, max-age=60"
    assert "etag" not in response.headers


async def test_instance_pages_are_never_cached(datasette):
    for path in ("/-/healthz", "/-/versions.json"):
        response = await datasette.client.get(path)
        assert (response.status_code, response.headers["cache-control"]) == (200, "no-store"), path
        assert "etag" not in response.headers


async def test_cookies_are_not_seen(datasette):
    # Datasette would answer a request with a cookie "private, no-store": the site drops it first.
    response = await datasette.client.get("/iana/ports.json?_size=1", headers={"Cookie": "ds_actor=x"})
    assert response.headers["cache-control"] == BUILD_CACHE


async def test_no_registry_database_is_503_everywhere(tmp_path, db_2026):
    # A file that is not a build of this version: its common_uses table is gone.
    db = tmp_path / "iana.db"
    shutil.copy(db_2026, db)
    conn = sqlite3.connect(db)
    conn.execute("drop table common_uses")
    conn.commit()
    conn.close()
    ds = make_datasette(db)
    await ds.invoke_startup()
    try:
        for path in ("/", "/ports/22", "/services/ssh.json", "/search?q=x", "/changes.json", "/-/healthz"):
            response = await ds.client.get(path)
            assert response.status_code == 503, path
            assert response.headers["cache-control"] == "no-store", path
        body = (await ds.client.get("/ports/22.json")).json()
        assert body == {
            "ok": False,
            "error": "The registry database is not loaded yet; try again shortly.",
            "status": 503,
            "title": "Service unavailable",
        }
    finally:
        for d in ds.databases.values():
            d.close()
