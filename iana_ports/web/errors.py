"""The web front's one error path: a read-side exception, a request refused before any work,
or an exception on one of Datasette's pages, answered in the one error shape (HTML, JSON or a
line of text) with the status it carries.

Input Datasette 0.65.5 fails on with a 500 (a `_through` or `_facet` that is
not JSON, a short key on a compound-key row page, a static path too long for
the filesystem) is the request's fault on this read-only site: a 4xx.
"""

import errno
import os
import sqlite3
import traceback

from datasette.utils.asgi import Base400, NotFound, Response
from datasette.views.base import DatasetteError

from . import builds, csv_guard, pages
from .finish import SHAPED
from .render import renderer_for, site_vars

NO_PAGE = "There is no page at this address."
# What Datasette raises when it reads a malformed parameter (see error_status()).
BAD_INPUT = (ValueError, TypeError, LookupError, AttributeError, ArithmeticError)
# The project's own code on Datasette's pages (cells, template helpers, plugins, templates,
# all inside the package): an exception raised there is a bug, whatever its type.
OURS = (os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ""),)
# Static paths the filesystem refuses: a visitor's typing, not the server's trouble.
NO_SUCH_FILE = frozenset({errno.ENOENT, errno.ENAMETOOLONG, errno.EISDIR, errno.ENOTDIR, errno.EINVAL})
# Datasette's only HTML error message (its SQL time limit) is written for its own error page.
TOO_LONG = "The SQL query took too long and was stopped; ask for less."
TOO_BIG_NUMBER = f"A number in this request is too large: SQLite integers run to {2**63 - 1:,}."
NO_MEMORY = "The query needs more memory than the server allows its queries; ask for less."
UNROUTED = ("", "404", "Database not found")


def error_for(datasette, status: int, message: str, fmt: str, transient: bool = False) -> Response:
    """The site's error answer for a failure on one of Datasette's own pages."""
    site = site_vars(datasette, builds.current(datasette))
    return error_response(renderer_for(datasette), site, status, message, fmt, transient=transient)


class Broken(Exception):
    def __str__(self):
        return pages.BROKEN


def error_response(
    renderer, site: dict, status: int, message: str, fmt: str, title=None, transient=False, **context
) -> Response:
    """An error in the form asked for: HTML (""), JSON (".json") or, for every other format
    (a feed, a text or XML file), one line of text. A transient one (a time limit, a full
    queue) may be answered differently a moment later, so no cache keeps it."""
    if fmt == ".json":
        response = pages.json_response(pages.error_body(status, message, title, **context), status=status)
    elif fmt:
        response = Response.text(message + "\n", status=status)
    else:
        html = renderer.render("site/error.html", site=site, error=message, status=status, title=title, **context)
        response = Response.html(html, status=status)
    # Read and removed by Finisher: the answer is already in the one shape.
    response.headers[SHAPED.decode()] = "transient" if transient else "lasting"
    return response


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


def _raised_in_our_code(exception: Exception) -> bool:
    tb = exception.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        passing = code.co_filename == csv_guard.__file__ and code.co_name in csv_guard.PASS_THROUGH
        if not passing and os.path.abspath(code.co_filename).startswith(OURS):
            return True
        tb = tb.tb_next
    return False
