"""Any database file, anywhere, under any URL prefix: every page, link and redirect works.

`make serve DB=…` with a file not called iana.db in a folder with a space in its
name, then the same command with `--setting base_url /prefix/`, as Datasette
expects it behind a proxy that serves the site under /prefix/ and strips the
prefix on the way in (nginx: `location /prefix/ { proxy_pass http://app/; }`).
A crawl from the main pages follows every local link, and each answers without
an error, under the served name and the prefix.
"""

import re
from html import unescape
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from deploy.harness import process
from deploy.harness import build, free_port, live_server, serve_command

START = [
    "/",
    "/ports/22",
    "/ports/60878",
    "/services/ssh",
    "/search?q=kerberos",
    "/search?q=22/tcp",
    "/free?near=8000",
    "/changes",
    "/registry",
    "/registry/ports",
    "/registry/ports/22",
    "/services/nosuch",
]
LINK = re.compile(r'(?:href|src|action)="([^"#]*)"')
# Enough to cover every kind of link; a crawl of all 65,536 ports is not the point.
MAX_PAGES = 160


@pytest.fixture(scope="module")
def registry_db(tmp_path_factory, snapshot_2026):
    folder = tmp_path_factory.mktemp("any") / "my ports"
    folder.mkdir()
    return build(snapshot_2026, folder / "registry.db")


def crawl(base: str, prefix: str) -> dict[str, int]:
    """GET the start pages and every local link they lead to, breadth first: {path: status}.

    Paths are as a browser sees them; the prefix is stripped on the way to the
    server, as the proxy in front does.
    """
    seen: dict[str, int] = {}
    queue = [prefix.rstrip("/") + path for path in START]
    with httpx.Client(base_url=base, timeout=30) as client:
        while queue and len(seen) < MAX_PAGES:
            path = queue.pop(0)
            if path in seen:
                continue
            response = client.get("/" + path[len(prefix) :])
            seen[path] = response.status_code
            if response.status_code in (301, 302):
                location = response.headers["location"]
                assert urlsplit(location).path.startswith(prefix), (path, location)
                queue.append(location)
            if "text/html" not in response.headers.get("content-type", ""):
                continue
            for link in LINK.findall(response.text):
                url = urljoin(base + path, unescape(link))
                parts = urlsplit(url)
                if parts.netloc != urlsplit(base).netloc:
                    continue
                # Every link the site writes carries the prefix and the served name.
                assert parts.path.startswith(prefix), (path, link)
                assert "/iana" not in parts.path, (path, link)
                local = parts.path + (f"?{parts.query}" if parts.query else "")
                if local not in seen:
                    queue.append(local)
    return seen


def test_a_database_with_another_name_in_a_folder_with_a_space(registry_db):
    with live_server(registry_db) as base:
        assert httpx.get(base + "/-/healthz").json()["database"] == "registry"
        statuses = crawl(base, "/")
    wrong = {path: status for path, status in statuses.items() if status >= 400 and path != "/services/nosuch"}
    assert wrong == {}
    assert statuses["/services/nosuch"] == 404
    assert len(statuses) >= 100


def test_under_a_base_url(registry_db):
    port = free_port()
    command = serve_command(registry_db, port) + ["--setting", "base_url", "/prefix/"]
    with process(command, port) as (base, _):
        statuses = crawl(base, "/prefix/")
        lookup = httpx.get(base + "/lookup?q=ssh")
        assert (lookup.status_code, lookup.headers["location"]) == (302, "/prefix/services/ssh")
        # The site's own pages also answer a proxy that passes the prefix through.
        assert httpx.get(base + "/prefix/ports/22.json").json()["port"] == 22
    wrong = {path: status for path, status in statuses.items() if status >= 400 and path != "/prefix/services/nosuch"}
    assert wrong == {}
    assert len(statuses) >= 100
