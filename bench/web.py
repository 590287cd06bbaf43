"""Web throughput and latency on first visits, against a hello-world anchor measured in the same run.

Every server is a real process on 127.0.0.1 driven by wrk (RUN_SECONDS a run,
CONNECTIONS connections), one server at a time:

- anchor: `hello_app` below under uvicorn with the settings `datasette serve`
  gives uvicorn (one worker, log level info, so an access log line per request);
- ours: the command line `make serve` runs;
- default: plain `datasette serve -i DB`: Datasette's defaults, none of the
  project's configuration, for Datasette's own table and search pages.

Traffic is a first visit every time: each request asks for a different random
URL (a port from 0 to 65535, a table filter, a search word) and sends
`Cache-Control: no-cache`, so nothing is replayed from any cache.

Targets (issue 13): /ports/N.json >= 50 % of hello-world and /ports/N >= 25 %,
both with p99 <= 10 ms at 10 connections; Datasette's table and search pages
>= 3x the defaults.
"""

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.support import ROOT, SNAPSHOT_2026, build, free_port, running, serve_command

RUN_SECONDS = 5
CONNECTIONS = 10
THREADS = 2

# Each wrk thread seeds its own generator: the threads must not walk one sequence.
LUA_HEAD = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
function init(args)
  math.randomseed(os.time() * 100 + id)
end
local headers = {["Cache-Control"] = "no-cache"}
local function pick(list) return list[math.random(#list)] end
"""
# Full-text search of the registrations table, with words people look up.
WORDS = (
    "http", "ssh", "kerberos", "mail", "dns", "ldap", "printer", "game", "database", "video", "secure", "voice",
    "file", "time", "web", "remote", "control", "sql", "news", "chat", "proxy", "radius", "sip", "xmpp", "vpn",
    "backup", "license", "monitor", "cluster", "streaming",
)


def lua_list(items) -> str:
    return "{" + ", ".join(f'"{i}"' for i in items) + "}"


def random_port(suffix: str) -> str:
    return LUA_HEAD + (
        "\nrequest = function()\n"
        f'  return wrk.format("GET", "/ports/" .. math.random(0, 65535) .. "{suffix}", headers)\n'
        "end\n"
    )


def table(db: str) -> str:
    """Table pages as people filter them: a status and a range, a page of them."""
    return LUA_HEAD + f"""
local statuses = {lua_list(("assigned", "reserved", "unassigned"))}
local ranges = {lua_list(("System+Ports", "User+Ports", "Dynamic+Ports"))}
""" + """
request = function()
  local path = "/""" + db + """/ports?status=" .. pick(statuses) .. "&range=" .. pick(ranges)
    .. "&_next=" .. math.random(0, 40) * 20
  return wrk.format("GET", path, headers)
end
"""


def table_search(db: str) -> str:
    return LUA_HEAD + f"\nlocal words = {lua_list(WORDS)}\n" + """
request = function()
  return wrk.format("GET", "/""" + db + """/registrations?_search=" .. pick(words), headers)
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


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def wrk(base: str, script: str | None = None, path: str = "/") -> dict:
    """One bounded wrk run: requests/s, p50 and p99 in ms, failed requests."""
    command = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{RUN_SECONDS}s", "--timeout", "30s", "--latency"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        if script:
            lua.write(script)
            lua.flush()
            command += ["-s", lua.name]
        out = subprocess.run([*command, base + path], capture_output=True, text=True, check=True).stdout
    percentiles = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    if len(percentiles) != 2:
        raise RuntimeError(f"unexpected wrk output for {base}{path}:\n{out}")
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = sum(map(int, socket_errors.groups())) if socket_errors else 0
    failed += int(non2xx.group(1)) if non2xx else 0
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(percentiles["50"]),
        "p99": _ms(percentiles["99"]),
        "failed": failed,
    }


def line(label: str, r: dict, note: str = "") -> None:
    bad = f"  {r['failed']} FAILED!" if r["failed"] else ""
    print(f"  {label:<46} {r['rps']:>8,.0f} req/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms{bad}  {note}")


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench.web: wrk is not installed (make bench installs it)")
    print(f"web: wrk -t{THREADS} -c{CONNECTIONS} -d{RUN_SECONDS}s on 127.0.0.1, one server at a time,"
          " a random URL and Cache-Control: no-cache on every request")
    with tempfile.TemporaryDirectory() as tmp:
        db = build(SNAPSHOT_2026, Path(tmp) / "iana.db")
        name = db.stem

        port = free_port()
        hello_cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(ROOT), "bench.web:hello_app",
                     "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--log-level", "info"]
        with running(hello_cmd, port, "/") as base:
            hello = wrk(base)

        port = free_port()
        with running(serve_command(db, port), port) as base:
            ours = {
                "json": wrk(base, random_port(".json")),
                "html": wrk(base, random_port("")),
                "table": wrk(base, table(name)),
                "search": wrk(base, table_search(name)),
            }

        port = free_port()
        default_cmd = [str(ROOT / ".venv" / "bin" / "datasette"), "serve", "-i", str(db),
                       "--host", "127.0.0.1", "--port", str(port)]
        with running(default_cmd, port, "/-/versions.json") as base:
            default = {"table": wrk(base, table(name)), "search": wrk(base, table_search(name))}

    def share(r):
        return r["rps"] / hello["rps"]

    line("hello-world ASGI app (uvicorn, as datasette serve)", hello, "anchor")
    for key, label, target in (("json", "/ports/<random>.json", 0.5), ("html", "/ports/<random>", 0.25)):
        r = ours[key]
        line(f"make serve {label}", r, f"{share(r):.0%} of hello-world (>= {target:.0%}: "
             f"{verdict(share(r) >= target)}), p99 <= 10 ms: {verdict(r['p99'] <= 10)}")
    for key, label in (("table", "table page (status, range, page)"), ("search", "table search (_search=word)")):
        ratio = ours[key]["rps"] / default[key]["rps"]
        line(f"default datasette {label}", default[key])
        line(f"make serve {label}", ours[key], f"{ratio:.1f}x default (>= 3x: {verdict(ratio >= 3)})")


if __name__ == "__main__":
    main()
