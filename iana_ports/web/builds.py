"""The build being served: found among Datasette's databases, loaded into memory, swapped when rebuilt.

`python -m ingest` only ever os.replace()s a finished file onto the served
path, so the old inode stays intact for whoever still has it open. A watcher
thread notices a new file at the path, loads it as a new Build (a Datasette
Database pinned to the inode it opened, with its MemoryStore in memory) and
publishes it with one reference assignment: requests that already hold the
old Build finish on it, new requests get the new one. A thread rather than
an asyncio task because `datasette serve` runs the startup hooks in a loop
of its own, before uvicorn starts its loop.

The served path may be a symlink (`current -> iana-<sha>.db`): it is
resolved before the file is opened, and the pin is made from the descriptor
itself, so the build is always the inode that was opened and read.

A file that is not a usable build (garbage, a corrupt or inconsistent
database, one MemoryStore refuses) is never published: the last good build
stays served, the file is logged once as one `error:` line, and it is tried
again only when its identity (device, inode, size, mtime) changes. Whether
the path still backs the served build is kept for /-/healthz (stale()).

The registry is whichever immutable file Datasette serves that is a build
of this project, whatever the file is called: `make serve DB=/srv/x.db`
serves it as the database `x`, and every page links to that name.
"""

import asyncio
import gc
import hashlib
import itertools
import json
import os
import re
import sqlite3
import stat
import sys
import threading
import time
import traceback
import weakref
from pathlib import Path
from urllib.parse import quote

from datasette.database import Database
from datasette.version import __version__ as datasette_version

from iana_ports.files import alive
from iana_ports.memory import MemoryStore
from iana_ports.store import NotABuild

from . import workers

POLL_SECONDS = 0.25
# What renders an answer besides the build: the package's code, templates, static files,
# metadata and settings (in a checkout, iana_ports/web/config links to the top level's).
# The same release gives the same fingerprint on every replica (contents only, never times).
PACKAGE = Path(__file__).resolve().parents[1]
# Not code: the build a wheel carries, and compiled files.
NOT_CODE = {"__pycache__", "data"}
# Reads every page's b-tree structure (some 0.1 s for a build): a file corrupt in
# pages the MemoryStore never reads (an index, the full-text tables) is refused too.
QUICK_CHECK_SQL = "pragma quick_check(1)"
TABLE_COUNTS_SQL = "select name from sqlite_master where type = 'table'"
FILE_CHUNK = 1 << 20  # bytes per read of the served file (digest, downloads)
# Connections opened with the build for threads to take, per thread that may read it
# (Datasette's SQL threads, the site's own: workers.SITE_THREADS) two (Datasette's and the
# MemoryStore's), plus the loader's and the CSV export's; past that, opened on demand.
SPARE_PER_THREAD, SPARE_EXTRA = 2, 2
# /-/healthz's reasons: public, so they name no path.
GONE = "the served file is no longer at its path"
UNREADABLE = "the served file is no longer readable at its path"
REFUSED = "the file now at the served path is not a usable build: {}"
MISSING = "missing"  # Watch.refused's identity of a path with no file
# The links _pin() makes: .NAME.PID-N.served, beside the file they pin.
_PIN_NAME = re.compile(r"\..+\.(?P<pid>[0-9]+)-[0-9]+\.served")


def code_fingerprint() -> str:
    h = hashlib.sha256(f"datasette {datasette_version}\0".encode())
    found = []
    for folder, dirs, names in os.walk(PACKAGE, followlinks=True):
        dirs[:] = [d for d in dirs if d not in NOT_CODE]
        found += [Path(folder, n) for n in names]
    for f in sorted(found):
        h.update(str(f.relative_to(PACKAGE)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def file_identity(st: os.stat_result) -> tuple:
    """What tells one file from another at a path, including a file rewritten in place."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class Build(Database):
    """One immutable registry file as Datasette serves it, pinned to the inode it
    was opened on, with the build loaded into memory (`store`, a MemoryStore).

    Datasette keys its per-thread connections by database name; this class
    keeps them per object instead, so a successor with the same name never
    reuses a connection to the replaced file. The descriptor the file was
    opened with stays open as long as the build: downloads read it, so they
    are the bytes that were checked and digested, whatever the path (or the
    file's permissions) say by then.
    """

    def __init__(self, ds, path: str, code: str):
        super().__init__(ds, path=path, is_mutable=False)
        self._local = threading.local()
        self._made = {}
        # Resolved first, so the pin is made beside the file itself, never of a symlink.
        fd = os.open(os.path.realpath(path), os.O_RDONLY | os.O_CLOEXEC)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise NotABuild("not a regular file")
            self._uri, unpin = _pin(os.path.realpath(path), fd)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.identity = (st.st_dev, st.st_ino)  # the inode served
        self.file_identity = file_identity(st)
        self._release = weakref.finalize(self, _release, fd, unpin)
        try:
            self._load(code)
        except BaseException:
            self.close()
            raise
        self.cached_size = st.st_size
        self.cached_hash = self.sha256

    def _load(self, code: str) -> None:
        # Opened while the file is known to be readable: a file made unreadable at its path
        # (chmod 000) cannot be opened again, but a connection already open reads on.
        threads = (self.ds.setting("num_sql_threads") or 0) + workers.SITE_THREADS
        self._spare = [self._open() for _ in range(SPARE_PER_THREAD * threads + SPARE_EXTRA)]
        conn = sqlite3.connect(self._uri, uri=True)
        try:
            problem = conn.execute(QUICK_CHECK_SQL).fetchone()[0]
            if problem != "ok":
                # One line for the log: SQLite heads its report "*** in database main ***".
                words = " ".join(problem.replace("*** in database main ***", "").split())
                raise NotABuild(f"the database is corrupt ({words})")
            self._cached_table_counts = {
                name: conn.execute(f"select count(*) from [{name}]").fetchone()[0]
                for (name,) in conn.execute(TABLE_COUNTS_SQL).fetchall()
            }
        finally:
            conn.close()
        self.store = MemoryStore(self._uri, self.take_connection)  # refuses what the pages could not show
        ingests = self.store.ingests()
        # The build is its registry history plus the common-uses file built with it:
        # every ingest row whole, since pages show more of it than the sha256s (the
        # home page its fetch time, Datasette's ingests table every column), so two
        # separate ingests of one registry file are two builds, and copies of one file one.
        state = [json.dumps(i, sort_keys=True) for i in ingests]
        self.etag = 'W/"{}"'.format(hashlib.sha256("\n".join([*state, code]).encode()).hexdigest()[:32])
        h = hashlib.sha256()
        for chunk in self.chunks():
            h.update(chunk)
        self.sha256 = h.hexdigest()
        self.loaded_at = time.time()

    @property
    def mtime_ns(self):
        return self.file_identity[3]

    def chunks(self, size: int = FILE_CHUNK):
        """The file as it was opened, from its start, read from the build's own descriptor."""
        offset = 0
        while chunk := os.pread(self.fd, size, offset):
            offset += len(chunk)
            yield chunk

    async def once(self, name: str, make):
        """The value of `await make()`, made once for this build however many requests ask at once.

        Concurrent first requests (30 right after a swap) wait for one
        computation rather than each making it. A failure is not kept: every
        waiter gets it, and the next request tries again. Waiters are shielded,
        so a visitor who goes away does not cancel what the others wait for.
        """
        made = self._made.get(name)
        if made is not None and not isinstance(made, asyncio.Future):
            return made
        # A computation started on another event loop (in-process clients) cannot be awaited here.
        if made is None or made.get_loop() is not asyncio.get_running_loop():
            made = self._made[name] = asyncio.ensure_future(make())
        try:
            value = await asyncio.shield(made)
        except Exception:
            if self._made.get(name) is made and made.done():
                del self._made[name]
            raise
        self._made[name] = value
        return value

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._uri, uri=True, check_same_thread=False)
        self._all_file_connections.append(conn)  # closed with the build
        return conn

    def take_connection(self) -> sqlite3.Connection:
        """A connection to the pinned file for one thread to keep: one opened with the build while any is left."""
        try:
            return self._spare.pop()  # atomic: threads never get the same one
        except IndexError:
            return self._open()

    def connect(self, write=False):
        return self.take_connection()

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
        super().close()  # every connection it opened
        self._release()


def _release(fd: int, unpin) -> None:
    unpin()
    os.close(fd)


_pins = itertools.count(1)


def _pin(real: str, fd: int):
    """(SQLite URI naming the descriptor's inode for as long as the build is served, its release).

    SQLite resolves /proc/self/fd/N to the name the file had before opening
    it, so a connection opened after a swap (a worker thread's first query, a
    search) read the next build, or an empty "NAME (deleted)" that SQLite
    created beside it ("no such table" 400s after every rebuild). A hard link
    to the inode under a name of this object's own stays right; ingest never
    touches it, and start() removes those a killed server left. It is made
    from the descriptor (linkat(2) with AT_SYMLINK_FOLLOW on /proc/self/fd/N),
    so it is the inode opened even if the path was replaced meanwhile; plain
    link(2) of a symlink would link the symlink, which then follows the next
    file put at its target. Where no link can be made (a read-only folder)
    the descriptor's path is all there is.
    """
    p = Path(real)
    pin = f".{p.name}.{os.getpid()}-{next(_pins)}.served"
    folder = os.open(p.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            os.unlink(pin, dir_fd=folder)
        except FileNotFoundError:
            pass
        # A dir_fd makes CPython call linkat(2), which alone honours follow_symlinks.
        os.link(f"/proc/self/fd/{fd}", pin, dst_dir_fd=folder, follow_symlinks=True)
    except OSError:
        return f"file:/proc/self/fd/{fd}?immutable=1", lambda: None
    finally:
        os.close(folder)
    path = p.with_name(pin)
    return f"file:{quote(str(path))}?immutable=1", lambda: path.unlink(missing_ok=True)


def _unpin_dead(folder: Path) -> None:
    """Remove the links servers that are gone left in `folder` (their pid is in the name)."""
    try:
        names = [entry.name for entry in os.scandir(folder)]
    except OSError:
        return
    for name in names:
        m = _PIN_NAME.fullmatch(name)
        if m is not None and not alive(int(m["pid"])):
            (folder / name).unlink(missing_ok=True)


def current(datasette) -> Build | None:
    """The build being served, or None when no registry database is loaded."""
    for db in datasette.databases.values():
        if isinstance(db, Build):
            return db
    return None


class Watch:
    """What the watcher last found at each served path (name -> path)."""

    def __init__(self, files: dict[str, str], code: str):
        self.files = files
        self.code = code
        # name -> (identity of a file that could not be served, or MISSING; why).
        self.refused: dict[str, tuple] = {}
        self.bug_logged: float | None = None
        # name -> (the served build's file, why the path no longer backs it): a build
        # published since has no entry until the watcher has looked at its path.
        self.stale: dict[str, tuple] = {}

    def say(self, name: str, served, why: str | None) -> None:
        if served is not None:
            self.stale[name] = (served.file_identity, why)


_watches: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def stale(datasette, build: Build) -> str | None:
    """Why the served path no longer matches `build` (deleted, replaced by a file that
    cannot be served, unreadable), or None while it does."""
    watch = _watches.get(datasette)
    served, why = watch.stale.get(build.name, (None, None)) if watch is not None else (None, None)
    return why if served == build.file_identity else None


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _poll(ds, watch: Watch, name: str) -> None:
    """Look at one served path once: swap in a new good build, or say why not (once per file)."""
    path = watch.files[name]
    served = ds.databases.get(name)
    served = served if isinstance(served, Build) else None
    keeping = f"still serving the build of {served.sha256[:12]}" if served else "no build is served"
    try:
        st = os.stat(path)
    except OSError as exc:
        watch.say(name, served, GONE)
        if watch.refused.get(name, (None,))[0] != MISSING:
            watch.refused[name] = (MISSING, exc.strerror)
            _log(f"error: {path}: {exc.strerror}; {keeping}")
        return
    found = file_identity(st)
    if served is not None and served.file_identity == found:
        watch.refused.pop(name, None)
        # Still the build's file; made unreadable (chmod), it serves on from what is open,
        # but no new descriptor could be had. (For root, access() says readable.)
        watch.say(name, served, None if os.access(path, os.R_OK) else UNREADABLE)
        return
    if watch.refused.get(name, (None,))[0] == found:
        return  # said once already; tried again when the file changes
    try:
        fresh = Build(ds, path, watch.code)
    except (OSError, sqlite3.Error, NotABuild) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    except Exception as exc:
        # A file nobody foresaw failing: its traceback once, for us.
        why = f"unexpected {type(exc).__name__}"
        traceback.print_exc()
    else:
        _publish(ds, name, fresh)
        watch.refused.pop(name, None)
        return
    watch.refused[name] = (found, why)
    watch.say(name, served, REFUSED.format(why))
    _log(f"error: {path}: not served: {why}; {keeping}")


def _publish(ds, name: str, fresh: Build) -> None:
    existing = ds.databases.get(name)
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


def _watch(ds, watch: Watch) -> None:
    while True:
        for name in watch.files:
            try:
                _poll(ds, watch, name)
            except Exception:
                # _poll() catches what a file can cause; this is a bug of ours, and the
                # next poll may well hit it again: logged once a minute at most.
                if watch.bug_logged is None or time.monotonic() - watch.bug_logged >= 60:
                    watch.bug_logged = time.monotonic()
                    traceback.print_exc()
        time.sleep(POLL_SECONDS)


def start(datasette) -> None:
    """Load the served registry file(s) now and watch them for rebuilds."""
    files = {
        name: db.path for name, db in datasette.databases.items() if db.path and not db.is_mutable and not db.is_memory
    }
    if not files:
        return
    watch = _watches[datasette] = Watch(files, code_fingerprint())
    for name, path in files.items():
        for folder in {Path(path).parent, Path(os.path.realpath(path)).parent}:
            _unpin_dead(folder)
        _poll(datasette, watch, name)
    if current(datasette) is None:
        # Every file refused: Datasette's own pages must not show the registry's either (a 404
        # there, a 503 on the site's pages) until a good file is put at its path and published.
        # Beside a build, a file that is not one is another database, Datasette's to serve.
        for name in files:
            datasette.remove_database(name)
    threading.Thread(target=_watch, args=(datasette, watch), name="iana-builds", daemon=True).start()
