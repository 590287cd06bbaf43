"""plugins/response_cache.py: repeat GETs replayed, keyed on the Database objects served."""

import importlib.util
from types import SimpleNamespace

from conftest import ROOT

spec = importlib.util.spec_from_file_location("response_cache", ROOT / "plugins" / "response_cache.py")
response_cache = importlib.util.module_from_spec(spec)
spec.loader.exec_module(response_cache)


def served(databases: dict):
    return SimpleNamespace(databases=databases)


def database(route="iana", mutable=False):
    return SimpleNamespace(route=route, is_mutable=mutable)


class Upstream:
    """Stands in for Datasette: answers every request with a body naming the call."""

    def __init__(self, status=200, headers=()):
        self.calls = 0
        self.status = status
        self.headers = list(headers)

    async def __call__(self, scope, receive, send):
        self.calls += 1
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": b"call %d" % self.calls, "more_body": True})
        await send({"type": "http.response.body", "body": b"!"})


async def get(app, path, headers=()):
    messages = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        messages.append(message)

    raw, _, query = path.encode().partition(b"?")
    await app({"type": "http", "method": "GET", "path": raw.decode(), "raw_path": raw,
               "query_string": query, "headers": list(headers)}, receive, send)
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])


async def test_repeat_gets_are_replayed_until_the_database_changes():
    ds = served({"iana": database()})
    upstream = Upstream()
    app = response_cache.asgi_wrapper(ds)(upstream)
    for path in ("/ports/22", "/ports/22.json", "/iana/ports?status=assigned", "/"):
        assert await get(app, path) == (200, b"call %d!" % upstream.calls)
        calls = upstream.calls
        assert await get(app, path) == (200, b"call %d!" % calls)
        assert upstream.calls == calls
    ds.databases = {"iana": database()}  # a rebuilt file: a new Database object
    assert await get(app, "/ports/22") == (200, b"call 5!")
    assert await get(app, "/ports/22") == (200, b"call 5!")


async def test_what_is_never_replayed():
    ds = served({"iana": database(), "scratch": database("scratch", mutable=True)})
    upstream = Upstream()
    app = response_cache.asgi_wrapper(ds)(upstream)
    for path, headers in [
        ("/-/healthz", ()),
        ("/changes", ()),
        ("/scratch/t", ()),
        ("/ports/22", [(b"cookie", b"ds_actor=x")]),
        ("/ports/22", [(b"if-none-match", b'"abc"')]),
        ("/ports/22", [(b"cache-control", b"no-cache")]),
    ]:
        before = upstream.calls
        await get(app, path, headers)
        await get(app, path, headers)
        assert upstream.calls == before + 2, (path, headers)


async def test_errors_and_cookies_are_not_kept():
    for upstream in (Upstream(status=404), Upstream(headers=[(b"set-cookie", b"a=b")])):
        app = response_cache.asgi_wrapper(served({"iana": database()}))(upstream)
        await get(app, "/ports/x")
        await get(app, "/ports/x")
        assert upstream.calls == 2


def test_the_cache_stays_within_its_byte_budget():
    cache = response_cache.ResponseCache(served({"iana": database()}))
    body = b"x" * (response_cache.MAX_TOTAL // 4 + 1)
    for i in range(4):
        cache.put(i, ({}, body))
    assert list(cache.entries) == [1, 2, 3]
    assert cache.total == 3 * len(body)
    cache.put(3, ({}, b"small"))
    assert cache.total == 2 * len(body) + 5


async def test_a_forged_host_never_reaches_other_visitors(datasette):
    path = "/iana/ports.json?status=unassigned&_size=7"
    await datasette.client.get("/-/healthz")  # start-up done: the cache generation is settled
    forged = await datasette.client.get(path, headers={"Host": "evil.example"})
    assert forged.json()["next_url"].startswith("http://evil.example/")
    honest = await datasette.client.get(path)
    assert honest.json()["next_url"].startswith("http://localhost/")
