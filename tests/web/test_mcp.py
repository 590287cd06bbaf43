"""The MCP endpoint at /-/mcp: datasette-mcp's server with the registry's tools (iana_ports.web.mcp),
driven by the mcp package's own streamable-HTTP client against real `make serve` processes.

Each registry tool is compared, byte for byte, with the page JSON the same server answers;
each error with the page's error JSON, or with the whole value the read side gives. Both ways
a client may speak are used: the 2025 initialize handshake ("legacy", what most clients speak
today) and MCP 2026-07-28 (no handshake, "auto" finds it). The endpoint is stateless: a client
whose requests a load balancer spreads over two replicas works, and no answer names a session.
"""

import importlib.metadata
import itertools
import json
import socket
import time

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from deploy.harness import live_server
from helpers import CHROMIUM, CHROMIUM_ARGS
from iana_ports import read
from iana_ports.store import Store

OURS = ["find_free_ports", "firewall_lines", "lookup_port", "lookup_service", "registry_changes", "search_registry"]
DATASETTE_MCPS = ["execute_sql", "get_database_schema", "list_databases"]
MODES = ["legacy", "auto"]
LEGACY_VERSION = "2025-11-25"
MODERN_VERSION = "2026-07-28"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": LEGACY_VERSION, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}
MCP_ACCEPT = {"accept": "application/json, text/event-stream"}
SERVER_INFO = {
    "name": "iana-ports",
    "title": "IANA port numbers and service names",
    "version": importlib.metadata.version("iana-ports"),
}
PAGE = 20


@pytest.fixture(scope="module")
def server(history_db):
    """Two ingests, so registry_changes has changes to answer."""
    with live_server(history_db) as base:
        yield base


@pytest.fixture(scope="module")
def replica(history_db):
    """A second replica of the same build."""
    with live_server(history_db) as base:
        yield base


def connect(base: str, mode: str = "legacy", http_client=None) -> Client:
    return Client(streamable_http_client(base + "/-/mcp", http_client=http_client), mode=mode)


async def page(base: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base) as web:
        return await web.get(path)


# Listing


async def test_initialize_names_iana_ports_and_sends_agents_to_the_registry_tools(server):
    async with httpx.AsyncClient() as http:
        response = await http.post(server + "/-/mcp", json=INITIALIZE, headers=MCP_ACCEPT)
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["serverInfo"] == SERVER_INFO
    assert SERVER_INFO["version"] == "0.1.0"  # pyproject.toml's; a new release updates this line
    instructions = result["instructions"].splitlines()
    assert instructions[:14] == [
        "IANA's Service Name and Transport Protocol Port Number Registry, every port 0-65535 on tcp, udp,",
        "sctp and dccp, with this project's own reading beside it: software known to use a port (common uses)",
        "and a verdict on picking a port for a new service. Both are marked as not from IANA.",
        "",
        "Answer with these six tools first; each returns the site's JSON for one question:",
        "- lookup_port: one port number -> what it is (IANA's status and service per transport), what software",
        "  uses it, and whether to pick it for your own service (verdict, with reasons).",
        "- lookup_service: one service name (ssh, postgresql) -> its ports, registry rows and aliases.",
        '- search_registry: words ("remote desktop") or ports ("8080,8443", "6000-6010") -> matching',
        "  registry rows, 20 at a time.",
        "- find_free_ports: a port number -> the nearest ports that are good for a new service.",
        "- registry_changes: what IANA changed between the registry versions ingested, 20 at a time.",
        "- firewall_lines: a port, a block or a service -> the lines that open it in ufw, firewalld, nftables,",
        "  iptables and Windows.",
    ]
    # SQL comes last, after every registry tool.
    sql = [i for i, line in enumerate(instructions) if "execute_sql" in line]
    assert sql == [len(instructions) - 1]
    assert instructions[-2] == (
        "Only for questions these cannot answer (counts, joins across the whole registry), use SQL: list_databases,"
    )


async def test_initialize_then_list_the_registry_tools_beside_datasette_mcps(server):
    async with connect(server, "legacy") as client:
        init = client.session.initialize_result
        assert (init.protocol_version, init.server_info.name) == (LEGACY_VERSION, "iana-ports")
        assert init.server_info.version == SERVER_INFO["version"]
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert sorted(tools) == sorted(OURS + DATASETTE_MCPS)
    arguments = {
        name: (list(tools[name].input_schema["properties"]), tools[name].input_schema.get("required", []))
        for name in OURS
    }
    assert arguments == {
        "lookup_port": (["port", "transport", "os"], ["port"]),
        "lookup_service": (["name", "next"], ["name"]),
        "search_registry": (["query", "transport", "next"], ["query"]),
        "find_free_ports": (["near", "transports", "count", "os"], ["near"]),
        "registry_changes": (["kind", "port", "service", "since", "next", "size"], []),
        "firewall_lines": (["target", "tools"], ["target"]),
    }
    # Each description says what it answers first, then when to use it.
    assert {name: tools[name].description.split("\n")[0] for name in OURS} == {
        "lookup_port": (
            "What a port is in IANA's registry, what software runs on it and whether to pick it for a service."
        ),
        "lookup_service": 'The registry\'s entry for one service name (any case, e.g. "ssh", "postgresql", "http").',
        "search_registry": "Search IANA's Service Name and Transport Protocol Port Number Registry by words or ports.",
        "find_free_ports": "Ports near a number that are good to pick for a new service.",
        "registry_changes": "What changed in IANA's registry between the registry versions this site has ingested.",
        "firewall_lines": "The command lines that open a port, a block or a service's ports in a host firewall.",
    }
    for name in OURS:
        assert "Use it " in tools[name].description, name
    port = tools["lookup_port"].input_schema["properties"]["port"]
    assert (port["type"], port["minimum"], port["maximum"]) == ("integer", 0, 65535)
    for name in OURS:
        hints = tools[name].annotations
        assert (hints.read_only_hint, hints.idempotent_hint, hints.open_world_hint) == (True, True, False), name
        assert tools[name].title and tools[name].description, name
    # What a model must not mistake for IANA's word.
    for name in ("lookup_port", "lookup_service", "search_registry"):
        assert "this project's own reading, not IANA's" in tools[name].description, name
    assert "this project's reading, not IANA's" in tools["find_free_ports"].description


async def test_the_2026_protocol_lists_the_same_tools_without_a_handshake(server):
    async with connect(server, "auto") as client:
        assert client.session.protocol_version == MODERN_VERSION
        assert client.session.initialize_result is None
        names = sorted(t.name for t in (await client.list_tools()).tools)
    assert names == sorted(OURS + DATASETTE_MCPS)


# Each tool answers the page's JSON

SAME_AS_PAGE = [
    ("lookup_port", {"port": 22}, "/ports/22.json"),
    ("lookup_port", {"port": 60878}, "/ports/60878.json"),
    ("lookup_port", {"port": 0}, "/ports/0.json"),
    ("lookup_port", {"port": 65535}, "/ports/65535.json"),
    ("lookup_port", {"port": 25565, "os": "freebsd"}, "/ports/25565.json?os=freebsd"),
    ("lookup_port", {"port": 5000, "os": "default,windows_legacy"}, "/ports/5000.json?os=default,windows_legacy"),
    ("find_free_ports", {"near": 8000}, "/free.json?near=8000"),
    (
        "find_free_ports",
        {"near": 8000, "transports": ["tcp"], "count": 5},
        "/free.json?near=8000&transports=tcp&count=5",
    ),
    (
        "find_free_ports",
        {"near": 30000, "transports": ["sctp", "dccp"], "count": 100},
        "/free.json?near=30000&transports=sctp,dccp&count=100",
    ),
    ("find_free_ports", {"near": 24000, "os": "linux,freebsd"}, "/free.json?near=24000&os=linux,freebsd"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tool, arguments, path", SAME_AS_PAGE)
async def test_each_tool_answers_the_pages_json(server, mode, tool, arguments, path):
    expected = await page(server, path)
    assert expected.status_code == 200, path
    async with connect(server, mode) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is False, result.content
    assert [c.type for c in result.content] == ["text"]
    assert result.content[0].text == expected.text
    assert result.structured_content == expected.json()


# The list tools: the page's JSON a small page at a time, `next` the offset of the next one.
PAGED = [
    ("lookup_service", {"name": "ssh"}, "/services/ssh.json"),
    ("lookup_service", {"name": "HTTP"}, "/services/HTTP.json"),
    ("lookup_service", {"name": "http", "next": 40}, "/services/http.json"),
    ("lookup_service", {"name": "cl/1"}, "/services/cl%2F1.json"),
    ("lookup_service", {"name": "panquest-xact"}, "/services/panquest-xact.json"),
    ("search_registry", {"query": "kerberos"}, "/search.json?q=kerberos"),
    ("search_registry", {"query": "http"}, "/search.json?q=http"),
    ("search_registry", {"query": "http", "next": 20}, "/search.json?q=http&_next=20"),
    ("search_registry", {"query": "ssh", "transport": "udp"}, "/search.json?q=ssh&transport=udp"),
    ("search_registry", {"query": "22/tcp"}, "/search.json?q=22%2Ftcp"),
    ("search_registry", {"query": "6000-6010"}, "/search.json?q=6000-6010"),
    ("search_registry", {"query": "minecraft"}, "/search.json?q=minecraft"),
    ("registry_changes", {}, "/changes.json?_size=20"),
    ("registry_changes", {"next": "2.2025-11-14.24"}, "/changes.json?_size=20&_next=2.2025-11-14.24"),
    ("registry_changes", {"size": 5, "next": "2.2025-11-14.24"}, "/changes.json?_size=5&_next=2.2025-11-14.24"),
    ("registry_changes", {"kind": "renamed"}, "/changes.json?kind=renamed&_size=20"),
    ("registry_changes", {"port": 11434}, "/changes.json?port=11434&_size=20"),
    ("registry_changes", {"service": "pearldoc-xact"}, "/changes.json?service=pearldoc-xact&_size=20"),
    ("registry_changes", {"kind": "modified", "since": "2026"}, "/changes.json?kind=modified&since=2026&_size=20"),
    ("registry_changes", {"since": "2027-01-01"}, "/changes.json?since=2027-01-01&_size=20"),
]


def token(change: dict) -> str:
    """The keyset after `change` (ingest, date, id), as a page's next link carries it."""
    return f"{change['ingest']}.{change['change_date'] or change['registry_date']}.{change['id']}"


def as_tool_page(tool: str, answer: dict, offset: int, size: int) -> dict:
    """The page's JSON as the tool gives it: `size` changes, or `size` rows and common uses
    from the offset (with how many common uses there are), `next` the offset after them."""
    if tool == "registry_changes":
        # The page asked with _size and _next is that page already; `next` is its link's keyset.
        return dict(answer, next=token(answer["changes"][-1]) if answer["next"] else None)
    uses = answer["common_uses"]
    paged = dict(answer, common_uses=uses[offset : offset + size], common_uses_count=len(uses))
    if tool == "lookup_service":
        return dict(paged, next=offset + size if offset + size < len(uses) else None)
    more = offset + size < answer["count"] or offset + size < len(uses)
    return dict(paged, rows=answer["rows"][:size], next=offset + size if more else None)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tool, arguments, path", PAGED)
async def test_the_list_tools_answer_the_pages_json_a_page_at_a_time(server, mode, tool, arguments, path):
    expected = await page(server, path)
    assert expected.status_code == 200, path
    offset = arguments.get("next", 0) if tool != "registry_changes" else None
    wanted = as_tool_page(tool, expected.json(), offset, arguments.get("size", PAGE))
    async with connect(server, mode) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is False, result.content
    assert result.structured_content == wanted
    assert result.content[0].text == json.dumps(wanted, ensure_ascii=False, separators=(",", ":"))


async def test_changes_come_20_a_page_and_next_gives_the_following_ones(server):
    whole = (await page(server, "/changes.json?_size=1000")).json()["changes"]
    assert len(whole) > 2 * PAGE
    async with connect(server) as client:
        first = await client.call_tool("registry_changes", {})
        second = await client.call_tool("registry_changes", {"next": first.structured_content["next"]})
        last = await client.call_tool("registry_changes", {"next": token(whole[-4])})
    assert [len(first.structured_content["changes"]), first.structured_content["next"]] == [
        PAGE,
        token(whole[PAGE - 1]),
    ]
    assert second.structured_content["next"] == token(whole[2 * PAGE - 1])
    assert first.structured_content["changes"] + second.structured_content["changes"] == whole[: 2 * PAGE]
    assert (last.structured_content["changes"], last.structured_content["next"]) == (whole[-3:], None)
    # What an unfiltered call costs an agent's context (the whole history is hundreds of KB).
    assert len(first.content[0].text.encode()) < 30_000


async def test_search_pages_are_20_rows_and_next_gives_the_following_ones(server):
    whole = (await page(server, "/search.json?q=http")).json()
    count, uses = whole["count"], whole["common_uses"]
    assert count > 2 * PAGE and len(uses) > count, "http matches more common uses than registry rows"
    async with connect(server) as client:
        first = (await client.call_tool("search_registry", {"query": "http"})).structured_content
        following = {"query": "http", "next": first["next"]}
        second = (await client.call_tool("search_registry", following)).structured_content
        rows_done = (await client.call_tool("search_registry", {"query": "http", "next": count})).structured_content
        last = (await client.call_tool("search_registry", {"query": "http", "next": len(uses) - 1})).structured_content
    assert (len(first["rows"]), first["next"], second["offset"], second["next"]) == (PAGE, PAGE, PAGE, 2 * PAGE)
    assert not {r["id"] for r in first["rows"]} & {r["id"] for r in second["rows"]}
    assert first["common_uses"] + second["common_uses"] == uses[: 2 * PAGE]
    # Past the rows, the pages go on while common uses remain.
    assert (rows_done["rows"], rows_done["common_uses"], rows_done["next"]) == (
        [],
        uses[count : count + PAGE],
        count + PAGE,
    )
    assert (last["rows"], last["common_uses"], last["next"]) == ([], uses[-1:], None)
    assert {first["common_uses_count"], last["common_uses_count"]} == {len(uses)}


async def test_a_service_gives_its_common_uses_20_at_a_time(server):
    uses = (await page(server, "/services/http.json")).json()["common_uses"]
    assert len(uses) > 100, "http is in the name or description of over a hundred common uses"
    async with connect(server) as client:
        first = await client.call_tool("lookup_service", {"name": "http"})
        second = (await client.call_tool("lookup_service", {"name": "http", "next": PAGE})).structured_content
        last = (await client.call_tool("lookup_service", {"name": "http", "next": len(uses) - 2})).structured_content
        unknown = json.loads((await client.call_tool("lookup_service", {"name": "web"})).content[0].text)
    answer = first.structured_content
    assert (answer["common_uses"], answer["common_uses_count"], answer["next"]) == (uses[:PAGE], len(uses), PAGE)
    assert (second["common_uses"], second["next"]) == (uses[PAGE : 2 * PAGE], 2 * PAGE)
    assert (last["common_uses"], last["next"]) == (uses[-2:], None)
    # The whole answer was about 80 KB, nearly all of it common uses.
    assert len(first.content[0].text.encode()) < 15_000
    # An unknown name's error: the first 20 of what the page offers, and how many there are.
    error_page = (await page(server, "/services/web.json")).json()
    assert len(error_page["common_uses"]) > 100
    assert unknown == dict(
        error_page, common_uses=error_page["common_uses"][:PAGE], common_uses_count=len(error_page["common_uses"])
    )


async def test_the_cases_have_something_to_compare(server):
    # The comparisons above mean little on empty answers.
    assert (await page(server, "/search.json?q=http")).json()["next"] == "/search.json?q=http&_next=50"
    assert sorted(c["summary"] for c in (await page(server, "/changes.json?port=11434")).json()["changes"]) == [
        "added Reserved on 11434/udp",
        "ollama assigned on 11434/tcp (was Unassigned 11431-11488)",
    ]
    assert [c["kind"] for c in (await page(server, "/changes.json?service=pearldoc-xact")).json()["changes"]] == [
        "renamed",
        "renamed",
    ]
    assert (await page(server, "/search.json?q=minecraft")).json()["common_uses"]
    assert len((await page(server, "/free.json?near=30000&transports=sctp,dccp&count=100")).json()["ports"]) == 100
    # os= changes the answer, so the tool passing it on is tested.
    assert (await page(server, "/ports/25565.json?os=freebsd")).json()["verdict"]["targets"] == ["freebsd"]
    assert (await page(server, "/free.json?near=24000&os=linux,freebsd")).json() != (
        await page(server, "/free.json?near=24000")
    ).json()


@pytest.mark.parametrize(
    "port, transport, rows, references",
    [
        (22, "tcp", [("ssh", "tcp")], ["RFC4251"]),
        (22, "sctp", [("ssh", "sctp")], ["RFC9260"]),
        (22, "dccp", [], []),
        # flex-lm's row has no transport: a legacy assignment, for tcp and udp only.
        (27000, "udp", [("flex-lm", None)], []),
        (27000, "sctp", [], []),
    ],
)
async def test_a_transport_narrows_the_port_to_it(server, port, transport, rows, references):
    whole = (await page(server, f"/ports/{port}.json")).json()
    async with connect(server) as client:
        result = (await client.call_tool("lookup_port", {"port": port, "transport": transport})).structured_content
    assert [(r["service_name"], r["transport"]) for r in result["registrations"]] == rows
    assert [r["reference"] for r in result["references"]] == references
    kept = {r["id"] for r in result["registrations"]}
    assert result == dict(
        whole,
        transports={transport: whole["transports"][transport]},
        registrations=[r for r in whole["registrations"] if r["id"] in kept],
        references=[r for r in whole["references"] if r["registration_id"] in kept],
    )


@pytest.mark.parametrize(
    "arguments",
    [
        {"target": "8080/tcp"},
        {"target": "x11", "tools": "ufw,windows"},
        {"target": "6000-6010/udp", "tools": "nftables"},
    ],
)
async def test_firewall_lines_answer_the_read_sides_value(server, history_db, arguments):
    # No page of the site has these yet: the tool's JSON is the read side's whole answer.
    store = Store.open(history_db)
    try:
        expected = read.firewall(store, arguments["target"], arguments.get("tools"))
    finally:
        store.close()
    async with connect(server) as client:
        result = await client.call_tool("firewall_lines", arguments)
    assert result.is_error is False, result.content
    assert result.structured_content == expected
    assert result.content[0].text == json.dumps(expected, ensure_ascii=False, separators=(",", ":"))


# Errors


def bad(message: str) -> dict:
    return {"ok": False, "error": message, "status": 400, "title": None}


PORT_RANGE = "port must be a whole number from 0 to 65535"
TRANSPORT = "Transport must be one of tcp, udp, sctp, dccp."
# The tool error is the page's error JSON: the path of that page, or its whole value.
ERRORS = [
    ("lookup_port", {"port": 70000}, bad(PORT_RANGE)),
    ("lookup_port", {"port": -1}, bad(PORT_RANGE)),
    ("lookup_port", {"port": 22, "transport": "ipx"}, bad(TRANSPORT)),
    ("lookup_port", {"port": 22, "transport": "TCP"}, bad(TRANSPORT)),
    ("lookup_service", {"name": "no-such-service"}, "/services/no-such-service.json"),
    ("lookup_service", {"name": "pearldoc-xact"}, "/services/pearldoc-xact.json"),
    ("lookup_service", {"name": "minecraft"}, "/services/minecraft.json"),
    ("lookup_service", {"name": "x" * 100}, "/services/" + "x" * 100 + ".json"),
    ("search_registry", {"query": "ssh", "transport": "ipx"}, "/search.json?q=ssh&transport=ipx"),
    ("search_registry", {"query": "70000"}, "/search.json?q=70000"),
    ("search_registry", {"query": "a" * 201}, "/search.json?q=" + "a" * 201),
    ("find_free_ports", {"near": 70000}, bad("near must be a whole number from 0 to 65535")),
    ("find_free_ports", {"near": 8000, "transports": ["tcp", "ipx"]}, "/free.json?near=8000&transports=tcp,ipx"),
    ("find_free_ports", {"near": 8000, "transports": []}, bad("transports must be some of tcp, udp, sctp, dccp.")),
    ("find_free_ports", {"near": 8000, "count": 0}, "/free.json?near=8000&count=0"),
    ("find_free_ports", {"near": 8000, "count": 101}, "/free.json?near=8000&count=101"),
    ("registry_changes", {"since": "yesterday"}, "/changes.json?since=yesterday"),
    ("registry_changes", {"since": "25-02-2026"}, "/changes.json?since=25-02-2026"),
    ("registry_changes", {"kind": "deleted"}, "/changes.json?kind=deleted"),
    ("registry_changes", {"port": 70000}, "/changes.json?port=70000"),
    ("registry_changes", {"port": -1}, "/changes.json?port=-1"),
    ("registry_changes", {"next": "-1"}, bad("_next must be INGEST.DATE.ID, as a next link gives it")),
    ("registry_changes", {"size": 0}, bad("size must be a whole number from 1 to 100")),
    ("registry_changes", {"size": 101}, bad("size must be a whole number from 1 to 100")),
    ("search_registry", {"query": "http", "next": -1}, bad("next must be a whole number from 0 to 1000000000")),
    ("lookup_port", {"port": 22, "os": "plan9"}, "/ports/22.json?os=plan9"),
    ("find_free_ports", {"near": 8000, "os": "plan9"}, "/free.json?near=8000&os=plan9"),
    ("firewall_lines", {"target": "8080/sctp"}, bad("Firewall lines are for tcp and udp only, not sctp.")),
    (
        "firewall_lines",
        {"target": "8080", "tools": "pf"},
        bad("The firewall must be some of ufw, firewalld, nftables, iptables, windows (comma-separated)."),
    ),
    ("firewall_lines", {"target": "no-such-service"}, "/services/no-such-service.json"),
]


@pytest.mark.parametrize("tool, arguments, expected", ERRORS)
async def test_bad_arguments_are_tool_errors_with_the_pages_error_json(server, tool, arguments, expected):
    async with connect(server) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error is True
    assert result.structured_content is None
    [content] = result.content
    if isinstance(expected, dict):
        assert json.loads(content.text) == expected
    else:
        error_page = await page(server, expected)
        assert error_page.json()["status"] == error_page.status_code
        if "common_uses" in error_page.json():
            # An unknown name's: the page's, its common uses 20 at most, with how many there are.
            uses = error_page.json()["common_uses"]
            wanted = dict(error_page.json(), common_uses=uses[:PAGE], common_uses_count=len(uses))
            assert content.text == json.dumps(wanted, ensure_ascii=False, separators=(",", ":"))
        else:
            assert content.text == error_page.text


async def test_unknown_names_carry_what_the_page_offers(server):
    async with connect(server) as client:
        renamed = json.loads((await client.call_tool("lookup_service", {"name": "pearldoc-xact"})).content[0].text)
        game = json.loads((await client.call_tool("lookup_service", {"name": "minecraft"})).content[0].text)
    assert (renamed["status"], renamed["renamed_to"]) == (404, "panquest-xact")
    assert renamed["error"] == "No service by that name in the IANA registry: it was renamed to panquest-xact."
    assert (game["status"], game["error"]) == (404, "No service by that name in the IANA registry.")
    assert {(u["first"], tuple(u["transports"])) for u in game["common_uses"]} >= {(25565, ("tcp",))}


@pytest.mark.parametrize(
    "tool, arguments",
    [
        ("lookup_port", {"port": "ssh"}),
        ("lookup_port", {}),
        ("lookup_service", {}),
        ("find_free_ports", {"near": 8000, "transports": 7}),
        ("registry_changes", {"port": "443/tcp"}),
    ],
)
async def test_arguments_of_the_wrong_type_are_tool_errors_not_crashes(server, tool, arguments):
    async with connect(server) as client:
        result = await client.call_tool(tool, arguments)
        # The server answers the next call as usual.
        after = await client.call_tool("lookup_port", {"port": 22})
    assert result.is_error is True
    first_line = result.content[0].text.splitlines()[0]
    assert first_line == f"Error executing tool {tool}: 1 validation error for {tool}Arguments"
    assert after.is_error is False


# datasette-mcp's SQL tools, within the site's limits


async def test_execute_sql_reads_the_served_build(server):
    async with connect(server) as client:
        databases = await client.call_tool("list_databases", {})
        count = await client.call_tool("execute_sql", {"database": "iana", "sql": "select count(*) as n from ports"})
    assert databases.structured_content == {"databases": ["iana"]}
    assert count.structured_content == {
        "database": "iana",
        "columns": ["n"],
        "rows": [{"n": 65536}],
        "truncated": False,
    }


@pytest.mark.parametrize(
    "sql, message, seconds",
    [
        # One function call SQLite would spin on for most of a second, then answer NULL.
        ("select printf('%.*c', 200000000, 'x')", "SQL error: user-defined function raised exception", 0.5),
        ("select format('%200000000d', 1)", "SQL error: user-defined function raised exception", 0.5),
        ("select zeroblob(200000000)", "SQL error: string or blob too big", 0.5),
        ("select length(replace(hex(zeroblob(400000)), '0', 'aaaa'))", "SQL error: string or blob too big", 0.5),
        # Datasette's own time limit (settings.json: 1 s).
        (
            "with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n",
            "SQL query exceeded the configured time limit.",
            3,
        ),
    ],
)
async def test_hostile_sql_through_execute_sql_fails_fast(server, sql, message, seconds):
    async with connect(server) as client:
        start = time.monotonic()
        result = await client.call_tool("execute_sql", {"database": "iana", "sql": sql})
        elapsed = time.monotonic() - start
    assert (result.is_error, result.content[0].text) == (True, f"Error executing tool execute_sql: {message}")
    assert elapsed < seconds


# The endpoint within the site: methods, caching, CORS


async def test_mcp_answers_are_never_cached_name_no_session_and_carry_cors(server):
    async with httpx.AsyncClient() as http:
        etag = (await http.get(server + "/ports/22.json")).headers["etag"]
        # An If-None-Match that would match any answer from the build.
        for condition in (etag, "*"):
            response = await http.post(
                server + "/-/mcp", json=INITIALIZE, headers={**MCP_ACCEPT, "if-none-match": condition}
            )
            assert response.status_code == 200
            assert response.json()["result"]["serverInfo"] == SERVER_INFO
            assert response.headers["cache-control"] == "no-store"
            assert "etag" not in response.headers
            assert "mcp-session-id" not in response.headers
            assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "PUT", "PATCH"])
async def test_the_mcp_endpoint_takes_only_post(server, method):
    # A GET is what a client sends for a server-to-client event stream; a stateless server
    # has nothing to send on one, and the spec's answer is 405 (also for DELETE: no session).
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.request(method, server + "/-/mcp", headers={**MCP_ACCEPT, "mcp-session-id": "abc"})
    assert (response.status_code, response.headers["allow"]) == (405, "POST")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    "path", ["/", "/ports/22.json", "/-/mcp/", "/-/mcpx", "/-/mcp.json", "/-/healthz", "/iana", "/iana/port_lookup"]
)
async def test_a_post_anywhere_else_is_still_405(server, path):
    async with httpx.AsyncClient() as http:
        response = await http.post(server + path, json=INITIALIZE, headers=MCP_ACCEPT)
    assert (response.status_code, response.headers["allow"]) == (405, "GET, HEAD")


async def test_a_browser_preflight_for_the_mcp_headers_passes(server):
    requested = ["content-type", "mcp-protocol-version", "mcp-method", "mcp-name"]
    async with httpx.AsyncClient() as http:
        response = await http.options(
            server + "/-/mcp",
            headers={
                "origin": "https://agent.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": ",".join(requested),
            },
        )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "POST" in [m.strip() for m in response.headers["access-control-allow-methods"].split(",")]
    allowed = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert set(requested) <= allowed


# What a page on another origin runs: both protocols' messages, as the SDK's client sends them.
BROWSER_CLIENT = """async ([url, legacy, modern]) => {
  const post = async (headers, body) => {
    const r = await fetch(url, {method: "POST", headers: {"content-type": "application/json",
      "accept": "application/json, text/event-stream", ...headers}, body: JSON.stringify(body)});
    return {status: r.status, body: await r.json()};
  };
  const meta = {"io.modelcontextprotocol/protocolVersion": modern,
    "io.modelcontextprotocol/clientInfo": {name: "browser", version: "1"},
    "io.modelcontextprotocol/clientCapabilities": {}};
  const call = {name: "lookup_port", arguments: {port: 22}};
  return [
    await post({}, {jsonrpc: "2.0", id: 1, method: "initialize", params: {protocolVersion: legacy,
      capabilities: {}, clientInfo: {name: "browser", version: "1"}}}),
    await post({"mcp-protocol-version": legacy}, {jsonrpc: "2.0", id: 2, method: "tools/call", params: call}),
    await post({"mcp-protocol-version": modern, "mcp-method": "tools/call", "mcp-name": "lookup_port"},
      {jsonrpc: "2.0", id: 3, method: "tools/call", params: {...call, _meta: meta}}),
  ];
}"""


async def test_a_browser_on_another_origin_calls_a_tool(server):
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: install Debian's chromium"
    from playwright.async_api import async_playwright

    # The same server under another name is another origin: every call below is cross-origin,
    # its non-simple headers preflighted.
    elsewhere = server.replace("127.0.0.1", "localhost")
    expected = (await page(server, "/ports/22.json")).text
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            tab = await browser.new_page()
            await tab.goto(elsewhere + "/-/healthz")
            answers = await tab.evaluate(BROWSER_CLIENT, [server + "/-/mcp", LEGACY_VERSION, MODERN_VERSION])
        finally:
            await browser.close()
    initialized, legacy_call, modern_call = answers
    assert initialized["status"] == 200
    assert initialized["body"]["result"]["serverInfo"] == SERVER_INFO
    for answer in (legacy_call, modern_call):
        assert answer["status"] == 200
        assert answer["body"]["result"]["isError"] is False
        assert answer["body"]["result"]["content"][0]["text"] == expected


# Stateless: any replica answers any request


class RoundRobin(httpx2.AsyncBaseTransport):
    """A load balancer in the client: each HTTP request goes to the next replica in turn."""

    def __init__(self, ports: list[int]):
        self.inner = httpx2.AsyncHTTPTransport()
        self.ports = itertools.cycle(ports)
        self.seen = []  # (replica port, session id sent, status, session id answered)

    async def handle_async_request(self, request):
        port = next(self.ports)
        request.url = request.url.copy_with(port=port)
        request.headers["host"] = f"127.0.0.1:{port}"
        response = await self.inner.handle_async_request(request)
        self.seen.append(
            (port, request.headers.get("mcp-session-id"), response.status_code, response.headers.get("mcp-session-id"))
        )
        return response

    async def aclose(self):
        await self.inner.aclose()


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_spread_over_two_replicas_works(server, replica, mode):
    ports = [httpx.URL(server).port, httpx.URL(replica).port]
    balancer = RoundRobin(ports)
    expected = {n: (await page(server, f"/ports/{n}.json")).text for n in (22, 443, 8080)}
    async with httpx2.AsyncClient(transport=balancer) as http, connect(server, mode, http) as client:
        names = sorted(t.name for t in (await client.list_tools()).tools)
        answers = {n: (await client.call_tool("lookup_port", {"port": n})).content[0].text for n in expected}
    assert names == sorted(OURS + DATASETTE_MCPS)
    assert answers == expected
    assert {port for port, *_ in balancer.seen} == set(ports)
    assert all(status in (200, 202) for _, _, status, _ in balancer.seen), balancer.seen
    # No session to pin a client to a replica: none asked for, none given.
    assert {(sent, given) for _, sent, _, given in balancer.seen} == {(None, None)}


# Over-long input: refused before any work (a 480 KB name once blocked the whole server for 12 s)

TOO_LONG = bad("An argument is too long: tools take at most 1,000 characters of text.")


@pytest.mark.parametrize(
    "tool, arguments",
    [
        ("lookup_service", {"name": "x" * 480_000}),
        ("lookup_service", {"name": "a " * 500_000}),
        ("search_registry", {"query": "ssh " * 120_000}),
        ("registry_changes", {"service": "x" * 480_000}),
        ("find_free_ports", {"near": 8000, "transports": ["tcp"] * 10_000}),
        ("lookup_port", {"port": 22, "transport": "t" * 2_000}),
    ],
    ids=["480 KB name", "1 MB of words", "search", "changes", "10,000 transports", "transport"],
)
async def test_over_long_arguments_are_a_quick_tool_error(server, tool, arguments):
    async with connect(server) as client:
        start = time.monotonic()
        result = await client.call_tool(tool, arguments)
        elapsed = time.monotonic() - start
    assert (result.is_error, json.loads(result.content[0].text)) == (True, TOO_LONG)
    # Generous: the refusal itself is immediate; most of this is the 1 MB message on the wire.
    assert elapsed < 3, elapsed


async def test_the_longest_arguments_allowed_still_answer(server):
    async with connect(server) as client:
        result = await client.call_tool("lookup_service", {"name": "x" * 999})
    assert (result.is_error, json.loads(result.content[0].text)["status"]) == (True, 404)


def raw_post(base: str, framing: bytes) -> tuple[bytes, dict]:
    """The head and JSON body of the answer to a POST /-/mcp whose body is never sent."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /-/mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + framing + b"\r\n")
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body = body.split(b"\r\n")[1]
    return head.split(b"\r\n")[0], json.loads(body)


def test_an_over_long_or_unsized_mcp_message_is_refused_before_it_is_read(server):
    # Only the headers are sent: the answer comes without the server waiting for the body.
    assert raw_post(server, b"Content-Length: 2097153\r\n") == (
        b"HTTP/1.1 413 Request Entity Too Large",
        {"ok": False, "error": "An MCP message is at most 2,097,152 bytes.", "status": 413, "title": None},
    )
    assert raw_post(server, b"Transfer-Encoding: chunked\r\n") == (
        b"HTTP/1.1 411 Length Required",
        {"ok": False, "error": "An MCP message must carry Content-Length.", "status": 411, "title": None},
    )


async def test_execute_sql_cannot_read_the_served_files_path(server, history_db):
    async with connect(server) as client:
        result = await client.call_tool(
            "execute_sql", {"database": "iana", "sql": "select * from pragma_database_list"}
        )
    assert (result.is_error, result.content[0].text) == (
        True,
        "Error executing tool execute_sql: SQL error: access to pragma_database_list.seq is prohibited",
    )
    assert str(history_db.parent) not in result.content[0].text
