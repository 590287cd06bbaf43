"""The registry's tools on the MCP endpoint at /-/mcp.

datasette-mcp serves the endpoint (Streamable HTTP, through the mcp SDK's
MCPServer) with its SQL tools; plugins/mcp_tools.py hands its server to
register() here, which adds the registry's own tools and makes the endpoint
stateless.

Each tool calls the read side on the build being served, as the pages do,
and answers with the page's JSON, byte for byte (orjson, as
pages.json_response encodes it), as the result's text and, parsed, as its
structured content. An error the read side raises (NotFound, BadQuery) or
a missing build answers a tool error whose text is the page's error JSON
for it: the one-line message under "error", and for an unknown name the
suggestions and common uses the page offers. Arguments of the wrong type
are refused by the SDK's own validation, also as a tool error; any other
exception is a bug, logged by the SDK, and the client gets its generic
"Error executing tool NAME".
"""

import asyncio
import functools
from typing import Annotated

import orjson
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from iana_ports import read
from iana_ports.facts import EVERYDAY_TRANSPORTS, MAX_PORT, TRANSPORTS, row_transports
from iana_ports.query import BadQuery

from . import builds, pages

# Every tool only reads this registry, the same answer each time for a build.
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

OURS = (
    "`common_uses` (software known to use a port by default, each with its source) and "
    "`verdict` (whether to pick a port for a new service) are this project's own reading, not IANA's."
)
PORT_ARG = "A port number, a whole number from 0 to 65535."
TRANSPORT_ARG = "One of tcp, udp, sctp, dccp."

LOOKUP_PORT = f"""Look up one port number in IANA's Service Name and Transport Protocol Port Number Registry.

Returns JSON: IANA's status of the port on each transport (`transports`: tcp, udp, sctp, dccp, each
"assigned", "reserved" or "unassigned", with its service names), the registry rows and their references,
the range it is in (System 0-1023, User 1024-49151, Dynamic 49152-65535), the operating systems whose
default ephemeral range holds it, the nearest assigned ports, commands that show what listens on it
(Linux, macOS, Windows), `free_nearby` (ports near it that are good to pick), `common_uses` and
`verdict` ("good", "caution" or "avoid", with reasons, for a service on tcp and udp). {OURS}

Use it for "what is port 5432?", "is port 8080 taken?", "can I run my service on port 9000?".
With `transport`, `transports`, `registrations` and `references` keep only that transport; the rest
still describes the port on every transport. The same JSON as the site's /ports/PORT.json."""

LOOKUP_SERVICE = f"""Look up a service name (case-insensitive, e.g. "ssh", "postgresql", "http") in IANA's
Service Name and Transport Protocol Port Number Registry.

Returns JSON: the service (`service`), every registry row for it (ports, transport, description,
assignee, dates), their references, the name it is an alias of and its aliases, and `common_uses`
(software matching the name). {OURS}

For a name IANA does not list, the tool error's JSON holds `suggestions` (similar registered names),
`renamed_to` (when the name was renamed) and `common_uses` (software known by that name, with the ports
it uses, e.g. "minecraft"). Use search_registry for words that are not a service name.
The same JSON as the site's /services/NAME.json."""

SEARCH_REGISTRY = f"""Search IANA's Service Name and Transport Protocol Port Number Registry by words or ports.

`query` is read like the site's search box: words match service names, descriptions and notes
(e.g. "remote desktop", "kerberos"); "22", "22/tcp", "tcp 22", "8080,8443" or "6000-6010" (at most
1,024 ports) list the registry rows on those ports, with a summary of each port under `ports`.
Returns JSON: `count` (all matches), `rows` (the first 50 registry rows; `name_html`, `snippet` and
`notes_snippet` mark the matched words with <mark>), `next` (the site's link to the following page,
or null) and `common_uses` (software whose name or description has the words). {OURS}

Use lookup_service for an exact service name and lookup_port for one port.
The same JSON as the site's /search.json?q=QUERY&transport=TRANSPORT."""

FIND_FREE_PORTS = """Find ports near a number that are good to pick for a new service.

A port is good when IANA has it unassigned on every transport in `transports`, it is in the User range
(1024-49151), outside every listed operating system's default ephemeral range, and no software in this
project's list uses it by default on those transports. That rule is this project's reading, not IANA's.
Returns JSON: `near`, `transports`, `count` and `ports`, the `count` good ports nearest `near` (itself
included), each with its `distance`, nearest first.

Use it for "pick me a free port near 8000". The same JSON as the site's
/free.json?near=NEAR&transports=tcp,udp&count=COUNT."""

REGISTRY_CHANGES = """What changed in IANA's registry between the registry files this site has ingested.

Returns JSON: `filters` (those given), `changes` (newest ingest first, at most 100; each with its `kind`,
the row before (`old`) and after (`new`), the ingest it was seen in and `change_date`, the row's own
date when it carries a newer one) and `next` (the site's link to the following page, or null).
Kinds: added, removed, modified, renamed, assigned (a port or range became assigned), released.

Use it for "what did IANA change since January?", "has anything changed on port 443?", "when was
ssh's entry modified?". The same JSON as the site's /changes.json."""

Port = Annotated[int, Field(description=PORT_ARG, json_schema_extra={"minimum": 0, "maximum": MAX_PORT})]
Transport = Annotated[str | None, Field(description=TRANSPORT_ARG + " Optional.")]


def register(datasette, mcp) -> None:
    """Add the registry's tools to datasette-mcp's server for this Datasette, and make it stateless."""
    stateless(mcp)

    @mcp.tool(title="Look up a port", description=LOOKUP_PORT, annotations=READ_ONLY)
    async def lookup_port(port: Port, transport: Transport = None) -> CallToolResult:
        def answer(store):
            # Checked here, with the read side's message: the schema's bounds are for the model to read.
            number = read.whole_number(port, "port", 0, MAX_PORT)
            wanted = _transport(transport)
            facts = read.port(store, number)
            return only_transport(facts, wanted) if wanted else facts

        return _answer(datasette, answer)

    @mcp.tool(title="Look up a service name", description=LOOKUP_SERVICE, annotations=READ_ONLY)
    async def lookup_service(
        name: Annotated[str, Field(description='A service name as IANA lists it, e.g. "ssh"; any case.')],
    ) -> CallToolResult:
        return _answer(datasette, lambda store: read.service(store, name))

    @mcp.tool(title="Search the registry", description=SEARCH_REGISTRY, annotations=READ_ONLY)
    async def search_registry(
        query: Annotated[str, Field(description="Words, or ports as in 22, 22/tcp, 8080,8443 or 6000-6010.")],
        transport: Annotated[str | None, Field(description=TRANSPORT_ARG + " Optional: keep rows on it.")] = None,
    ) -> CallToolResult:
        path = datasette.urls.path("/search.json")

        def answer(store):
            return read.search(store, query, transport or "", 0, path)

        build = builds.current(datasette)
        if build is None:
            return _answer(datasette, answer)
        # Full-text search runs SQL: off the event loop, on Datasette's threads, as the page runs it.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(datasette.executor, functools.partial(_answer_on, build, answer))

    @mcp.tool(title="Find free ports", description=FIND_FREE_PORTS, annotations=READ_ONLY)
    async def find_free_ports(
        near: Annotated[int, Field(description="The port to search around, 0 to 65535.",
                                   json_schema_extra={"minimum": 0, "maximum": MAX_PORT})],
        transports: Annotated[
            list[str] | None,
            Field(description='The transports the service will use, some of tcp, udp, sctp, dccp, e.g. ["tcp"]. '
                              'Default ["tcp", "udp"].'),
        ] = None,
        count: Annotated[int, Field(description=f"How many ports, 1 to {read.MAX_FREE}. Default 10.",
                                    json_schema_extra={"minimum": 1, "maximum": read.MAX_FREE})] = 10,
    ) -> CallToolResult:
        def answer(store):
            # read.free() checks near, count and the transports, for every front alike.
            return read.free(store, near, list(EVERYDAY_TRANSPORTS) if transports is None else transports, count)

        return _answer(datasette, answer)

    @mcp.tool(title="Registry changes", description=REGISTRY_CHANGES, annotations=READ_ONLY)
    async def registry_changes(
        kind: Annotated[str | None, Field(description="Optional: " + ", ".join(read.CHANGE_KINDS) + ".")] = None,
        port: Annotated[int | None, Field(description="Optional: changes touching this port (0 to 65535).")] = None,
        service: Annotated[str | None, Field(description="Optional: changes to this service name.")] = None,
        since: Annotated[str | None, Field(description="Optional: ingests from this date on: YYYY-MM-DD, "
                                                       "YYYY-MM or YYYY.")] = None,
    ) -> CallToolResult:
        path = datasette.urls.path("/changes.json")

        def answer(store):
            args = {"kind": kind, "port": None if port is None else str(port), "service": service, "since": since}
            return read.change_page(store, args, path)

        return _answer(datasette, answer)


def stateless(mcp) -> None:
    """Serve every request on its own, with no session for a client to be pinned to: any replica
    answers any request, and a stray GET or POST holds nothing on the server.

    datasette-mcp 0.3 has no setting for it: it calls mcp.streamable_http_app() once, after
    the register_mcp_tools hooks, with its own arguments; stateless_http is the SDK's documented
    argument of that call, so it is bound here. Should datasette-mcp pass stateless_http itself
    one day, this fails at start-up (a keyword given twice) rather than silently.
    """
    mcp.streamable_http_app = functools.partial(mcp.streamable_http_app, stateless_http=True)


def only_transport(facts: dict, transport: str) -> dict:
    """A port's facts with `transports`, `registrations` and `references` narrowed to one transport."""
    registrations = [
        r for r in facts["registrations"] if transport in row_transports(r["service_name"], r["transport"])
    ]
    kept = {r["id"] for r in registrations}
    return dict(
        facts,
        transports={transport: facts["transports"][transport]},
        registrations=registrations,
        references=[r for r in facts["references"] if r["registration_id"] in kept],
    )


def _transport(transport: str | None) -> str | None:
    if transport in (None, ""):
        return None
    if transport not in TRANSPORTS:
        raise BadQuery(f"Transport must be one of {', '.join(TRANSPORTS)}.")
    return transport


def _answer(datasette, fn) -> CallToolResult:
    build = builds.current(datasette)
    if build is None:
        return _error(503, pages.UNAVAILABLE, title="Service unavailable")
    return _answer_on(build, fn)


def _answer_on(build, fn) -> CallToolResult:
    """fn(store) as a tool result: the page's JSON, or the page's error JSON for a read-side error."""
    try:
        data = fn(build.snapshot)
    except read.NotFound as exc:
        return _error(404, str(exc), **exc.context)
    except BadQuery as exc:
        return _error(400, str(exc))
    return CallToolResult(content=[TextContent(type="text", text=orjson.dumps(data).decode())], structured_content=data)


def _error(status: int, message: str, title=None, **context) -> CallToolResult:
    # The JSON of the pages' errors, so an agent reads the same error a script would.
    body = pages.error_body(status, message, title, **context)
    return CallToolResult(content=[TextContent(type="text", text=orjson.dumps(body).decode())], is_error=True)
