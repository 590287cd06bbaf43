"""plugins/guards.py: no response sends a browser to another host; refused queries are 400s."""

import importlib.util

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("guards", ROOT / "plugins" / "guards.py")
guards = importlib.util.module_from_spec(spec)
spec.loader.exec_module(guards)


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
    assert guards.off_site(location, "localhost") is leaves


async def asgi_get(app, raw_path: bytes) -> list[dict]:
    """Send the raw path a browser sends, which httpx would re-encode."""
    messages = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        messages.append(message)

    path, _, query = raw_path.partition(b"?")
    scope = {
        "type": "http", "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path.decode("latin-1"), "raw_path": path, "query_string": query,
        "headers": [(b"host", b"localhost")], "client": ("127.0.0.1", 1), "server": ("localhost", 80),
    }
    await app(scope, receive, send)
    return messages


def location(start: dict) -> bytes:
    return {k.lower(): v for k, v in start["headers"]}[b"location"]


@pytest.mark.parametrize(
    "raw",
    [b"/\\example.com/", b"//example.com/", b"/%5Cexample.com/", b"/%5C%5Cexample.com/",
     b"/\\\\example.com/", b"/\t/example.com/", b"/%2F/example.com/"],
)
async def test_open_redirect_paths_are_404(datasette, raw):
    start = (await asgi_get(datasette.app(), raw))[0]
    assert start["status"] == 404, raw
    assert not any(k.lower() == b"location" for k, _ in start["headers"])


async def test_ordinary_redirects_still_work(datasette):
    start = (await asgi_get(datasette.app(), b"/iana/ports/"))[0]
    assert start["status"] == 302
    assert location(start) == b"/iana/ports"
    start = (await asgi_get(datasette.app(), b"/lookup?q=22"))[0]
    assert start["status"] == 302
    assert location(start) == b"/ports/22"


@pytest.mark.parametrize(
    "path",
    [
        "/iana/ports.json?_sort=nosuch",
        "/iana/ports?_sort=nosuch",
        "/iana/registrations.json?_sort_desc=nosuch",
        "/iana/ports.json?_sort=port&_sort_desc=port",
        '/iana/registrations.json?_search=%22&_searchmode=raw',
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
