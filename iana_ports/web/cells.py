"""Port numbers and service names in Datasette's tables, row pages and query results, linked
to the site's port and service pages."""

import functools
import json

from markupsafe import Markup

from iana_ports.facts import MAX_PORT, PORT_RANGE_RE

from . import builds, render

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


@functools.lru_cache(maxsize=None)
def _links(datasette) -> dict:
    """The site's own link builders (render.link_filters), one set per Datasette."""
    return render.link_filters(render.linker(datasette))


def _port_cell(links: dict, value):
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and (m := PORT_RANGE_RE.fullmatch(value)):
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
