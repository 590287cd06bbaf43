"""The one family of answers that are not the one asked for, each carrying its HTTP status.

The read side raises them; every front maps them once: the web front to the
error page or JSON of that status, the MCP tools to an error result with
the same JSON, the command line to an exit status (iana_ports/cli.py).
"""


class PortsError(Exception):
    """A one-line message for the asker, its status, and what might help (`context`)."""

    status = 400
    # The error's heading on a page (None: the status's usual words); `title=` in context overrides it.
    title = None

    def __init__(self, message: str = "", **context):
        super().__init__(message or self.default)
        self.context = context

    default = "Bad request."


class BadQuery(PortsError, ValueError):
    """Input that cannot be answered; the message says why."""


class NotFound(PortsError, LookupError):
    """Nothing by that name or number; `context` says what might help (suggestions, renames)."""

    status = 404


class Unavailable(PortsError):
    """No registry database is loaded (yet)."""

    status = 503
    title = "Service unavailable"
    default = "The registry database is not loaded yet; try again shortly."
