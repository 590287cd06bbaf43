"""Real servers on 127.0.0.1 for the tests, the benchmarks and the replicas: the real registry
snapshots, a build of them, a free port, and `make serve` run as a newcomer runs it."""

import contextlib
import io
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# Real IANA snapshots beside the checkout (never copied into it); see their README.
SHARED = ROOT.parent / "shared" / "data" / "iana"
SNAPSHOT_2025 = SHARED / "service-names-port-numbers-2025-03-28.csv"
SNAPSHOT_2026 = SHARED / "service-names-port-numbers-2026-02-25.csv"


def build(source: Path, db: Path, xml: Path | None = None) -> Path:
    """`python -m ingest --source SOURCE --db DB --force [--xml XML]`, in this process, quietly
    (the real 2026 pair's one warning too: the CSV is a reference ahead of the XML)."""
    from ingest.__main__ import main

    extra = ["--xml", str(xml)] if xml else []
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = main(["--source", str(source), "--db", str(db), "--force", *extra])
    if status != 0:
        raise RuntimeError(f"ingest of {source} into {db} exited {status}")
    return db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(db: Path, port: int) -> list[str]:
    """The server command line `make serve` runs (`iana-ports serve`), read from make's dry run."""
    out = subprocess.run(
        ["make", "-n", "-s", "serve", f"DB={db}", "HOST=127.0.0.1", f"PORT={port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = out.replace("\\\n", " ").splitlines()
    line = next(part for part in lines if "iana-ports serve" in part and not part.lstrip().startswith("#"))
    return shlex.split(line)


@contextlib.contextmanager
def running(command: list[str], port: int, ready_path: str = "/-/healthz", timeout: float = 30.0, **popen):
    """Run `command` (a server on 127.0.0.1:port) until the block ends; yields its base URL.
    `popen`: cwd or env other than the checkout's."""
    with process(command, port, ready_path, timeout, **popen) as (base, _):
        yield base


@contextlib.contextmanager
def process(command: list[str], port: int, ready_path: str = "/-/healthz", timeout: float = 30.0, log=None, **popen):
    """Like running(), yielding (base URL, the server's Popen) for a look at the process itself;
    its stderr goes to `log` (a binary file, for a test to read), else nowhere."""
    # A file, not a pipe: a pipe nobody reads fills up and blocks the server mid-request.
    log = log or tempfile.TemporaryFile()
    popen.setdefault("cwd", ROOT)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True, **popen)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited: {shlex.join(command)}: {log.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base + ready_path, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"server not ready after {timeout} s: {shlex.join(command)}")
            time.sleep(0.1)
        yield base, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@contextlib.contextmanager
def live_server(db_path: Path, timeout: float = 30.0):
    """`make serve` on db_path and a free 127.0.0.1 port; yields the base URL."""
    port = free_port()
    command = ["make", "--no-print-directory", "-s", "serve", f"DB={db_path}", f"PORT={port}"]
    with running(command, port, timeout=timeout) as base:
        yield base
