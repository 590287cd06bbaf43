"""Datasette's SQL time limit, kept by a clock thread rather than by a callback inside SQLite.

Datasette 0.65.5 stops a query at its time limit with a progress handler: a
Python function SQLite calls every 1,000 virtual-machine steps, taking the GIL
each time. Three SQL threads busy with visitors' slow queries took it so often
that the event loop waited 1-5 s for it between two callbacks: /-/healthz,
which needs no thread at all, took up to 5 s while 12 clients looped a 1 s
query. Here one clock thread calls `Connection.interrupt()` (sqlite3_interrupt,
safe from any thread) at the deadline, and the query runs without the GIL
from start to end. The outcome is Datasette's own: SQLite's "interrupted"
error, which Datasette turns into its QueryInterrupted.
"""

import contextlib
import heapq
import itertools
import threading
import time


class Clock:
    def __init__(self):
        self._cond = threading.Condition()
        # (deadline, token) of every query under way; a finished query's entry is dropped
        # when it reaches the top.
        self._deadlines = []
        self._running = {}
        self._tokens = itertools.count()
        self._thread = None

    @contextlib.contextmanager
    def limit(self, conn, ms: float):
        """Datasette's sqlite_timelimit(conn, ms), as a context manager of the same use."""
        token = next(self._tokens)
        with self._cond:
            self._running[token] = conn
            heapq.heappush(self._deadlines, (time.monotonic() + ms / 1000, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="iana-sql-clock", daemon=True)
                self._thread.start()
            self._cond.notify()
        try:
            yield
        finally:
            # Under the lock: once this returns, no interrupt meant for this query can reach
            # the connection's next one.
            with self._cond:
                self._running.pop(token, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._deadlines and self._deadlines[0][1] not in self._running:
                    heapq.heappop(self._deadlines)
                if not self._deadlines:
                    self._cond.wait()
                    continue
                deadline, token = self._deadlines[0]
                left = deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                heapq.heappop(self._deadlines)
                self._running.pop(token).interrupt()


CLOCK = Clock()


def install() -> None:
    """Make Datasette's queries use CLOCK (datasette.database looks sqlite_timelimit up per query)."""
    import datasette.database

    datasette.database.sqlite_timelimit = CLOCK.limit
