"""The registry's tools on datasette-mcp's /-/mcp endpoint, and the endpoint made stateless
(iana_ports.web.mcp)."""

from datasette import hookimpl

from iana_ports.web import mcp as registry_tools


@hookimpl
def register_mcp_tools(datasette, mcp):
    registry_tools.register(datasette, mcp)
