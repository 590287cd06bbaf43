"""Per-build files are made once per build, however many requests ask for them at once.

A real Datasette app served by uvicorn on 127.0.0.1, in this process so the
real makers (services file, ports.json, ports.csv, the sitemaps' catalogue,
the port map) can be counted as they run; 30 clients released together by a
barrier right after a rebuild was swapped in.
"""

import shutil
import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn

from deploy.harness import free_port
from helpers import make_datasette
from iana_ports import exports
from iana_ports.web import crawlers, portmap

CLIENTS = 30
PATHS = (
    "/exports/services",
    "/exports/ports.json",
    "/exports/ports.csv",
    "/sitemap.xml",
    "/sitemap-ports-0.xml",
    "/portmap.png",
)


def registry_sha(db) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("select sha256 from ingests order by id desc limit 1").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def made(monkeypatch):
    """How many times each maker ran: the real functions, counted."""
    counts, lock = Counter(), threading.Lock()
    for module, name in (
        (exports, "services_file"),
        (exports, "ports_json"),
        (exports, "ports_csv"),
        (crawlers, "catalogue_of"),
        (portmap, "indexes"),
    ):
        real = getattr(module, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            with lock:
                counts[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return counts


@pytest.fixture
def server(tmp_path, db_2026):
    served = tmp_path / "iana.db"
    shutil.copyfile(db_2026, served)
    port = free_port()
    uv = uvicorn.Server(uvicorn.Config(make_datasette(served).app(), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not uv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield base, served
    uv.should_exit = True
    thread.join(10)


def test_thirty_concurrent_first_requests_after_a_swap_make_each_file_once(server, made, db_2025):
    base, served = server
    assert httpx.get(base + "/-/healthz").status_code == 200
    new = served.with_name("incoming.db")
    shutil.copyfile(db_2025, new)
    new.replace(served)
    sha = registry_sha(served)
    deadline = time.monotonic() + 15
    while httpx.get(base + "/-/healthz").json()["sha256"] != sha:
        assert time.monotonic() < deadline, "the rebuild was never swapped in"
        time.sleep(0.05)
    assert made == Counter()

    for path in PATHS:
        barrier = threading.Barrier(CLIENTS)

        def fetch(_, path=path, barrier=barrier):
            with httpx.Client(timeout=60) as client:
                barrier.wait()
                r = client.get(base + path)
                return r.status_code, r.content

        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(fetch, range(CLIENTS)))
        assert {status for status, _ in answers} == {200}, path
        assert len({body for _, body in answers}) == 1, path  # every client got the same file
    services = httpx.get(base + "/exports/services").text
    assert f"# Registry CSV sha256: {sha}\n" in services  # the new build's
    # One each, for 30 clients on each of the six addresses (the index and a sitemap share the catalogue).
    assert made == Counter(services_file=1, ports_json=1, ports_csv=1, catalogue_of=1, indexes=1)
