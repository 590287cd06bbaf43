"""What one page costs inside the server, without HTTP: the site's answer for random ports.

    python -m bench.pages [N]

Drives the ASGI app `make serve` runs (the checkout as configuration, a build
of the 2026-02-25 snapshot) with N requests for random ports, HTML and JSON,
and prints the mean time per request. A tool for working on the pages; the
figures that count are bench.web's, over real HTTP beside a hello-world anchor.
"""

import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from datasette.app import Datasette

from deploy.harness import SNAPSHOT_2026, build
from iana_ports.web.render import CONFIG


def scope(path: str) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8001"), (b"cache-control", b"no-cache")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8001),
    }


async def measure(app, paths: list[str]) -> float:
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    statuses = []

    async def send(message):
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    for path in paths[:100]:  # warm up: templates compiled, caches filled
        await app(scope(path), receive, send)
    start = time.perf_counter()
    for path in paths:
        await app(scope(path), receive, send)
    elapsed = time.perf_counter() - start
    assert set(statuses) == {200}, set(statuses)
    return elapsed / len(paths)


async def run(db: Path, n: int) -> None:
    ds = Datasette([], immutables=[str(db)], config_dir=CONFIG)
    await ds.invoke_startup()
    app = ds.app()
    ports = [random.randrange(65536) for _ in range(n)]
    for label, suffix in (("HTML", ""), ("JSON", ".json")):
        per = await measure(app, [f"/ports/{p}{suffix}" for p in ports])
        print(f"pages: /ports/<random>{suffix:<5} {label}: {per * 1e6:6.0f} us per request in-process ({n} ports)")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(build(SNAPSHOT_2026, Path(tmp) / "iana.db"), n))


if __name__ == "__main__":
    main()
