"""The build being served: found among Datasette's databases, loaded into memory, swapped when rebuilt.

`python -m ingest` only ever os.replace()s a finished file onto the served
path, so the old inode stays intact for whoever still has it open. A watcher
thread notices the new inode, loads it as a new Build (a Datasette Database
pinned to that inode, with its Snapshot in memory) and publishes it with one
reference assignment: requests that already hold the old Build finish on it,
new requests get the new one. A thread rather than an asyncio task because
`datasette serve` runs the startup hooks in a loop of its own, before
uvicorn starts its loop.

The registry is whichever immutable file Datasette serves that is a build
of this project, whatever the file is called: `make serve DB=/srv/x.db`
serves it as the database `x`, and every page links to that name.
"""

import asyncio
import gc
import glob
import hashlib
import itertools
import json
import os
import sqlite3
import threading
import time
import traceback
import weakref
from pathlib import Path
from urllib.parse import quote

from datasette.database import Database
from datasette.version import __version__ as datasette_version

from iana_ports.snapshot import Snapshot
from iana_ports.store import NotABuild

POLL_SECONDS = 0.25
ROOT = Path(__file__).resolve().parents[2]
# What renders an answer besides the build: the same checkout gives the same
# fingerprint on every replica (file contents only, never paths or times).
CODE = ("iana_ports", "plugins", "templates", "static", "metadata.yml", "settings.json")


def code_fingerprint() -> str:
    h = hashlib.sha256(f"datasette {datasette_version}\0".encode())
    for entry in CODE:
        path = ROOT / entry
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for f in files:
            if f.is_file() and "__pycache__" not in f.parts:
                h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


class Build(Database):
    """One immutable registry file as Datasette serves it, pinned to the inode it
    was opened on, with the build loaded into memory (`snapshot`).

    Datasette keys its per-thread connections by database name; this class
    keeps them per object instead, so a successor with the same name never
    reuses a connection to the replaced file.
    """

    def __init__(self, ds, path: str, code: str):
        super().__init__(ds, path=path, is_mutable=False)
        self._local = threading.local()
        # Every connection opens this descriptor's inode, never whatever the
        # path names by then, so a swap cannot tear one object across two files.
        fd = os.open(path, os.O_RDONLY)
        st = os.fstat(fd)
        self.identity = (st.st_dev, st.st_ino)
        self._uri, release = _pin(path, fd)
        self._release = weakref.finalize(self, release)
        self.snapshot = Snapshot(self._uri)
        ingests = self.snapshot.ingests()
        # The build is its registry history plus the common-uses file built with it:
        # every ingest row whole, since pages show more of it than the sha256s (the
        # home page its fetch time, Datasette's ingests table every column), so two
        # separate ingests of one registry file are two builds, and copies of one file one.
        state = [json.dumps(i, sort_keys=True) for i in ingests]
        self.etag = 'W/"{}"'.format(hashlib.sha256("\n".join([*state, code]).encode()).hexdigest()[:32])
        self.loaded_at = time.time()
        conn = sqlite3.connect(self._uri, uri=True)
        try:
            self._cached_table_counts = {
                name: conn.execute(f"select count(*) from [{name}]").fetchone()[0]
                for (name,) in conn.execute("select name from sqlite_master where type = 'table'").fetchall()
            }
        finally:
            conn.close()

    def connect(self, write=False):
        conn = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
        self._all_file_connections.append(conn)
        return conn

    async def execute_fn(self, fn):
        if self.ds.executor is None:
            return await super().execute_fn(fn)

        def in_thread():
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self.connect()
                self.ds._prepare_connection(conn, self.name)
                self._local.conn = conn
            return fn(conn)

        return await asyncio.get_running_loop().run_in_executor(self.ds.executor, in_thread)

    def close(self):
        super().close()
        self.snapshot.close()
        self._release()


_pins = itertools.count(1)


def _pin(path: str, fd: int):
    """(SQLite URI naming the descriptor's inode for as long as the build is served, its release).

    SQLite resolves /proc/self/fd/N to the name the file had before opening
    it, so a connection opened after a swap (a worker thread's first query, a
    search) read the next build, or an empty "NAME (deleted)" that SQLite
    created beside it ("no such table" 400s after every rebuild). A hard link
    to the inode under a name of this object's own stays right; ingest never
    touches it, and start() removes those a killed server left. Where no link
    can be made (a read-only folder) the descriptor's path is all there is.
    """
    p = Path(path)
    pin = p.with_name(f".{p.name}.{os.getpid()}-{next(_pins)}.served")
    try:
        pin.unlink(missing_ok=True)
        os.link(path, pin)
    except OSError:
        return f"file:/proc/self/fd/{fd}?immutable=1", lambda: os.close(fd)
    if os.stat(pin).st_ino != os.fstat(fd).st_ino:
        # Replaced between the open and the link: _swap() keeps the old build, the next poll loads the new.
        pin.unlink()
        os.close(fd)
        raise OSError(f"{path} was replaced while it was loaded")
    os.close(fd)
    return f"file:{quote(str(pin))}?immutable=1", lambda: pin.unlink(missing_ok=True)


def _unpin_dead(path: str) -> None:
    """Remove the links servers that are gone left beside `path` (their pid is in the name)."""
    p = Path(path)
    for pin in p.parent.glob(f".{glob.escape(p.name)}.*-*.served"):
        pid = pin.name[len(p.name) + 2 :].partition("-")[0]
        try:
            os.kill(int(pid), 0)
        except (ValueError, ProcessLookupError):
            pin.unlink(missing_ok=True)
        except PermissionError:
            pass  # alive, someone else's


def current(datasette) -> Build | None:
    """The build being served, or None when no registry database is loaded."""
    for db in datasette.databases.values():
        if isinstance(db, Build):
            return db
    return None


def _swap(ds, name: str, path: str, code: str) -> None:
    try:
        st = os.stat(path)
        existing = ds.databases.get(name)
        if getattr(existing, "identity", None) == (st.st_dev, st.st_ino):
            return
        fresh = Build(ds, path, code)
    except (OSError, sqlite3.Error, NotABuild):
        # Missing, not a registry build, or not finished: keep serving what we have.
        return
    fresh.name = name
    fresh.route = existing.route if existing else name
    databases = dict(ds.databases)
    databases[name] = fresh
    ds.databases = databases  # one reference assignment: requests see old or new
    del existing
    # Requests still on the old build keep it alive; once they finish, only
    # reference cycles (tracebacks, frames) can, so collect them now rather
    # than at the next full GC, releasing the replaced file's descriptor.
    gc.collect()


def _watch(ds, files: dict[str, str], code: str) -> None:
    while True:
        for name, path in files.items():
            try:
                _swap(ds, name, path, code)
            except Exception:
                # A build nobody foresaw failing: logged, and the next one is still picked up.
                traceback.print_exc()
        time.sleep(POLL_SECONDS)


def start(datasette) -> None:
    """Load the served registry file(s) now and watch them for rebuilds."""
    files = {
        name: db.path
        for name, db in datasette.databases.items()
        if db.path and not db.is_mutable and not db.is_memory
    }
    if not files:
        return
    code = code_fingerprint()
    for name, path in files.items():
        _unpin_dead(path)
        _swap(datasette, name, path, code)
    threading.Thread(target=_watch, args=(datasette, files, code), name="iana-builds", daemon=True).start()
