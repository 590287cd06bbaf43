"""SQL run by visitors is bounded per function call, per result and in time (iana_ports.web.datasette_pages).

Against the real `datasette serve` command `make serve` runs: the hostile queries
answer 4xx within a couple of seconds, three at a time, while a port page keeps
answering, and the server's memory stays bounded (read from /proc).
"""

import concurrent.futures
import statistics
import time
from urllib.parse import quote

import httpx
import pytest

from deploy.harness import free_port, serve_command
from deploy.harness import process

HOSTILE = {
    "printf": "select printf('%.*c', 200000000, 'x')",
    "format": "select format('%200000000d', 1)",
    "randomblob": "select randomblob(999999999)",
    "zeroblob": "select zeroblob(999999999)",
    "long rows": "select printf('%.*c', 999000, 'x') from ports",
    "concatenation": "select group_concat(hex(randomblob(100000)), '') from ports",
    "endless": "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c",
}
# Generous for a loaded CI machine; each answers in well under a second on a quiet one.
WITHIN = 3.0


def rss_kb(pid: int) -> dict:
    """The process's resident memory now (VmRSS) and at its peak (VmHWM), in kB."""
    fields = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines())
    return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}


@pytest.fixture(scope="module")
def server(db_2026):
    port = free_port()
    with process(serve_command(db_2026, port), port) as (base, proc):
        yield base, proc.pid, db_2026.stem


def get(url: str) -> tuple[int, float, dict]:
    start = time.monotonic()
    response = httpx.get(url, timeout=30)
    return response.status_code, time.monotonic() - start, response.json()


@pytest.mark.parametrize("name", HOSTILE)
def test_each_hostile_query_is_a_quick_400(server, name):
    base, _, db = server
    status, took, body = get(f"{base}/{db}.json?sql={quote(HOSTILE[name])}")
    assert (status, body["ok"]) == (400, False), body
    assert took < WITHIN, (name, took)


def test_three_at_once_leave_the_site_answering_and_memory_bounded(server):
    base, pid, db = server
    before = rss_kb(pid)
    urls = [f"{base}/{db}.json?sql={quote(HOSTILE[n])}" for n in ("printf", "long rows", "concatenation")] * 2
    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        hostile = [pool.submit(get, url) for url in urls]
        port_pages = []
        for _ in range(5):
            time.sleep(0.05)
            port_pages.append(get(f"{base}/ports/8080.json")[:2])
        results = [f.result() for f in hostile]
    assert [status for status, _, _ in results] == [400] * len(urls)
    assert max(took for _, took, _ in results) < WITHIN
    # The site's own pages need no worker thread: they answer while the SQL runs
    # (the slowest hostile query takes the whole 1 s time limit).
    assert [status for status, _ in port_pages] == [200] * 5
    assert statistics.median(took for _, took in port_pages) < 0.5, (port_pages, [r[:2] for r in results])
    after = rss_kb(pid)
    # The budget is 16 MB of values per query, so six of them stay far below this.
    assert after["VmHWM"] - before["VmRSS"] < 200_000, (before, after)
    print(
        f"server memory before {before['VmRSS'] // 1024} MB, after {after['VmRSS'] // 1024} MB,"
        f" peak {after['VmHWM'] // 1024} MB"
    )


def test_ordinary_sql_still_works(server):
    base, _, db = server
    status, _, body = get(f"{base}/{db}.json?sql={quote('select port, status from ports where port = 22')}")
    assert (status, body["rows"]) == (200, [[22, "assigned"]])
    formatted = quote("select printf('%5.1f|%s', 3.14159, 'ok')")
    status, _, body = get(f"{base}/{db}.json?sql={formatted}")
    assert (status, body["rows"]) == (200, [["  3.1|ok"]])
