"""The registry's tools on the MCP endpoint at /-/mcp.

datasette-mcp serves the endpoint (Streamable HTTP, through the mcp SDK's
MCPServer) with its SQL tools; plugins/mcp_tools.py hands its server to
register() here, which names the server iana-ports, adds the registry's own
tools and makes the endpoint stateless.

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

Lists come a small page at a time, so one call stays within some 30 KB of
an agent's context: registry_changes answers PAGE changes unless asked for
more, search_registry PAGE rows and PAGE common uses, lookup_service PAGE
common uses (with `common_uses_count`, how many there are; its error for an
unknown name the first PAGE). Their `next` is what to pass back as the `next`
argument (null on the last page), where the page's JSON has its link: an
offset, or for registry_changes the page's keyset `_next` (read.next_token()).
"""

import functools
import importlib.metadata
from typing import Annotated

import orjson
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from iana_ports import read
from iana_ports.facts import EVERYDAY_TRANSPORTS, MAX_PORT, OS_LABELS, TRANSPORTS, row_transports
from iana_ports.errors import BadQuery, PortsError, Unavailable

from . import builds, pages, workers

# Every tool only reads this registry, the same answer each time for a build.
READ_ONLY = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)

NAME = "iana-ports"
# Rows, changes or common uses per page of a list, unless the call asks for more: small enough
# to read whole (20 changes are about 27 KB, 20 search rows and 20 common uses about 18 KB),
# with `next` for the rest.
PAGE = 20
MAX_PAGE = 100

INSTRUCTIONS = f"""IANA's Service Name and Transport Protocol Port Number Registry, every port 0-65535 on tcp, udp,
sctp and dccp, with this project's own reading beside it: software known to use a port (common uses)
and a verdict on picking a port for a new service. Both are marked as not from IANA.

Answer with these six tools first; each returns the site's JSON for one question:
- lookup_port: one port number -> what it is (IANA's status and service per transport), what software
  uses it, and whether to pick it for your own service (verdict, with reasons).
- lookup_service: one service name (ssh, postgresql) -> its ports, registry rows and aliases.
- search_registry: words ("remote desktop") or ports ("8080,8443", "6000-6010") -> matching
  registry rows, {PAGE} at a time.
- find_free_ports: a port number -> the nearest ports that are good for a new service.
- registry_changes: what IANA changed between the registry versions ingested, {PAGE} at a time.
- firewall_lines: a port, a block or a service -> the lines that open it in ufw, firewalld, nftables,
  iptables and Windows.
A list answer's `next` says where the following page starts (an offset; for registry_changes a text):
call again with the same arguments and `next` set to it; null means the last page.

Only for questions these cannot answer (counts, joins across the whole registry), use SQL: list_databases,
get_database_schema, then execute_sql (read-only, with a time limit)."""

OURS = (
    "`common_uses` (software known to use a port by default, each with its source) and "
    "`verdict` (whether to pick a port for a new service) are this project's own reading, not IANA's."
)
# Longer than any text a tool reads (service names 64 characters, search text 200), with room for
# whitespace: refused before any work, whatever the tool (a 480 KB name once blocked the server 12 s).
MAX_ARGUMENT = 1000
PORT_ARG = "A port number, a whole number from 0 to 65535."
TRANSPORT_ARG = "One of tcp, udp, sctp, dccp."
OS_ARG = (
    "Optional: the platforms your service must run on, comma-separated, some of "
    + ", ".join(OS_LABELS)
    + '; "default" stands for linux,windows,macos (the default). A platform '
    "whose default ephemeral range (temporary client ports) holds the port lowers the verdict; others are notes."
)
NEXT_ARG = "Optional: the `next` of the previous answer, to get the following page (default 0, the first)."

LOOKUP_PORT = f"""What a port is in IANA's registry, what software runs on it and whether to pick it for a service.
Use it for "what is port 5432?", "what runs on 8080?", "can I run my service on 9000?".

Returns JSON. Read first: `lead` (what the port is and the software met there, in a sentence or two),
`verdict` ("good", "caution" or "avoid" for a service of your own on tcp and udp; `reasons`, what you
would trip on first, first, the first `software_reasons` of them naming software; `notes`, what does not
lower it), `common_uses` (software that uses it, each with its source) and `transports` (IANA's status
on tcp, udp, sctp and dccp, with service names).
Also: `registrations` (IANA's rows, with descriptions and assignees) and `references`, `range` (System
0-1023, User 1024-49151, Dynamic 49152-65535), `ephemeral` (operating systems that may hand the port out
as a temporary client port), `free_nearby` (good ports near it), `commands` (what shows the listener, per
OS) and `neighbours`. {OURS}

With `transport`, `transports`, `registrations` and `references` keep only that transport; the rest
still describes the port on every transport. With `os`, the verdict is judged for those platforms.
The same JSON as the site's /ports/PORT.json?os=OS."""

LOOKUP_SERVICE = f"""The registry's entry for one service name (any case, e.g. "ssh", "postgresql", "http").
Use it when you have the exact name; use search_registry for other words.

Returns JSON: `service` (name, description, whether historic), `registrations` (every registry row for it:
port, transport, description, assignee, dates), `references`, `alias_of` and `aliases`, `common_uses`
(software whose name or description has the name, {PAGE} at a time: `common_uses_count` says how many,
`next` the offset to pass as `next` for more, or null). {OURS}

For a name IANA does not list, the tool error's JSON holds `suggestions` (similar registered names),
`renamed_to` (when the name was renamed) and `common_uses` (the first {PAGE} of the software known by that
name, with the ports it uses, e.g. "minecraft"; search_registry pages through them all).
The site's /services/NAME.json, its common uses {PAGE} at a time."""

SEARCH_REGISTRY = f"""Search IANA's Service Name and Transport Protocol Port Number Registry by words or ports.
Use it for a topic ("remote desktop", "kerberos") or several ports at once; lookup_port answers more
about one port, lookup_service about one exact name.

`query` is read like the site's search box: words match service names, descriptions and notes;
"22", "22/tcp", "tcp 22", "8080,8443" or "6000-6010" (at most 1,024 ports) list the registry rows on
those ports, with each port's status and verdict under `ports`. Returns JSON: `count` (all matching
rows), `rows` ({PAGE} registry rows from `offset`; `name_html`, `snippet` and `notes_snippet` mark the
matched words with <mark>), `common_uses` ({PAGE} of the software whose name or description has the
words, from the same offset; `common_uses_count` says how many) and `next` (the offset to pass as `next`
for the following rows and common uses, or null). {OURS}
The site's /search.json?q=QUERY&transport=TRANSPORT, {PAGE} rows and common uses a page."""

FIND_FREE_PORTS = """Ports near a number that are good to pick for a new service.
Use it for "pick me a free port near 8000", or when lookup_port's verdict on a port is not good.

A port is good when IANA has it unassigned on every transport in `transports`, no software in this
project's list holds it on those transports, browsers do not refuse it, it is above 1023 and no target
platform (`os`) hands it out as a temporary client port. That rule is this project's reading, not IANA's.
Returns JSON: `near`, `transports`, `targets` (the platforms judged), `count`, `ports` (the `count` good
ports nearest `near`, itself included, each with its `distance`, nearest first) and `note` (why no port
near it can be good, e.g. inside an ephemeral range, or null).
The same JSON as the site's /free.json?near=NEAR&transports=tcp,udp&count=COUNT&os=OS."""

REGISTRY_CHANGES = f"""What changed in IANA's registry between the registry versions this site has ingested.
Use it for "what did IANA change since January?", "has anything changed on port 443?", "when was ssh's
entry modified?"; filter with `port`, `service`, `kind` or `since` rather than reading every page.

Returns JSON: `filters` (those given), `changes` ({PAGE} unless `size` says otherwise, newest ingest first;
each with its `kind`, `summary`, the row before (`old`) and after (`new`), the ingest it was seen in and
`change_date`, the row's own date when it carries a newer one) and `next` (the text to pass as `next`
for the following page, or null). Kinds: added, removed, modified, renamed, assigned (a port or range
became assigned), released. The site's /changes.json with _size={PAGE}."""

FIREWALL_LINES = """The command lines that open a port, a block or a service's ports in a host firewall.
Use it for "how do I open 8080 in ufw?", "the firewalld line for postgresql", "allow 6000-6010/udp on Windows".

`target` is a port (8080, 8080/tcp), a block (6000-6010/udp) or a service name (ssh, postgresql/tcp: its
registered ports); without a transport, tcp and udp. Only tcp and udp: ufw and Windows Firewall open no
others. Returns JSON: `target`, `openings` (each {first, last, transport}), `lines` ({tool: the lines, in
order}) and `tools` (what each tool is). Tools: ufw, firewalld (with the reload after), nftables (table
inet filter, chain input), iptables (and ip6tables), windows (PowerShell New-NetFirewallRule, as
administrator). The Linux lines need root (sudo). Nothing is run: these are lines for a person to run.
What listens on the user's machine is not for this server to answer: it is not the user's machine."""

Port = Annotated[int, Field(description=PORT_ARG, json_schema_extra={"minimum": 0, "maximum": MAX_PORT})]
Transport = Annotated[str | None, Field(description=TRANSPORT_ARG + " Optional.")]
Platforms = Annotated[str | None, Field(description=OS_ARG)]
Next = Annotated[int, Field(description=NEXT_ARG, json_schema_extra={"minimum": 0})]


def register(datasette, mcp) -> None:
    """Name datasette-mcp's server for this Datasette, add the registry's tools and make it stateless."""
    announce(mcp)
    stateless(mcp)

    @mcp.tool(title="Look up a port", description=LOOKUP_PORT, annotations=READ_ONLY)
    async def lookup_port(port: Port, transport: Transport = None, os: Platforms = None) -> CallToolResult:
        if refused := _over_long(transport, os):
            return refused

        def answer(store):
            # Checked here, with the read side's message: the schema's bounds are for the model to read.
            number = read.whole_number(port, "port", 0, MAX_PORT)
            wanted = _transport(transport)
            facts = read.port(store, number, read.targets(os))
            return only_transport(facts, wanted) if wanted else facts

        return _answer(datasette, answer)

    @mcp.tool(title="Look up a service name", description=LOOKUP_SERVICE, annotations=READ_ONLY)
    async def lookup_service(
        name: Annotated[str, Field(description='A service name as IANA lists it, e.g. "ssh"; any case.')],
        next: Annotated[
            int,
            Field(
                description="Optional: the `next` of the previous answer, for the following "
                "common uses (default 0, the first).",
                json_schema_extra={"minimum": 0},
            ),
        ] = 0,
    ) -> CallToolResult:
        if refused := _over_long(name):
            return refused

        def answer(store):
            offset = read.whole_number(next, "next", 0, 10**9)
            found = uses_page(read.service(store, name), offset, PAGE)
            return dict(found, next=offset + PAGE if offset + PAGE < found["common_uses_count"] else None)

        return _answer(datasette, answer)

    @mcp.tool(title="Search the registry", description=SEARCH_REGISTRY, annotations=READ_ONLY)
    async def search_registry(
        query: Annotated[str, Field(description="Words, or ports as in 22, 22/tcp, 8080,8443 or 6000-6010.")],
        transport: Annotated[str | None, Field(description=TRANSPORT_ARG + " Optional: keep rows on it.")] = None,
        next: Next = 0,
    ) -> CallToolResult:
        if refused := _over_long(query, transport):
            return refused

        def answer(store):
            offset = read.whole_number(next, "next", 0, 10**9)
            return search_page(read.search(store, query, transport or "", offset), PAGE)

        build = builds.current(datasette)
        if build is None:
            return _answer(datasette, answer)
        # Full-text search runs SQL: off the event loop, on the site's threads, as the page runs it.
        return await workers.site(_answer_on, build, answer)

    @mcp.tool(title="Find free ports", description=FIND_FREE_PORTS, annotations=READ_ONLY)
    async def find_free_ports(
        near: Annotated[
            int,
            Field(
                description="The port to search around, 0 to 65535.",
                json_schema_extra={"minimum": 0, "maximum": MAX_PORT},
            ),
        ],
        transports: Annotated[
            list[str] | None,
            Field(
                description='The transports the service will use, some of tcp, udp, sctp, dccp, e.g. ["tcp"]. '
                'Default ["tcp", "udp"].'
            ),
        ] = None,
        count: Annotated[
            int,
            Field(
                description=f"How many ports, 1 to {read.MAX_FREE}. Default 10.",
                json_schema_extra={"minimum": 1, "maximum": read.MAX_FREE},
            ),
        ] = 10,
        os: Platforms = None,
    ) -> CallToolResult:
        if refused := _over_long(os, *(transports or ())):
            return refused

        def answer(store):
            # read.free() checks near, count and the transports, for every front alike.
            wanted = list(EVERYDAY_TRANSPORTS) if transports is None else transports
            return read.free(store, near, wanted, count, read.targets(os))

        return _answer(datasette, answer)

    @mcp.tool(title="Firewall lines", description=FIREWALL_LINES, annotations=READ_ONLY)
    async def firewall_lines(
        target: Annotated[str, Field(description="8080, 8080/tcp, 6000-6010/udp or a service name such as ssh.")],
        tools: Annotated[
            str | None,
            Field(description="Optional: comma-separated, some of ufw, firewalld, nftables, iptables, windows."),
        ] = None,
    ) -> CallToolResult:
        if refused := _over_long(target, tools):
            return refused
        return _answer(datasette, lambda store: read.firewall(store, target, tools))

    @mcp.tool(title="Registry changes", description=REGISTRY_CHANGES, annotations=READ_ONLY)
    async def registry_changes(
        kind: Annotated[str | None, Field(description="Optional: " + ", ".join(read.CHANGE_KINDS) + ".")] = None,
        port: Annotated[int | None, Field(description="Optional: changes touching this port (0 to 65535).")] = None,
        service: Annotated[str | None, Field(description="Optional: changes to this service name.")] = None,
        since: Annotated[
            str | None, Field(description="Optional: ingests from this date on: YYYY-MM-DD, YYYY-MM or YYYY.")
        ] = None,
        next: Annotated[
            str | None,
            Field(description="Optional: the `next` of the previous answer, to get the following page."),
        ] = None,
        size: Annotated[
            int,
            Field(
                description=f"Optional: changes per page, 1 to {MAX_PAGE} (default {PAGE}).",
                json_schema_extra={"minimum": 1, "maximum": MAX_PAGE},
            ),
        ] = PAGE,
    ) -> CallToolResult:
        if refused := _over_long(kind, service, since, next):
            return refused
        path = datasette.urls.path("/changes.json")

        def answer(store):
            args = {
                "kind": kind,
                "port": None if port is None else str(port),
                "service": service,
                "since": since,
                "_size": str(read.whole_number(size, "size", 1, MAX_PAGE)),
                "_next": next,
            }
            found = read.change_page(store, args, path)
            return dict(found, next=read.next_token(found["changes"][-1]) if found["next"] else None)

        return _answer(datasette, answer)


def announce(mcp) -> None:
    """What the server says it is in `initialize`: iana-ports, this project's version, and
    instructions that send an agent to the registry's tools before SQL.

    datasette-mcp 0.3 builds its MCPServer as "datasette", with no version and instructions
    about its SQL tools only, and has no setting for any of them; the SDK reads all three from
    its low-level server when it answers `initialize`, so they are set there, before the first
    request. Should either package move them, the check below fails at start-up, not silently.
    """
    server = mcp._lowlevel_server
    server.name, server.version, server.instructions = NAME, importlib.metadata.version(NAME), INSTRUCTIONS
    server.title = "IANA port numbers and service names"
    if (mcp.name, mcp.instructions) != (NAME, INSTRUCTIONS):
        raise RuntimeError("the MCP server's name and instructions could not be set")


def stateless(mcp) -> None:
    """Serve every request on its own, with no session for a client to be pinned to: any replica
    answers any request, and a stray GET or POST holds nothing on the server.

    datasette-mcp 0.3 has no setting for it: it calls mcp.streamable_http_app() once, after
    the register_mcp_tools hooks, with its own arguments; stateless_http is the SDK's documented
    argument of that call, so it is bound here. Should datasette-mcp pass stateless_http itself
    one day, this fails at start-up (a keyword given twice) rather than silently.
    """
    mcp.streamable_http_app = functools.partial(mcp.streamable_http_app, stateless_http=True)


def search_page(found: dict, size: int) -> dict:
    """A search answer cut to `size` rows and `size` common uses from its offset, its `next`
    the offset after them while either has more."""
    offset = found["offset"]
    after = offset + size
    more = after < found["count"] or after < len(found["common_uses"])
    return dict(uses_page(found, offset, size), rows=found["rows"][:size], next=after if more else None)


def uses_page(facts: dict, offset: int, size: int) -> dict:
    """`common_uses` cut to `size` from `offset`, with `common_uses_count`, how many there are:
    a common word matches hundreds ("http": 259 entries, 80 KB)."""
    uses = facts["common_uses"]
    return dict(facts, common_uses=uses[offset : offset + size], common_uses_count=len(uses))


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


def _over_long(*texts) -> CallToolResult | None:
    """The tool error for text arguments longer than MAX_ARGUMENT in all (a list counts whole)."""
    if sum(len(t) for t in texts if isinstance(t, str)) + len(texts) > MAX_ARGUMENT:
        return _error(400, f"An argument is too long: tools take at most {MAX_ARGUMENT:,} characters of text.")
    return None


def _answer(datasette, fn) -> CallToolResult:
    build = builds.current(datasette)
    if build is None:
        return _failed(Unavailable())
    return _answer_on(build, fn)


def _answer_on(build, fn) -> CallToolResult:
    """fn(store) as a tool result: the page's JSON, or the page's error JSON for a read-side error."""
    try:
        data = fn(build.store)
    except PortsError as exc:
        return _failed(exc)
    return CallToolResult(content=[TextContent(type="text", text=orjson.dumps(data).decode())], structured_content=data)


def _failed(exc: PortsError) -> CallToolResult:
    """A read-side error as the pages' error JSON, its common uses paged like an answer's."""
    context = dict(uses_page(exc.context, 0, PAGE) if "common_uses" in exc.context else exc.context)
    return _error(exc.status, str(exc), context.pop("title", exc.title), **context)


def _error(status: int, message: str, title=None, **context) -> CallToolResult:
    # The JSON of the pages' errors, so an agent reads the same error a script would.
    body = pages.error_body(status, message, title, **context)
    return CallToolResult(content=[TextContent(type="text", text=orjson.dumps(body).decode())], is_error=True)
