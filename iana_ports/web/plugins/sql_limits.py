"""Resource limits on the connections visitors' SQL runs on (iana_ports.web.sql_limits.limit),
and Datasette's SQL threads made to free what a failed query leaves on their own thread
(iana_ports.web.workers)."""

from datasette import hookimpl

from iana_ports.web import sql_limits, workers


@hookimpl
def startup(datasette):
    workers.install(datasette)


@hookimpl
def prepare_connection(conn):
    sql_limits.limit(conn)
