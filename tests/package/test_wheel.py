"""The wheel outside the checkout: built by `make wheel`, installed into a fresh venv in another
folder (no PYTHONPATH, another HOME), the command and the site answering from the build it carries."""

import json
import os
import subprocess
import venv

import httpx
import pytest

from helpers import ROOT
from deploy.harness import free_port, running

PAGES = [
    "/",
    "/ports/22",
    "/ports/60878.json",
    "/services/ssh",
    "/services/ssh.json",
    "/search?q=ssh",
    "/search.json?q=22",
    "/free?near=8000",
    "/free.json?near=24000",
    "/changes",
    "/changes.json",
    "/map",
    "/portmap.png",
    "/sitemap.xml",
    "/exports/services",
    "/exports/ports.json",
    "/iana",
    "/iana/ports",
    "/iana/ports.json?_shape=array&_size=2",
    "/iana/ports/22",
    "/-/healthz",
    "/static/site.css",
]


@pytest.fixture(scope="module")
def installed(tmp_path_factory, db_2026):
    out = subprocess.run(
        ["make", "-s", "wheel", f"DB={db_2026}"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    wheel = next((ROOT / "dist").glob("iana_ports-*.whl"))
    home = tmp_path_factory.mktemp("elsewhere")
    venv.create(home / "venv", with_pip=True)
    pip = subprocess.run(
        [home / "venv" / "bin" / "pip", "install", "--quiet", str(wheel)], capture_output=True, text=True, timeout=900
    )
    assert pip.returncode == 0, pip.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IANA_PORTS_DB", "VIRTUAL_ENV")}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(home / "cache"))
    return home, env


def test_nothing_is_read_from_the_checkout(installed):
    home, env = installed
    where = subprocess.run(
        [home / "venv" / "bin" / "python", "-c", "import iana_ports, ingest"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
    )
    # No top-level `ingest` is installed, and iana_ports comes from the venv.
    assert "No module named 'ingest'" in where.stderr
    found = subprocess.run(
        [home / "venv" / "bin" / "python", "-c", "import iana_ports.cli; print(iana_ports.cli.__file__)"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert found.startswith(str(home / "venv"))


def test_the_command_answers_from_the_wheels_build(installed):
    home, env = installed
    out = subprocess.run(
        [home / "venv" / "bin" / "iana-ports", "8080", "--json"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (out.returncode, out.stderr) == (0, "")
    assert json.loads(out.stdout)["services"] == ["http-alt"]
    # Unpacked once, into the user's cache.
    assert [p.suffix for p in (home / "cache" / "iana-ports").iterdir()] == [".db"]


def test_update_builds_the_users_own_copy(installed, snapshot_2026):
    home, env = installed
    out = subprocess.run(
        [home / "venv" / "bin" / "iana-ports", "update", "--source", str(snapshot_2026)],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (out.returncode, out.stderr) == (0, "")
    assert out.stdout.startswith(f"built {home / 'data' / 'iana-ports' / 'iana.db'}: 14500 registrations")


def test_serve_answers_every_page_kind(installed):
    home, env = installed
    port = free_port()
    command = [str(home / "venv" / "bin" / "iana-ports"), "serve", "--port", str(port)]
    with running(command, port, cwd=home, env=env) as base:
        for path in PAGES:
            response = httpx.get(base + path, timeout=30)
            assert response.status_code == 200, (path, response.text[:200])
        mcp = httpx.post(
            base + "/-/mcp",
            timeout=30,
            headers={"Accept": "application/json, text/event-stream", "Mcp-Protocol-Version": "2025-11-25"},
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": "lookup_port", "arguments": {"port": 5432}},
            },
        )
        assert mcp.status_code == 200 and '"postgresql"' in mcp.text
