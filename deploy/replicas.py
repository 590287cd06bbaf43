"""N replicas of `make serve` behind nginx's proxy_cache, on this machine: a harness for the tests and
benchmarks, not a way to run the site (that is the image and deploy/k8s/; `make replicas` plays them).

Kept for what the manifests cannot do: run inside `make test` and `make bench` without containers,
as real processes that the tests start, watch and roll in a second, with nginx on the rules of
deploy/nginx.conf.template (the same as the cache tier's in deploy/k8s/cache.yaml):

    with Cluster(db, 2, scratch) as cluster:   # tests/web/test_replicas.py, bench/proxy.py
        cluster.roll(source=CSV)               # or db=FILE: one replica after the other, then a purge

Each replica has its own copy of the build in a folder of its own, so a new build reaches them one
at a time. `roll` rebuilds each copy with `python -m ingest --source CSV --force` (or puts a
finished database FILE in place with one os.replace), waits until that replica serves it, then
moves on; last it purges nginx's cache. nginx runs in the foreground with its own prefix, logs,
temp and cache folders, all in one folder of its own on /dev/shm (or the system's temp folder);
when started as root it runs as `nobody`. Its logs and config are copied into the scratch folder
when it stops.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from iana_ports.files import atomic_write

from .harness import free_port


ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
NGINX = Path("/usr/sbin/nginx")
START_TIMEOUT = 60.0
SWAP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
# nginx flushes its access log at least this often (flush= in the template).
LOG_FLUSH = 1.0


def render(template: str, **values) -> str:
    """The template with every @name@ replaced; a name without a value is an error."""
    names = set(re.findall(r"@([a-z_]+)@", template))
    missing = names - values.keys()
    if missing:
        raise KeyError(f"no value for {sorted(missing)} in {TEMPLATE.name}")
    return re.sub(r"@([a-z_]+)@", lambda m: str(values[m.group(1)]), template)


def memory_folder() -> str | None:
    """/dev/shm when it is a tmpfs this process may write to, else None (the system's temp folder)."""
    shm = Path("/dev/shm")
    with contextlib.suppress(OSError):
        if shm.is_dir() and os.access(shm, os.W_OK) and "tmpfs" in _filesystem(shm):
            return str(shm)
    return None


def _filesystem(path: Path) -> str:
    mounts = [line.split() for line in Path("/proc/mounts").read_text().splitlines()]
    return next((fs for _, mount, fs, *_ in mounts if mount == str(path)), "")


def wait_healthy(base: str, proc: subprocess.Popen | None, timeout: float, what: str) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        with contextlib.suppress(httpx.TransportError):
            r = httpx.get(base + "/-/healthz", timeout=2)
            if r.status_code == 200:
                return r.json()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not healthy after {timeout:.0f} s")
        time.sleep(0.1)


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, group: bool = True) -> None:
    """Stop a process this module started (its process group, for `make`), by its id."""
    if proc.poll() is not None:
        return
    kill = os.killpg if group else os.kill
    with contextlib.suppress(ProcessLookupError):
        kill(proc.pid, sig)
    try:
        proc.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            kill(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class Replica:
    index: int
    db: Path
    port: int
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> dict:
        return httpx.get(self.base + "/-/healthz", timeout=5).json()


@dataclass
class Cluster:
    """Replicas and nginx, started by start() and stopped by stop() (or `with`)."""

    db: Path
    count: int
    scratch: Path
    host: str = "127.0.0.1"
    port: int = 0
    workers: int = 1
    replicas: list = field(default_factory=list)
    nginx: subprocess.Popen | None = None
    nginx_dir: Path | None = None
    generation: int = 1
    nginx_pid: int = 0
    logs: list = field(default_factory=list)

    @property
    def proxy(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.nginx_dir / "access.log"

    # Starting and stopping
    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self) -> "Cluster":
        if not NGINX.is_file():
            raise RuntimeError(f"{NGINX} is missing: install Debian's nginx (nginx-light will do)")
        if not self.db.is_file():
            raise RuntimeError(f"{self.db} does not exist; run 'make data' first")
        self.scratch = self.scratch.resolve()
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        # Once, before the replicas: concurrent `make serve`s would each run pip when the venv is stale.
        subprocess.run(["make", "--no-print-directory", "-s", "install"], cwd=ROOT, check=True)
        try:
            for i in range(1, self.count + 1):
                folder = self.scratch / f"replica-{i}"
                folder.mkdir(exist_ok=True)
                # The same file name everywhere: the database's name (and so its URLs) comes from it.
                copy = folder / self.db.name
                shutil.copyfile(self.db, copy)
                self.replicas.append(Replica(i, copy, free_port()))
            for r in self.replicas:
                # A file, not a pipe: a pipe nobody reads fills up and stalls the server.
                self.logs.append(log := open(r.db.parent / "serve.log", "ab"))
                r.proc = subprocess.Popen(
                    ["make", "--no-print-directory", "-s", "serve", f"DB={r.db}", "HOST=127.0.0.1", f"PORT={r.port}"],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    start_new_session=True,
                )
            for r in self.replicas:
                wait_healthy(r.base, r.proc, START_TIMEOUT, f"replica {r.index} (make serve on {r.base})")
            self._start_nginx()
            wait_healthy(self.proxy, self.nginx, START_TIMEOUT, f"nginx on {self.proxy}")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_nginx(self) -> None:
        root = os.geteuid() == 0
        # A folder of its own, in memory where there is a tmpfs: every miss writes a cache file,
        # which on this machine's disk cost nginx some 5 ms of CPU (320-650 req/s through the
        # cache against 1,900 on /dev/shm). Outside the scratch folder, also because as nobody
        # nginx could not reach a folder only root may enter (pytest's, for one).
        self.nginx_dir = Path(tempfile.mkdtemp(prefix="iana-nginx-", dir=memory_folder()))
        self._write_conf()
        if root:
            for path in (self.nginx_dir, *self.nginx_dir.rglob("*")):
                os.chown(path, 65534, 65534)
        self.logs.append(log := open(self.scratch / "nginx.stderr", "ab"))
        self.nginx = subprocess.Popen(
            [
                str(NGINX),
                "-p",
                str(self.nginx_dir),
                "-c",
                str(self.nginx_dir / "nginx.conf"),
                "-e",
                str(self.nginx_dir / "error.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
            **({"user": "nobody", "group": "nogroup", "extra_groups": []} if root else {}),
        )
        self.nginx_pid = self.nginx.pid

    def _write_conf(self) -> None:
        servers = "\n".join(f"        server 127.0.0.1:{r.port};" for r in self.replicas)
        conf = render(
            TEMPLATE.read_text(),
            dir=self.nginx_dir,
            host=self.host,
            port=self.port,
            workers=self.workers,
            servers=servers,
            generation=f"g{self.generation}",
        )
        (self.nginx_dir / "nginx.conf").write_text(conf)
        (self.nginx_dir / "temp").mkdir(exist_ok=True)

    def stop(self) -> None:
        if self.nginx is not None:
            # QUIT: finish the requests under way, then exit.
            stop(self.nginx, signal.SIGQUIT, group=False)
        for r in self.replicas:
            if r.proc is not None:
                stop(r.proc)
        if self.nginx_dir is not None:
            # Keep nginx's logs with the rest, then drop its temporary folder.
            for log in ("access.log", "error.log", "nginx.conf"):
                with contextlib.suppress(OSError):
                    shutil.copyfile(self.nginx_dir / log, self.scratch / f"nginx-{log}")
            shutil.rmtree(self.nginx_dir, ignore_errors=True)
        for log in self.logs:
            log.close()

    # A new build
    def roll(self, source: Path | None = None, db: Path | None = None, purge: bool = True) -> list[dict]:
        """Each replica onto the new build in turn; returns what each serves afterwards (/-/healthz)."""
        if (source is None) == (db is None):
            raise ValueError("roll() takes a registry CSV (source) or a built database file (db)")
        served = []
        for r in self.replicas:
            before = r.health()["etag"]
            if source is not None:
                result = subprocess.run(
                    [sys.executable, "-m", "ingest", "--source", str(source), "--db", str(r.db), "--force"],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                )
                if result.returncode != 0:
                    raise RuntimeError(f"ingest into replica {r.index} failed: {result.stderr.strip()}")
            else:
                # Published whole: a copy beside the served file, then one atomic rename onto it.
                with open(db, "rb") as f:
                    atomic_write(r.db, iter(lambda: f.read(1 << 20), b""))
            deadline = time.monotonic() + SWAP_TIMEOUT
            while (now := r.health())["etag"] == before:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"replica {r.index} still serves {before} {SWAP_TIMEOUT:.0f} s after the swap")
                time.sleep(0.1)
            served.append(now)
        if purge:
            self.purge()
        return served

    def purge(self) -> None:
        """Every cached entry out of use at once: a new cache key generation, and a graceful reload."""
        self.generation += 1
        self._write_conf()
        pid = self.nginx_pid
        with open(self.nginx_dir / "nginx.pid") as f:
            # Only the nginx this set started: the pid file it wrote must name it.
            if int(f.read().strip()) != pid:
                raise RuntimeError(f"{self.nginx_dir}/nginx.pid does not name the nginx started here ({pid})")
        old_workers = self._workers(pid)
        os.kill(pid, signal.SIGHUP)
        # Reloaded once the workers started before the HUP are gone.
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._workers(pid) & old_workers:
            if time.monotonic() > deadline:
                raise RuntimeError("nginx did not reload")
            time.sleep(0.05)

    @staticmethod
    def _workers(master: int) -> set[int]:
        """The master's worker processes, from /proc."""
        found = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                        found.add(int(entry.name))
        return found

    # Measuring
    def cache_statuses(self, since: int = 0) -> Counter:
        """$upstream_cache_status of every request logged after byte `since` of the access log ("-": not cacheable)."""
        time.sleep(LOG_FLUSH + 0.2)
        with open(self.access_log, "rb") as f:
            f.seek(since)
            return Counter(line.split(b" ", 2)[1].decode() for line in f if line.strip())

    def log_size(self) -> int:
        time.sleep(LOG_FLUSH + 0.2)
        return self.access_log.stat().st_size
