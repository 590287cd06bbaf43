"""Replicas behind a real cache: real `make serve` processes, each on its own copy of the build in a
folder of its own, behind Debian's nginx (deploy/replicas.py), everything on 127.0.0.1.

- every answer from the build carries the same ETag and Cache-Control on every replica, and a
  replica answers 304 to the ETag another one gave;
- nginx keeps what the app lets it keep, answers hits with the app's headers, keys on the Host;
- a rolling rebuild under load through nginx fails no request and mixes no builds.
"""

import asyncio
import itertools
import os
import re
import shutil
import sys
import threading
import time
from collections import Counter
from types import SimpleNamespace

import httpx
import pytest
from datasette.app import Datasette

from deploy.harness import build
from helpers import ROOT, make_datasette
from iana_ports.web import builds, finish
from rolling import BUILD_CACHE, ERRORS, HOST, URLS, Load, check_roll, classify

sys.path.insert(0, str(ROOT))
from deploy.replicas import Cluster  # noqa: E402

REPLICAS = 2
# Builds swapped in under load in the in-process test.
SWAPS = 8


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, snapshot_2025):
    """REPLICAS replicas of the 2025 build behind nginx, for the whole module (the roll is last)."""
    scratch = tmp_path_factory.mktemp("replicas")
    db = build(snapshot_2025, scratch / "published" / "iana.db")
    with Cluster(db, REPLICAS, scratch) as c:
        yield c


def comparable(response) -> bytes:
    # Datasette's JSON says how long its query took; nothing else may differ.
    return re.sub(rb'"query_ms": [0-9.e-]+', b"", response.content)


def test_every_replica_gives_the_same_etag_for_the_same_build(cluster):
    folders = {r.db.parent for r in cluster.replicas}
    assert len(folders) == REPLICAS and len({r.db.name for r in cluster.replicas}) == 1
    etags = {r.health()["etag"] for r in cluster.replicas}
    assert len(etags) == 1
    (etag,) = etags
    first, *others = cluster.replicas
    with httpx.Client(timeout=30, headers=HOST) as client:
        for url in URLS:
            answers = [client.get(r.base + url) for r in cluster.replicas]
            for a in answers:
                assert a.status_code == 200, (url, a.status_code)
                assert (a.headers["cache-control"], a.headers["etag"]) == (BUILD_CACHE, etag), url
                # Nothing varies by who asks: no Vary at all (Datasette's Cookie, Authorization dropped).
                assert "vary" not in a.headers and "set-cookie" not in a.headers, url
                assert comparable(a) == comparable(answers[0]), url
            # The ETag one replica gave is good on the others.
            for r in others:
                again = client.get(r.base + url, headers={"If-None-Match": answers[0].headers["etag"]})
                assert (again.status_code, again.content) == (304, b""), url
                assert (again.headers["etag"], again.headers["cache-control"]) == (etag, BUILD_CACHE), url
        for url in ERRORS:
            for r in cluster.replicas:
                a = client.get(r.base + url, headers={"If-None-Match": etag})
                assert a.status_code in (400, 404), url
                assert a.headers["cache-control"] == "public, max-age=60" and "etag" not in a.headers, url
        for r in cluster.replicas:
            assert client.get(r.base + "/-/healthz").headers["cache-control"] == "no-store"


def test_the_etag_names_the_file_not_only_the_registry(tmp_path, db_2026, snapshot_2026):
    # A copy of a build is the same build; a separate ingest of the same registry file is not
    # (its ingest row, which pages show, differs: here the source path, usually the fetch time).
    copy = tmp_path / "copy" / "iana.db"
    copy.parent.mkdir()
    shutil.copy(db_2026, copy)
    elsewhere = tmp_path / "elsewhere.csv"
    shutil.copy(snapshot_2026, elsewhere)
    separate = build(elsewhere, tmp_path / "separate" / "iana.db")
    ds = Datasette([])
    loaded = [builds.Build(ds, str(path), "code") for path in (db_2026, copy, separate)]
    try:
        original, copied, rebuilt = (b.etag for b in loaded)
        assert original == copied != rebuilt
    finally:
        for b in loaded:
            b.close()


def test_the_proxy_serves_hits_with_the_apps_headers(cluster):
    etag = cluster.replicas[0].health()["etag"]
    proxy = cluster.proxy
    with httpx.Client(timeout=30) as client:
        for url in ("/ports/12345.json", "/ports/12345", "/iana/ports.json?_size=3", "/ports/65536"):
            first, second = client.get(proxy + url), client.get(proxy + url)
            assert (first.headers["x-cache-status"], second.headers["x-cache-status"]) == ("MISS", "HIT"), url
            assert first.content == second.content
            if first.status_code == 200:
                assert (second.headers["cache-control"], second.headers["etag"]) == (BUILD_CACHE, etag)
                # A client's revalidation is answered by nginx from the cache.
                again = client.get(proxy + url, headers={"If-None-Match": etag})
                assert (again.status_code, again.headers["x-cache-status"], again.headers["etag"]) == (304, "HIT", etag)
            else:
                assert (second.status_code, second.headers["cache-control"]) == (404, "public, max-age=60")
        # Datasette's links name the proxy: it passed the Host on.
        assert client.get(proxy + "/iana/ports.json?_size=3").json()["next_url"].startswith(proxy + "/iana/")
        # Another Host is another cache entry, with its own absolute URLs.
        for expected in ("MISS", "HIT"):
            r = client.get(proxy + "/robots.txt", headers=HOST)
            assert r.headers["x-cache-status"] == expected
            assert "Sitemap: http://ports.example/sitemap.xml" in r.text
        # Compressed on the way out, and only then does anything vary.
        gz = client.get(proxy + "/ports/12345.json", headers={"Accept-Encoding": "gzip"})
        assert (gz.headers["content-encoding"], gz.headers["vary"], gz.headers["etag"]) == (
            "gzip",
            "Accept-Encoding",
            etag,
        )
        # Instance state is never kept.
        for _ in range(3):
            h = client.get(proxy + "/-/healthz")
            assert h.headers["cache-control"] == "no-store" and h.headers["x-cache-status"] != "HIT"


async def test_datasette_pages_during_swaps_fail_none_and_never_carry_the_other_builds_etag(tmp_path, db_2025, db_2026):
    """One replica swapping builds back and forth while Datasette's pages are asked for: every answer
    is a 200 (no "no such table" from a connection opened after the swap), and one with an ETag is
    that build's."""
    served = tmp_path / "iana.db"
    shutil.copy(db_2025, served)
    ds = make_datasette(served)
    await ds.invoke_startup()
    etags = {}
    try:

        def publish(source):
            shutil.copy(source, tmp_path / ".next")
            os.replace(tmp_path / ".next", served)

        for source, kind in ((db_2026, "2026"), (db_2025, "2025")):
            publish(source)
            deadline = time.monotonic() + 10
            while True:
                current = builds.current(ds)
                if current.identity == (os.stat(served).st_dev, os.stat(served).st_ino):
                    break
                assert time.monotonic() < deadline, "the swap did not happen"
                await asyncio.sleep(0.05)
            etags[current.etag] = kind
        swapping = threading.Thread(
            target=lambda: [(time.sleep(0.4), publish(db_2026 if i % 2 == 0 else db_2025)) for i in range(SWAPS)]
        )
        swapping.start()
        answers, unique = Counter(), itertools.count()

        async def client(path):
            while swapping.is_alive():
                url = f"{path}{'&' if '?' in path else '?'}_u={next(unique)}"
                r = await ds.client.get(url)
                label = etags.get(r.headers["etag"], "other") if "etag" in r.headers else None
                answers[(r.status_code, classify("/iana/ports/300.json", r), label)] += 1

        await asyncio.gather(*(client(p) for p in ("/iana/ports/300.json", "/iana/ports/300.json?_shape=array")))
    finally:
        for d in ds.databases.values():
            d.close()
    assert sum(answers.values()) > 100
    assert {status for status, _, _ in answers} == {200}, answers
    assert all(label in (None, kind) for _, kind, label in answers), answers


def test_an_answer_that_sets_a_cookie_is_neither_shared_nor_labelled():
    build = SimpleNamespace(etag='W/"build"')
    finisher = finish.Finisher(None, build, "/iana/ports", None, "127.0.0.1")
    plain = finisher.start({"type": "http.response.start", "status": 200, "headers": []})
    assert (b"cache-control", BUILD_CACHE.encode()) in plain["headers"]
    cookie = finisher.start(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"set-cookie", b"ds_csrftoken=x"), (b"cache-control", b"private, no-store")],
        }
    )
    assert dict(cookie["headers"])[b"cache-control"] == b"no-store"
    assert b"etag" not in dict(cookie["headers"])


def test_a_rolling_rebuild_fails_no_request_and_mixes_no_builds(cluster, snapshot_2026):
    old = {r.health()["etag"] for r in cluster.replicas}
    assert len(old) == 1
    errors_before = (cluster.nginx_dir / "error.log").read_text()
    started = time.monotonic()
    with Load(cluster.proxy) as load:
        time.sleep(1.5)
        served = cluster.roll(source=snapshot_2026, purge=False)
        time.sleep(1.5)
    assert time.monotonic() - started < 90
    check_roll(load, served, old, at_least=200)
    new = {h["etag"] for h in served}
    log = (cluster.nginx_dir / "error.log").read_text()[len(errors_before) :]
    assert not re.search(r"\[(error|crit|alert|emerg)\]", log), log[-2000:]

    # Cached entries from the old build stay until they revalidate; a purge makes that now.
    cluster.purge()
    with httpx.Client(base_url=cluster.proxy, timeout=30) as client:
        for path in Load.CACHED:
            r = client.get(path)
            assert (r.status_code, r.headers["x-cache-status"]) == (200, "MISS"), path
            assert r.headers["etag"] in new, path
            assert classify(path, r) in (None, "2026"), path
        for r, health in zip(cluster.replicas, served):
            assert httpx.get(r.base + "/ports/300.json").headers["etag"] == health["etag"]
