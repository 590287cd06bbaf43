"""Web throughput and latency against a hello-world anchor measured in the same run.

Every server is a real process on 127.0.0.1 driven by wrk (RUN_SECONDS a
run, CONNECTIONS connections), one server at a time:

- anchor: `hello_app` below, served by uvicorn with one worker, the ASGI
  server and worker count `datasette serve` uses;
- ours: the command line `make serve` runs (read from `make -n serve`);
- default: plain `datasette serve DB`, Datasette's default settings, no
  metadata, plugins or templates, for the table and search pages.

Targets (issue 4): /ports/N.json >= 40 % of hello-world, /ports/N >= 20 %,
p99 <= 25 ms at 10 connections; table and search pages >= 3x the default.
The random-port rows ask for a different port each request, so they show
what a page costs when no cached copy of it exists; they have no target.
"""

import contextlib
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from conftest import free_port, serve_command  # noqa: E402

from ingest.__main__ import main as ingest_main  # noqa: E402

SNAPSHOT = ROOT.parent / "shared" / "data" / "iana" / "service-names-port-numbers-2026-02-25.csv"
RUN_SECONDS = 5
CONNECTIONS = 10
THREADS = 2
START_TIMEOUT = 30

PORT_JSON = "/ports/60878.json"
PORT_HTML = "/ports/22"
OUR_SEARCH = "/search?q=http&transport=tcp"
TABLE = "/iana/ports?status=unassigned&range=User+Ports"
TABLE_SEARCH = "/iana/registrations?_search=http"
RANDOM_PORT = """
request = function()
  return wrk.format("GET", "/ports/" .. math.random(0, 65535) .. "{suffix}")
end
"""

HELLO = b"Hello, world!"


async def hello_app(scope, receive, send):
    """The anchor: the least an ASGI app can do per request."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
        }
    )
    await send({"type": "http.response.body", "body": HELLO})


@contextlib.contextmanager
def running(command: list[str], port: int, ready_path: str):
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {shlex.join(command)}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + ready_path, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {START_TIMEOUT} s: {shlex.join(command)}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(base: str, path: str, script: str | None = None, fresh: bool = False) -> dict:
    """One bounded wrk run: requests/s, p50 and p99 in ms, non-2xx count.

    fresh: send Cache-Control: no-cache, which plugins/response_cache.py
    honours, to measure rendering the page rather than replaying it.
    """
    url = base + path
    # A long timeout, so a slow page is measured rather than dropped as a timeout.
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{RUN_SECONDS}s", "--timeout", "30s",
               "--latency", url]
    if fresh:
        command[1:1] = ["-H", "Cache-Control: no-cache"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        if script:
            lua.write(script)
            lua.flush()
            command[1:1] = ["-s", lua.name]
        else:
            # One request first, so the run measures steady state, not the first render.
            httpx.get(url, timeout=10)
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if len(percentiles) != 2:
        raise RuntimeError(f"unexpected wrk output for {url}:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(percentiles["50"]),
        "p99": _ms(percentiles["99"]),
        "non2xx": int(errors.group(1)) if errors else 0,
    }


def line(label: str, r: dict, note: str = "") -> None:
    bad = f"  {r['non2xx']} non-2xx!" if r["non2xx"] else ""
    print(f"  {label:<52} {r['rps']:>9,.0f} req/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms{bad}  {note}")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench.web: wrk is not installed")
    print(f"web: wrk -t{THREADS} -c{CONNECTIONS} -d{RUN_SECONDS}s on 127.0.0.1, one server at a time")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "iana.db"
        with contextlib.redirect_stdout(None):
            assert ingest_main(["--source", str(SNAPSHOT), "--db", str(db), "--force"]) == 0

        port = free_port()
        hello_cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT), "bench.web:hello_app",
                     "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
        with running(hello_cmd, port, "/") as base:
            hello = wrk(base, "/")
        line("hello-world ASGI app (uvicorn, 1 worker)", hello, "anchor")

        port = free_port()
        ours = {}
        with running(serve_command(db, port), port, "/-/versions.json") as base:
            for path in (PORT_JSON, PORT_HTML, OUR_SEARCH, TABLE, TABLE_SEARCH):
                ours[path] = wrk(base, path)
            for path in (PORT_JSON, PORT_HTML, TABLE, TABLE_SEARCH):
                ours["fresh " + path] = wrk(base, path, fresh=True)
            ours["random.json"] = wrk(base, "/ports/N.json", RANDOM_PORT.format(suffix=".json"))
            ours["random"] = wrk(base, "/ports/N", RANDOM_PORT.format(suffix=""))

        port = free_port()
        default_cmd = [str(ROOT / ".venv" / "bin" / "datasette"), "serve", str(db),
                       "--host", "127.0.0.1", "--port", str(port)]
        default = {}
        with running(default_cmd, port, "/-/versions.json") as base:
            for path in (TABLE, TABLE_SEARCH):
                default[path] = wrk(base, path)

    share = lambda r: r["rps"] / hello["rps"]  # noqa: E731
    j, h = ours[PORT_JSON], ours[PORT_HTML]
    line(f"make serve {PORT_JSON}", j,
         f"{share(j):.0%} of hello-world (>= 40%: {verdict(share(j) >= 0.40)}), "
         f"p99 <= 25 ms: {verdict(j['p99'] <= 25)}")
    line(f"make serve {PORT_HTML}", h,
         f"{share(h):.0%} of hello-world (>= 20%: {verdict(share(h) >= 0.20)}), "
         f"p99 <= 25 ms: {verdict(h['p99'] <= 25)}")
    s = ours[OUR_SEARCH]
    line(f"make serve {OUR_SEARCH}", s, f"{share(s):.0%} of hello-world")
    for path in (TABLE, TABLE_SEARCH):
        d = default[path]
        line(f"default datasette {path}", d)
        for key, how in ((path, "cached"), ("fresh " + path, "no-cache")):
            ratio = ours[key]["rps"] / d["rps"]
            line(f"make serve {path} ({how})", ours[key], f"{ratio:.1f}x default (>= 3x: {verdict(ratio >= 3)})")
    print("  rendering every request (no target; what a first visit costs):")
    for key, label in (
        ("fresh " + PORT_JSON, f"{PORT_JSON} (no-cache)"),
        ("fresh " + PORT_HTML, f"{PORT_HTML} (no-cache)"),
        ("random.json", "/ports/<random>.json"),
        ("random", "/ports/<random>"),
    ):
        line(f"make serve {label}", ours[key], f"{share(ours[key]):.0%} of hello-world")
