"""Serve a rebuilt database without a restart.

`python -m ingest` only ever os.replace()s a finished file onto the served
path, so the old inode stays intact for whoever still has it open. A watcher
thread notices the new inode and swaps in a fresh Database object; requests
that already hold the old object finish on the old file, new requests get the
new one. A thread rather than an asyncio task because `datasette serve` runs
the startup hooks in a loop of their own, before uvicorn starts its loop.
"""

import asyncio
import gc
import hashlib
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from datasette import hookimpl
from datasette.database import Database

POLL_SECONDS = 0.25
ROOT = Path(__file__).resolve().parent.parent

BUILD_SQL = """
select sha256, fetched_at, source, row_count,
  max(coalesce(newest_registration_date, ''), coalesce(newest_modification_date, '')) as newest
from ingests order by id desc limit 1
"""
SHAS_SQL = "select sha256 from ingests order by id"
TABLES_SQL = "select name from sqlite_master where type = 'table'"


def _code_fingerprint() -> str:
    # Pages change when the code that renders them does, not only the data.
    h = hashlib.sha256()
    for folder in ("plugins", "templates", "static"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


class SnapshotDatabase(Database):
    """An immutable database file, pinned to the inode it was opened on.

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
        self._release = weakref.finalize(self, os.close, fd)
        self._uri = f"file:/proc/self/fd/{fd}?immutable=1"
        st = os.fstat(fd)
        self.identity = (st.st_dev, st.st_ino)
        self.build = self._read_build(code)

    def _read_build(self, code: str) -> dict:
        conn = sqlite3.connect(self._uri, uri=True)
        try:
            conn.row_factory = sqlite3.Row
            build = dict(conn.execute(BUILD_SQL).fetchone())
            shas = [r[0] for r in conn.execute(SHAS_SQL)]
            self._cached_table_counts = {
                name: conn.execute(f"select count(*) from [{name}]").fetchone()[0]
                for (name,) in conn.execute(TABLES_SQL).fetchall()
            }
        finally:
            conn.close()
        history = hashlib.sha256("\n".join([*shas, code]).encode()).hexdigest()
        build["etag"] = f'"{history[:32]}"'
        build["loaded_at"] = time.time()
        return build

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
        self._release()


def _swap(ds, name: str, path: str, code: str) -> None:
    try:
        st = os.stat(path)
        current = ds.databases.get(name)
        if getattr(current, "identity", None) == (st.st_dev, st.st_ino):
            return
        fresh = SnapshotDatabase(ds, path, code)
    except (OSError, sqlite3.Error, TypeError):
        # Missing or not (yet) a finished build: keep serving what we have.
        return
    fresh.name = name
    fresh.route = current.route if current else name
    databases = dict(ds.databases)
    databases[name] = fresh
    ds.databases = databases  # one reference assignment: requests see old or new
    del current
    # Requests still on the old object keep it alive; once they finish, only
    # reference cycles (tracebacks, frames) can, so collect them now rather
    # than at the next full GC, releasing the replaced file's descriptor.
    gc.collect()


def _watch(ds, files: dict[str, str], code: str) -> None:
    while True:
        for name, path in files.items():
            _swap(ds, name, path, code)
        time.sleep(POLL_SECONDS)


@hookimpl
def startup(datasette):
    files = {
        name: db.path
        for name, db in datasette.databases.items()
        if db.path and not db.is_mutable and not db.is_memory
    }
    if not files:
        return
    code = _code_fingerprint()
    for name, path in files.items():
        _swap(datasette, name, path, code)
    threading.Thread(
        target=_watch, args=(datasette, files, code), name="iana-reload", daemon=True
    ).start()
