"""Resource limits on the connections visitors' SQL runs on (iana_ports.web.datasette_pages.limit)."""

from datasette import hookimpl

from iana_ports.web import datasette_pages


@hookimpl
def prepare_connection(conn):
    datasette_pages.limit(conn)
