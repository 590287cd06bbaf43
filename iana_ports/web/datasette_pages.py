"""Datasette's own pages (tables, rows, SQL) as part of the site.

- Metadata for the registry database, whatever it is called, from
  iana_ports.schema (descriptions, facets, sort) and the canned queries below.
- Errors on Datasette's pages answered by the site's one error path; input
  Datasette 0.65.5 fails on with a 500 (a `_through` or `_facet` that is not
  JSON, a short key on a compound-key row page, a static path too long for
  the filesystem) is the request's fault on this read-only site: a 4xx.
- Port numbers and service names in Datasette's tables, row pages and query
  results link to the site's port and service pages (render_cell()).
- Resource limits on the connections visitors' SQL runs on: SQLite's own
  limits hold per function call, where Datasette's time limit cannot
  (`printf('%.*c', 200000000, 'x')` is one call), and a byte budget bounds
  what one query may return; `pragma_database_list` (the served file's
  path, the server's pid in its pin's name) cannot be read.
- Datasette's CSV made honest (guard_csv()): a failed query is a 4xx, and a
  stream that fails half way is cut off rather than finished with an error line.
"""

import errno
import functools
import json
import os
import re
import sqlite3
import sys
import threading
import traceback

from datasette.utils.asgi import AsgiStream, Base400, NotFound
from datasette.views.base import DataView, DatasetteError
from markupsafe import Markup

from iana_ports import schema
from iana_ports.facts import MAX_PORT

from . import builds, pages, render

# Longest value a visitor's SQL may make, and the most one query may return.
MAX_VALUE = 1_000_000
MAX_RESULT = 16_000_000
LIMITS = {
    sqlite3.SQLITE_LIMIT_LENGTH: MAX_VALUE,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 100_000,
    sqlite3.SQLITE_LIMIT_COLUMN: 100,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1_000,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 200,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 50,
}
# What Datasette raises when it reads a malformed parameter (see error_status()).
BAD_INPUT = (ValueError, TypeError, LookupError, AttributeError, ArithmeticError)
# The project's own code on Datasette's pages (cells, template helpers, plugins, templates,
# all inside the package): an exception raised there is a bug, whatever its type.
OURS = (os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ""),)
# Static paths the filesystem refuses: a visitor's typing, not the server's trouble.
NO_SUCH_FILE = frozenset({errno.ENOENT, errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.EINVAL})
# Datasette's only HTML error message (its SQL time limit) is written for its own error page.
TOO_LONG = "The SQL query took too long and was stopped; ask for less."
# Process-wide ceiling on SQLite's own memory (sorting, temporary tables).
HEAP_LIMIT = 256 * 1024 * 1024
# Tables a visitor's SQL may not read: pragma_database_list names the served file.
UNREADABLE = frozenset({"pragma_database_list"})
TOO_BIG_NUMBER = f"A number in this request is too large: SQLite integers run to {2**63 - 1:,}."
NO_MEMORY = "The query needs more memory than the server allows its queries; ask for less."

CANNED_QUERIES = {
    "port_lookup": {
        "title": "Port lookup",
        "description": "Status of one port and every registry row that covers it.",
        "sql": """select ports.port, ports.status, ports.tcp, ports.udp, ports.sctp, ports.dccp,
  ports.range, ports.verdict, registrations.service_name, registrations.transport,
  registrations.description, registrations.id as registration
from ports
left join registrations
  on registrations.port_low <= ports.port and registrations.port_high >= ports.port
where ports.port = :port
order by registrations.id""",
    },
    "service_lookup": {
        "title": "Service lookup",
        "description": "Every registry row for a service name (case-insensitive).",
        "sql": "select * from registrations where service_key = lower(trim(:name)) order by id",
    },
    "unassigned_between": {
        "title": "Unassigned ports between two numbers",
        "description": (
            "Ports from first to last that are unassigned on every transport listed in transports "
            "(comma-separated, e.g. tcp,udp); an empty list means all four, a list naming none of the "
            "four finds nothing."
        ),
        "sql": """with listed as (
  select
    instr(',' || replace(lower(:transports), ' ', '') || ',', ',tcp,') > 0 as tcp,
    instr(',' || replace(lower(:transports), ' ', '') || ',', ',udp,') > 0 as udp,
    instr(',' || replace(lower(:transports), ' ', '') || ',', ',sctp,') > 0 as sctp,
    instr(',' || replace(lower(:transports), ' ', '') || ',', ',dccp,') > 0 as dccp
),
wanted as (
  select trim(:transports) = '' as every, tcp, udp, sctp, dccp from listed
)
select port, range, ports.tcp, ports.udp, ports.sctp, ports.dccp
from ports, wanted
where port between :first and :last
  and (wanted.every or wanted.tcp or wanted.udp or wanted.sctp or wanted.dccp)
  and (ports.tcp = 'unassigned' or not (wanted.tcp or wanted.every))
  and (ports.udp = 'unassigned' or not (wanted.udp or wanted.every))
  and (ports.sctp = 'unassigned' or not (wanted.sctp or wanted.every))
  and (ports.dccp = 'unassigned' or not (wanted.dccp or wanted.every))
order by port""",
    },
    # Named safe_ports in its URL since the first release; titled in the site's words (/free).
    "safe_ports": {
        "title": "Free ports from a port",
        "description": (
            "Ports from start (a port number) up that are good for your own service: unassigned by IANA "
            "on tcp and udp, in the User range, outside every listed operating system's default ephemeral "
            "range, and not the known default of other software."
        ),
        "sql": """select port, range from ports
where verdict = 'good' and port >= coalesce(nullif(:start, ''), 0)
order by port""",
    },
}


# Titles of the registry and its tables on Datasette's pages (headings, breadcrumbs), in the site's words.
DATABASE_TITLE = "IANA registry"
TABLE_TITLES = {
    "registrations": "Registrations",
    "ingests": "Ingests",
    "ports": "Ports",
    "ranges": "Ranges",
    "os_ephemeral_ranges": "OS ephemeral ranges",
    "unassigned_ranges": "Unassigned runs",
    "services": "Services",
    "references": "References",
    "changes": "Changes",
    "common_uses": "Common uses",
}


@functools.lru_cache(maxsize=1)
def database_metadata() -> dict:
    """The registry database's metadata, from the schema module: made once.

    Datasette merges a hook's answer into a dict of its own, and its permission
    checks deep-copy it; nothing changes this one (metadata.yml holds no
    `databases`, the only key merged into it)."""
    tables = {}
    for t in schema.TABLES:
        meta = {
            "title": TABLE_TITLES.get(t.name, t.name),
            "description": t.description,
            "columns": {c: d for c, (_, d) in t.columns.items()},
        }
        if t.facets:
            meta["facets"] = list(t.facets)
        if t.sort:
            meta["sort"] = t.sort
        if t.sort_desc:
            meta["sort_desc"] = t.sort_desc
        tables[t.name] = meta
    return {
        "title": DATABASE_TITLE,
        "description": "The registry as published (registrations), and tables derived from it for every port.",
        "tables": tables,
        "queries": CANNED_QUERIES,
    }


# Keys the registry's metadata has nothing for, which Datasette asks for on every page:
# the instance-wide ones metadata.yml answers, and "tables", asked only by the
# permission checks (Datasette 0.65.5's _table_permission_allows), which deep-copy
# what they get several times a page and read nothing but `allow` from it.
NOTHING_FOR = frozenset(
    {
        "source",
        "source_url",
        "license",
        "license_url",
        "about",
        "about_url",
        "title",
        "description_html",
        "extra_css_urls",
        "extra_js_urls",
        "allow",
        "allow_sql",
        "plugins",
        "tables",
    }
)


def metadata(datasette, key=None) -> dict:
    """The get_metadata hook's answer: the registry's metadata, under the served name."""
    if key in NOTHING_FOR:
        return {}
    build = builds.current(datasette)
    return {"databases": {build.name: database_metadata()}} if build else {}


def crumbs(datasette, database: str | None = None, table: str | None = None) -> list[tuple[str, str]]:
    """(href, label) of the breadcrumbs above one of Datasette's pages, titled as the site
    writes them ("Home", "IANA registry", "Ports"); another database keeps its own names."""
    urls = datasette.urls
    items = [(urls.instance(), "Home")]
    if database:
        build = builds.current(datasette)
        meta = database_metadata() if build and build.name == database else {}
        items.append((urls.database(database), meta.get("title", database)))
        if table:
            items.append((urls.table(database, table), meta.get("tables", {}).get(table, {}).get("title", table)))
    return items


class ResultTooLarge(sqlite3.DataError):
    pass


class ResultBudget:
    """A row factory that gives up once one query has returned MAX_RESULT bytes.

    It makes the sqlite3.Row objects Datasette expects; one per connection,
    and a connection runs one query at a time.
    """

    def __init__(self):
        self.cursor = None
        self.used = 0

    def __call__(self, cursor, row):
        if cursor is not self.cursor:
            self.cursor, self.used = cursor, 0
        self.used += sum(len(v) for v in row if isinstance(v, (str, bytes))) + 8 * len(row)
        if self.used > MAX_RESULT:
            raise ResultTooLarge(f"the result is over {MAX_RESULT // 1_000_000} MB; ask for fewer or shorter rows")
        return sqlite3.Row(cursor, row)


# A printf conversion: flags, width, precision, type (SQLite's printf, a C printf dialect).
_PRINTF_SPEC = re.compile(r"%[-+ #0,!]*(\*|[0-9]+)?(?:\.(\*|[0-9]+))?(.)")
_printf = threading.local()


class PrintfTooWide(ValueError):
    pass


def checked_printf(fmt, *args):
    """SQLite's printf(), refusing a width or precision over MAX_VALUE.

    SQLite 3.40 stops such a string at the length limit but still spins
    through the whole count (0.8 s for 200,000,000) and then returns NULL as
    if nothing were wrong; here the visitor gets an error at once instead.
    """
    if isinstance(fmt, str):
        rest = list(args)
        for width, precision, kind in _PRINTF_SPEC.findall(fmt):
            if kind == "%":
                continue
            for part in (width, precision):
                n = (rest.pop(0) if rest else 0) if part == "*" else (int(part) if part else 0)
                if isinstance(n, (int, float)) and abs(n) > MAX_VALUE:
                    raise PrintfTooWide(f"printf width or precision over {MAX_VALUE:,}")
            if rest and kind != "%":
                rest.pop(0)
    conn = getattr(_printf, "conn", None)
    if conn is None:
        conn = _printf.conn = sqlite3.connect(":memory:", check_same_thread=False)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE)
    placeholders = ", ".join("?" * (1 + len(args)))
    return conn.execute(f"select printf({placeholders})", (fmt, *args)).fetchone()[0]


def _authorize(action, table, column, database, trigger):
    if action == sqlite3.SQLITE_READ and table in UNREADABLE:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def limit(conn: sqlite3.Connection) -> None:
    for category, value in LIMITS.items():
        conn.setlimit(category, value)
    conn.execute(f"pragma hard_heap_limit = {HEAP_LIMIT}")
    # Datasette's own `PRAGMA database_list` (the database page's attached databases) reads
    # no table, so it is untouched; the table-valued function a query would use is refused.
    conn.set_authorizer(_authorize)
    for name in ("printf", "format"):
        conn.create_function(name, -1, checked_printf, deterministic=True)
    conn.row_factory = ResultBudget()


UNROUTED = ("", "404", "Database not found")
NO_PAGE = "There is no page at this address."


def error_status(exception: Exception) -> tuple[int, str]:
    """(status, message) for an exception on one of Datasette's pages: a 4xx for what the
    request asked, else a logged 500 that says nothing of the exception."""
    if isinstance(exception, NotFound):
        message = str(exception)
        # What Datasette says for a path that names no database or route ("/nope", "/a/b/c/d/e")
        # means nothing to a visitor of the site: say what it is.
        if message in UNROUTED:
            message = NO_PAGE
        return 404, message or "Not found"
    if isinstance(exception, Base400):
        # Forbidden, BadRequest ("_size must be a positive integer"): Datasette's words and status.
        return exception.status, str(exception) or "Bad request"
    if isinstance(exception, DatasetteError):
        # Raised with Datasette's default status 500 for input it refuses
        # (`?_sort=nosuch`, a raw FTS query that does not parse).
        status = 400 if exception.status == 500 else exception.status
        return status, TOO_LONG if exception.message_is_html else str(exception.message)
    if isinstance(exception, OverflowError):
        # A filter's value past 2**63 (`?port__gt=9223372036854775808`): SQLite cannot bind it.
        return 400, TOO_BIG_NUMBER
    if isinstance(exception, MemoryError):
        # SQLite's NOMEM at the heap limit, raised by sqlite3 as MemoryError.
        return 400, NO_MEMORY
    if isinstance(exception, sqlite3.DataError):
        # A value over SQLite's length limit (`?_where=randomblob(1000000000)`), a result over the budget.
        return 400, str(exception)
    if isinstance(exception, sqlite3.ProgrammingError):
        # A row page of a table keyed on several columns, given fewer values.
        return 404, "Not found: rows of this table are addressed by one value per key column, comma-separated."
    if isinstance(exception, OSError) and exception.errno in NO_SUCH_FILE:
        # Never the path itself.
        return 404, "Not found"
    if isinstance(exception, BAD_INPUT) and not _raised_in_our_code(exception):
        # Datasette 0.65.5 reads some parameters without checking them
        # (`?_through=0` indexes into an integer); on this read-only site such
        # a failure is the request's. Logged all the same, should it be a bug.
        traceback.print_exception(exception)
        return 400, "Bad request: a parameter of this URL cannot be read."
    traceback.print_exception(exception)
    return 500, pages.BROKEN


def transient(exception: Exception, path: str) -> bool:
    """Whether an error may be answered otherwise a moment later (a time limit or the memory
    limit, under another load), or is a CSV's: no cache may keep it."""
    if path.endswith(".csv") or isinstance(exception, MemoryError):
        return True
    return isinstance(exception, DatasetteError) and exception.message_is_html


def guard_csv() -> None:
    """Datasette 0.65.5's CSV, made honest; once per process.

    Its query view returns its status beside the data, which the CSV view
    drops: `/db.csv?sql=select+nosuch` answered 200 with an empty body, under
    the build's ETag. And its stream catches any exception half way, writes
    the exception's text (and the SQL) as the last line and ends the answer
    normally, so a client keeps a cut file as whole. Here the first is raised
    for the one error path, and the second ends the response without its last
    chunk, which every HTTP client reads as a broken transfer.
    """
    if getattr(DataView.as_csv, "guarded", False):
        return
    original = DataView.as_csv

    async def as_csv(self, request, database):
        data = self.data

        async def checked(request, **kwargs):
            answer = await data(request, **kwargs)
            if isinstance(answer, tuple) and len(answer) == 4 and answer[3] >= 400:
                raise DatasetteError(answer[0].get("error") or "Bad request", status=answer[3])
            return answer

        # The view object is made for this one request (BaseView.as_view).
        self.data = checked
        response = await original(self, request, database)
        if isinstance(response, AsgiStream):
            response.asgi_send = functools.partial(_stream_or_abort, response)
        return response

    as_csv.guarded = True
    DataView.as_csv = as_csv


async def _stream_or_abort(stream: AsgiStream, send) -> None:
    """AsgiStream.asgi_send, without the final chunk when the stream failed."""
    headers = {k: v for k, v in stream.headers.items() if k.lower() != "content-type"}
    headers["content-type"] = stream.content_type
    await send(
        {
            "type": "http.response.start",
            "status": stream.status,
            "headers": [(k.encode("utf-8"), v.encode("utf-8")) for k, v in headers.items()],
        }
    )
    writer = _UntilFailure(send)
    await stream.stream_fn(writer)
    if not writer.failed:
        await send({"type": "http.response.body", "body": b""})


class _UntilFailure:
    """Datasette's AsgiWriter, which notices the stream's own error handler writing: the
    only write made while an exception is being handled (the stream's `except` block)."""

    def __init__(self, send):
        self.send = send
        self.failed = False

    async def write(self, chunk):
        if sys.exc_info()[1] is not None:
            self.failed = True
        if not self.failed:
            await self.send({"type": "http.response.body", "body": chunk.encode("utf-8"), "more_body": True})


def _raised_in_our_code(exception: Exception) -> bool:
    tb = exception.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        # guard_csv()'s wrappers only pass Datasette's own exceptions on.
        passing = code.co_filename == __file__ and code.co_name in _PASS_THROUGH
        if not passing and os.path.abspath(code.co_filename).startswith(OURS):
            return True
        tb = tb.tb_next
    return False


_PASS_THROUGH = frozenset({"as_csv", "checked", "_stream_or_abort"})


# Columns that hold port numbers in the registry's tables, and in query results that use their names.
PORT_COLUMNS = frozenset(
    {"port", "port_low", "port_high", "old_port_low", "old_port_high", "new_port_low", "new_port_high", "first", "last"}
)
# Columns that hold service names (or their lowercase keys).
SERVICE_COLUMNS = frozenset({"service_name", "service_key", "old_service_key", "alias_of"})
# The services table names its service in `name` and `key`.
SERVICE_TABLE_COLUMNS = frozenset({"name", "key"})
# Every column render_cell() may link: any other cell is left to Datasette at once.
LINKED_COLUMNS = PORT_COLUMNS | SERVICE_COLUMNS | SERVICE_TABLE_COLUMNS | {"services", "ports"}
# registrations.port as the registry writes it: "22" or "6000-6063".
_PORT_TEXT = re.compile(r"(0|[1-9][0-9]{0,4})(?:-(0|[1-9][0-9]{0,4}))?")


@functools.lru_cache(maxsize=None)
def _links(datasette) -> dict:
    """The site's own link builders (render.link_filters), one set per Datasette."""
    return render.link_filters(render.linker(datasette))


def _port_cell(links: dict, value):
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and (m := _PORT_TEXT.fullmatch(value)):
        # A range links to its first port, whose page names the range.
        number = int(m.group(1))
    else:
        return None
    return links["port_link"](value) if 0 <= number <= MAX_PORT else None


def _list_cell(value: str, link) -> str | None:
    """A JSON list of names or ports (ports.services, services.ports) as links, comma-separated."""
    try:
        items = json.loads(value)
    except ValueError:
        return None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        return None
    links = [link(i) for i in items]
    return ", ".join(links) if all(links) else None


def render_cell(datasette, database: str, table: str | None, column: str, value):
    """Markup linking a port number or service name in one of Datasette's cells to the
    site's own page for it; None leaves the cell to Datasette. Only in the registry's
    database (whatever it is called), and in query results by column name."""
    # Called for every cell of every table page: the cheap tests first.
    if column not in LINKED_COLUMNS or value is None or value == "":
        return None
    build = builds.current(datasette)
    if build is None or database != build.name:
        return None
    links = _links(datasette)
    html = None
    if column in PORT_COLUMNS:
        html = _port_cell(links, value)
    elif isinstance(value, str):
        if column in SERVICE_COLUMNS or (table == "services" and column in SERVICE_TABLE_COLUMNS):
            html = links["service_link"](value)
        elif column == "services" and value.startswith("["):
            html = _list_cell(value, links["service_link"])
        elif column == "ports" and value.startswith("["):
            html = _list_cell(value, lambda port: _port_cell(links, port))
    return Markup(html) if html else None
