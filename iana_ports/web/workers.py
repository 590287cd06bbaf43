"""Who runs the work: the site's own on threads of its own, visitors' SQL on Datasette's, bounded.

Datasette runs every query on its pool of `num_sql_threads` threads, first come
first served, under its SQL time limit. Twelve visitors looping a 1 s query
kept the site's search, exports and sitemaps waiting 4-28 s behind them, and a
sitemap's trivial query was interrupted by the visitors' time limit. So:

- the site's own work that needs a thread (full-text search, exports,
  sitemaps, the MCP tools) runs on SITE_THREADS threads no visitor's SQL ever
  reaches, on the build's own read-only connections (one per thread, no time
  limit: these queries are the site's, bounded by construction);
- requests Datasette answers (tables, rows, SQL, canned queries) wait in a
  queue of at most VISITORS_PER_SQL_THREAD per SQL thread; the next one is
  refused with a 503 and `Retry-After` at once rather than queued for tens of
  seconds;
- a query's failure is let go of on its own thread (Executor): the event
  loop stalled for the length of a whole query each time it dropped the
  exception of the previous one on the same connection (freeing the
  cursor in the exception's frames waits for the connection's mutex, with
  the GIL held: /-/healthz took 1-5 s under the 12 clients).
"""

import asyncio
import traceback
from concurrent.futures import ThreadPoolExecutor

# Two cores' worth of the site's own SQL at once; the rest of the site's pages need no thread.
SITE_THREADS = 4
# Datasette's requests in flight per SQL thread: with the 1 s time limit the last
# one queued waits about this many seconds.
VISITORS_PER_SQL_THREAD = 4
RETRY_AFTER = b"2"
BUSY = "The server is answering as many database queries as it can; try again in a few seconds."


class Executor(ThreadPoolExecutor):
    """A thread pool whose tasks' exceptions keep no local variables of the frames they left:
    those (cursors, rows) are freed on the task's thread, never on the event loop's."""

    def submit(self, fn, /, *args, **kwargs):
        def run():
            try:
                return fn(*args, **kwargs)
            except BaseException as exc:
                for e in (exc, exc.__cause__, exc.__context__):
                    if e is not None:
                        traceback.clear_frames(e.__traceback__)
                raise

        return super().submit(run)


_site = Executor(SITE_THREADS, thread_name_prefix="iana-site")


def install(datasette) -> None:
    """Datasette's SQL threads, made an Executor, at start-up."""
    if datasette.executor is not None and not isinstance(datasette.executor, Executor):
        old = datasette.executor
        datasette.executor = Executor(datasette.setting("num_sql_threads"))
        old.shutdown(wait=False)


async def site(fn, *args):
    """fn(*args) on the site's own threads, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(_site, fn, *args)


class Gate:
    """How many of Datasette's requests are in flight, and whether one more may wait."""

    def __init__(self, datasette):
        self.limit = VISITORS_PER_SQL_THREAD * max(1, datasette.setting("num_sql_threads"))
        self.inside = 0

    def enter(self) -> bool:
        # One event loop: no lock needed between the test and the increment.
        if self.inside >= self.limit:
            return False
        self.inside += 1
        return True

    def leave(self) -> None:
        self.inside -= 1
