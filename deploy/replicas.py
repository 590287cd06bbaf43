"""N replicas of `make serve` behind nginx's proxy_cache, on this machine.

    python -m deploy.replicas serve --replicas 3 --db data/iana.db --port 8080 --scratch data/replicas
    python -m deploy.replicas roll --scratch data/replicas --source CSV   # or --db FILE

`serve` (what `make replicas` runs) copies the build into one folder per
replica, starts `make serve` on each copy, and nginx from Debian in front of
them with the config deploy/nginx.conf.template, until Ctrl-C. Each replica
has its own copy, so a new build reaches them one at a time, as it would on
hosts that each hold their own file.

`roll` brings a running set onto a new build, one replica after the other:
it rebuilds each copy with `python -m ingest --source CSV --force` (or puts
a finished database FILE in place with one os.replace, as a build job
publishing one file would), waits until that replica serves it, then moves
on; last it purges nginx's cache, as a CDN is purged after a deploy. Until
then, entries from the old build are served until their max-age runs out and
revalidate against the new ETag.

nginx runs in the foreground with its own prefix, logs, temp and cache
folders, all in one folder of its own on /dev/shm (or the system's temp
folder); when started as root it runs as `nobody`. Its logs and config are
copied into the scratch folder when it stops.
"""

import argparse
import contextlib
import json
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

from iana_ports.facts import DEFAULT_DB

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).resolve().parent / "nginx.conf.template"
NGINX = Path("/usr/sbin/nginx")
START_TIMEOUT = 60.0
SWAP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
STATE = "cluster.json"
# nginx flushes its access log at least this often (flush= in the template).
LOG_FLUSH = 1.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
                )
            for r in self.replicas:
                wait_healthy(r.base, r.proc, START_TIMEOUT, f"replica {r.index} (make serve on {r.base})")
            self._start_nginx()
            wait_healthy(self.proxy, self.nginx, START_TIMEOUT, f"nginx on {self.proxy}")
            self.save()
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
            [str(NGINX), "-p", str(self.nginx_dir), "-c", str(self.nginx_dir / "nginx.conf"),
             "-e", str(self.nginx_dir / "error.log")],
            stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
            **({"user": "nobody", "group": "nogroup", "extra_groups": []} if root else {}),
        )
        self.nginx_pid = self.nginx.pid

    def _write_conf(self) -> None:
        servers = "\n".join(f"        server 127.0.0.1:{r.port};" for r in self.replicas)
        conf = render(TEMPLATE.read_text(), dir=self.nginx_dir, host=self.host, port=self.port,
                      workers=self.workers, servers=servers, generation=f"g{self.generation}")
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
        with contextlib.suppress(OSError):
            (self.scratch / STATE).unlink()
        for log in self.logs:
            log.close()

    # A running set, for `roll` in another process
    def save(self) -> None:
        state = {
            "db": str(self.db), "host": self.host, "port": self.port, "workers": self.workers,
            "nginx_dir": str(self.nginx_dir), "nginx_pid": self.nginx_pid, "generation": self.generation,
            "replicas": [{"index": r.index, "db": str(r.db), "port": r.port} for r in self.replicas],
        }
        (self.scratch / STATE).write_text(json.dumps(state, indent=2) + "\n")

    @classmethod
    def load(cls, scratch: Path) -> "Cluster":
        path = scratch.resolve() / STATE
        if not path.is_file():
            raise RuntimeError(f"no running replicas in {scratch} (no {STATE}): start them with make replicas")
        state = json.loads(path.read_text())
        return cls(
            Path(state["db"]), len(state["replicas"]), scratch.resolve(), state["host"], state["port"],
            state["workers"], [Replica(r["index"], Path(r["db"]), r["port"]) for r in state["replicas"]],
            nginx_dir=Path(state["nginx_dir"]), generation=state["generation"], nginx_pid=state["nginx_pid"],
        )

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
                    cwd=ROOT, capture_output=True, text=True,
                )
                if result.returncode != 0:
                    raise RuntimeError(f"ingest into replica {r.index} failed: {result.stderr.strip()}")
            else:
                # Published whole: a copy beside the served file, then one atomic rename onto it.
                partial = r.db.with_name(f".{r.db.name}.publishing")
                shutil.copyfile(db, partial)
                os.replace(partial, r.db)
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
        self.save()

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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.replicas", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start N replicas behind nginx, in the foreground until Ctrl-C")
    serve.add_argument("--replicas", type=int, default=3)
    serve.add_argument("--db", type=Path, default=DEFAULT_DB)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1, help="nginx worker processes")
    serve.add_argument("--scratch", type=Path, default=Path("data/replicas"))
    roll = sub.add_parser("roll", help="bring running replicas onto a new build, one at a time, then purge")
    roll.add_argument("--scratch", type=Path, default=Path("data/replicas"))
    new = roll.add_mutually_exclusive_group(required=True)
    new.add_argument("--source", type=Path, help="a registry CSV: each replica's copy is rebuilt from it")
    new.add_argument("--db", type=Path, help="a built database file, published to each replica")
    args = parser.parse_args(argv)
    try:
        return run(parser, args)
    except (RuntimeError, OSError, subprocess.CalledProcessError, httpx.HTTPError) as exc:
        # What an operator can act on, in one line; the replicas' and nginx's logs say the rest.
        print(f"error: {exc}", file=sys.stderr)
        return 1


def run(parser, args) -> int:
    if args.command == "roll":
        cluster = Cluster.load(args.scratch)
        for r, health in zip(cluster.replicas, cluster.roll(source=args.source, db=args.db)):
            print(f"replica {r.index} ({r.base}) serves {health['etag']} (registry {health['newest_registry_date']})")
        print(f"nginx cache purged (generation {cluster.generation})")
        return 0

    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    cluster = Cluster(args.db.resolve(), args.replicas, args.scratch, args.host, args.port, args.workers)
    # Ctrl-C and SIGTERM both end in stop(): every process started here, by its id. SIGINT
    # explicitly, since a shell starting this in the background leaves it ignored.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with cluster:
        for r in cluster.replicas:
            print(f"replica {r.index}: {r.base} serving {r.db}")
        print(f"nginx: {cluster.proxy} (cache and logs in {cluster.nginx_dir}); Ctrl-C stops everything")
        print(f"roll a new build: python -m deploy.replicas roll --scratch {args.scratch} --source CSV")
        with contextlib.suppress(KeyboardInterrupt):
            while all(r.proc.poll() is None for r in cluster.replicas) and cluster.nginx.poll() is None:
                time.sleep(0.5)
            print(f"error: a replica or nginx exited; stopping the rest (logs in {cluster.scratch})", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
