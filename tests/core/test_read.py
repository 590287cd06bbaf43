"""iana_ports.read on a real build: verdicts, free ports, what people type, the legacy transport rule.

The oracles are the build's own tables read with plain SQL (which
tests/ingest checks against the CSV), never the read side itself.
"""

import sqlite3

import pytest

from iana_ports import read
from iana_ports.query import BadQuery
from iana_ports.memory import MemoryStore
from iana_ports.store import Store

SYSTEM = (
    "It is a System port: on Linux and other Unix-like systems, listening on it needs root or CAP_NET_BIND_SERVICE."
)
GOOD = (
    "Unassigned on tcp and udp, outside the System and Dynamic ranges and the ephemeral ranges of Linux, "
    "Windows and macOS, and no known software listens here."
)
BROWSER = (
    "Browsers refuse to connect to it (the Fetch standard's bad ports; Chrome shows ERR_UNSAFE_PORT): "
    "nothing a browser must reach can listen here."
)
LINUX_CLIENT = (
    "Linux hands it out as a temporary client port (it is inside the default ephemeral range): "
    "an outgoing connection may already hold it."
)
FREEBSD_NOTE = (
    "Not judged here, but the default ephemeral range of FreeBSD (10000–65535) holds it: "
    "on such a host an outgoing connection may take it."
)
TARGETS = ["linux", "windows", "macos"]


@pytest.fixture(scope="module")
def snapshot(db_2026):
    store = Store.open(db_2026)
    snap = MemoryStore(store.uri)
    yield snap
    snap.close()
    store.close()


@pytest.fixture(scope="module")
def sql(db_2026):
    conn = sqlite3.connect(db_2026)
    conn.row_factory = sqlite3.Row
    yield conn
    conn.close()


def no_common_use(sql, port: int) -> bool:
    found = sql.execute("select count(*) from common_uses where first <= ? and last >= ?", (port, port))
    return found.fetchone()[0] == 0


WINDOWS_LEGACY_NOTE = (
    "Not judged here, but the default ephemeral range of Windows XP and Server 2003 (1025–5000) holds it: "
    "on such a host an outgoing connection may take it."
)


# A port of each kind, with the whole verdict it gets (rule version 2): (port, level,
# reasons, how many of them name software, notes). Ports with common uses say so.
@pytest.mark.parametrize(
    "port, level, reasons, software, notes",
    [
        (13, "avoid", ["IANA has assigned it to daytime on tcp and udp.", BROWSER, SYSTEM], 0, []),
        (1026, "avoid", ["IANA has assigned it to cap on tcp and udp."], 0, [WINDOWS_LEGACY_NOTE]),
        (1024, "avoid", ["IANA has reserved it on tcp and udp."], 0, []),
        (1008, "avoid", ["IANA has reserved it on udp.", SYSTEM], 0, []),
        (1895, "good", [GOOD], 0, [WINDOWS_LEGACY_NOTE]),
        # FreeBSD is not a default target: its range is a note, no longer a lower level.
        (20004, "good", [GOOD], 0, [FREEBSD_NOTE]),
        (32778, "caution", [LINUX_CLIENT], 0, [FREEBSD_NOTE]),
        # Blocks wider than 128 ports are notes: Mosh's, and Windows' dynamic RPC ports.
        (
            60878,
            "caution",
            [
                "It is in the Dynamic range (49152–65535), which Linux, Windows and macOS hand out as temporary "
                "client ports: an outgoing connection may already hold it.",
            ],
            0,
            [
                "It is inside the 60000–61000 block Mosh draws ports from (mosh-server mobile shell sessions).",
                "It is inside the 49152–65535 block Windows Remote Procedure Call (RPC) draws ports from "
                "(dynamically assigned high ports for RPC services (Vista/Server 2008 and later)).",
            ],
        ),
        # Built-in defaults lower the level and come first; a wide block is a note.
        (
            5173,
            "caution",
            [
                "Vite listens here by default (dev server with hot module replacement).",
                "VitePress listens here by default (vitepress dev documentation server (Vite-based)).",
            ],
            2,
            [
                "It is inside the 5000–5300 block ASP.NET Core Kestrel draws ports from "
                "(random HTTP port picked for new projects in launchSettings.json).",
            ],
        ),
    ],
)
def test_verdict_of_each_kind_of_port(snapshot, sql, port, level, reasons, software, notes):
    if port not in (5173, 60878):
        assert no_common_use(sql, port), f"{port} gained a common use: pick another port for this kind"
    assert read.port(snapshot, port)["verdict"] == {
        "level": level,
        "reasons": reasons,
        "software_reasons": software,
        "notes": notes,
        "targets": TARGETS,
        "browser_blocked": port == 13,
    }


def test_other_targets_judge_their_own_ephemeral_ranges(snapshot):
    verdict = read.port(snapshot, 20004, read.targets("default,freebsd"))["verdict"]
    assert verdict["level"] == "caution"
    assert verdict["targets"] == ["linux", "windows", "macos", "freebsd"]
    assert verdict["reasons"] == [
        "FreeBSD hands it out as a temporary client port (it is inside the default ephemeral range): "
        "an outgoing connection may already hold it."
    ]
    # Judged for Windows alone, Linux's range is a note too: a good port inside it.
    chosen = read.free(snapshot, 40000, count=1, on=("windows",))["ports"][0]["port"]
    assert 32768 <= chosen <= 40010
    assert read.port(snapshot, chosen, read.targets("windows"))["verdict"] == {
        "level": "good",
        "reasons": [
            "Unassigned on tcp and udp, outside the System and Dynamic ranges and the ephemeral ranges of "
            "Windows, and no known software listens here."
        ],
        "notes": [
            "Not judged here, but the default ephemeral range of Linux (32768–60999) and FreeBSD (10000–65535) "
            "holds it: on such a host an outgoing connection may take it."
        ],
        "software_reasons": 0,
        "targets": ["windows"],
        "browser_blocked": False,
    }


@pytest.mark.parametrize(
    "text, message",
    [
        ("plan9", "os must be some of default, linux, windows, macos, freebsd, windows_legacy (comma-separated)."),
        ("linux,,", "os must be some of default, linux, windows, macos, freebsd, windows_legacy (comma-separated)."),
    ],
)
def test_targets_refuse_unknown_platforms(text, message):
    with pytest.raises(BadQuery) as raised:
        read.targets(text)
    assert str(raised.value) == message


def test_browser_blocked_ports_are_never_good(snapshot, sql):
    from iana_ports.facts import BROWSER_BLOCKED_PORTS

    blocked = [r[0] for r in sql.execute("select port from ports where browser_blocked = 1 order by port")]
    assert blocked == sorted(BROWSER_BLOCKED_PORTS)
    assert {read.port(snapshot, p)["verdict"]["level"] for p in blocked} <= {"avoid", "caution"}
    assert BROWSER in read.port(snapshot, 6000)["verdict"]["reasons"]


def test_port_0_is_never_good(snapshot):
    verdict = read.port(snapshot, 0)["verdict"]
    assert verdict["level"] == "avoid"
    assert verdict["reasons"][0] == (
        "Port 0 cannot be listened on: asking for it makes the operating system pick a free port."
    )
    # No software listens on port 0: the page says no "software above".
    assert verdict["software_reasons"] == 0


def test_one_platform_hands_out_the_dynamic_range(snapshot):
    reasons = read.port(snapshot, 60878, ("linux",))["verdict"]["reasons"]
    assert reasons[0] == (
        "It is in the Dynamic range (49152–65535), which Linux hands out as temporary client ports: "
        "an outgoing connection may already hold it."
    )


@pytest.mark.slow
def test_the_verdict_column_is_the_read_side_verdict_for_every_port(snapshot, sql):
    column = [r[0] for r in sql.execute("select verdict from ports order by port")]
    assert [read.port(snapshot, p)["verdict"]["level"] for p in range(65536)] == column


def good_ports(sql) -> list[int]:
    return [r[0] for r in sql.execute("select port from ports where verdict = 'good' order by port")]


def nearest(ports: list[int], near: int, count: int) -> list[dict]:
    chosen = sorted(ports, key=lambda p: (abs(p - near), p))[:count]
    return [{"port": p, "distance": abs(p - near)} for p in chosen]


@pytest.mark.parametrize("near, count", [(8000, 10), (1491, 3), (0, 5), (65535, 4), (30000, 2)])
def test_free_ports_on_both_sides_and_at_the_edges(snapshot, sql, near, count):
    found = read.free(snapshot, near, count=count)
    assert found == {
        "near": near,
        "transports": ["tcp", "udp"],
        "targets": TARGETS,
        "count": count,
        "ports": nearest(good_ports(sql), near, count),
        "note": read.free_note(near, TARGETS),
    }
    sides = {p["port"] > near for p in found["ports"] if p["port"] != near}
    if near == 0:
        assert sides == {True}
    if near == 65535:
        assert sides == {False}
    if near == 8000:
        assert sides == {True, False}


@pytest.mark.slow
def test_free_ports_for_one_transport(snapshot, sql):
    # Good for tcp alone: unassigned on tcp, 1024-32767 (User range, below Linux's
    # ephemeral range), not refused by browsers, no common use on tcp that weighs.
    tcp_free = [
        r[0]
        for r in sql.execute(
            "select port from ports where tcp = 'unassigned' and port between 1024 and 32767"
            " and browser_blocked = 0 and not exists"
            " (select 1 from common_uses u where ports.port between u.first and u.last"
            " and u.transports like '%\"tcp\"%' and (u.kind = 'default' or u.last - u.first < 128)) order by port"
        )
    ]
    found = read.free(snapshot, 4000, ("tcp",), 6)
    assert found == {
        "near": 4000,
        "transports": ["tcp"],
        "targets": TARGETS,
        "count": 6,
        "ports": nearest(tcp_free, 4000, 6),
        "note": None,
    }
    # A udp-only port free for tcp: 716 is pana on udp only, but System, so never good.
    assert set(tcp_free) > set(good_ports(sql))


def test_free_ports_near_the_ones_people_ask_about(snapshot):
    # Issue 18: FreeBSD's range no longer empties 10000-32767.
    near = read.free(snapshot, 24000, count=3)
    assert len(near["ports"]) == 3 and max(p["distance"] for p in near["ports"]) <= 5, near
    deep = read.free(snapshot, 40000, count=2)
    assert deep["note"] == (
        "32768–65535 is handed out as temporary client ports by Linux, Windows, macOS and every operating "
        "system from 49152 (the Dynamic range), so no port there is good: the nearest good ports are below 32768."
    )
    assert all(p["port"] < 32768 for p in deep["ports"])
    # Another target set scans the registry instead of the build's column, with the same rule.
    assert read.free(snapshot, 40000, count=3, on=("windows",))["note"] is None


@pytest.mark.parametrize(
    "args, message",
    [
        ({"count": 0}, "count must be a whole number from 1 to 100"),
        ({"count": 101}, "count must be a whole number from 1 to 100"),
        ({"transports": ("icmp",)}, "transports must be some of tcp, udp, sctp, dccp."),
        ({"transports": ()}, "transports must be some of tcp, udp, sctp, dccp."),
    ],
)
def test_free_refuses_bad_arguments(snapshot, args, message):
    with pytest.raises(BadQuery) as raised:
        read.free(snapshot, 8000, **args)
    assert str(raised.value) == message


def registration_ids(sql, where: str, params=()) -> list[int]:
    return [r[0] for r in sql.execute(f"select id from registrations where {where} order by id", params)]


def row_ids(result: dict) -> list[int]:
    return [r["id"] for r in result["rows"]]


def test_port_22_is_port_22_not_c1222(snapshot, sql):
    # Full-text "port 22" used to find c1222-acse on 1153 ("ANSI C12.22").
    for text in ("port 22", "22", "022", "Port 22"):
        result = read.search(snapshot, text)
        assert row_ids(result) == registration_ids(sql, "port_low <= 22 and port_high >= 22"), text
        assert [p["port"] for p in result["ports"]] == [22]
        assert result["ports"][0] == {"port": 22, "status": "assigned", "services": ["ssh"], "verdict": "avoid"}


@pytest.mark.parametrize("text", ["22/tcp", "tcp 22", "tcp/22", "22 / TCP"])
def test_port_with_a_transport(snapshot, sql, text):
    result = read.search(snapshot, text)
    assert result["transport"] == "tcp"
    assert row_ids(result) == registration_ids(sql, "port_low <= 22 and port_high >= 22 and transport = 'tcp'")


def test_name_with_a_transport(snapshot, sql):
    result = read.search(snapshot, "ssh/tcp")
    assert result["transport"] == "tcp"
    assert row_ids(result)[0] == registration_ids(sql, "service_key = 'ssh' and transport = 'tcp'")[0]
    assert all(r["transport"] in ("tcp", None) for r in result["rows"])


@pytest.mark.parametrize(
    "text, ports",
    [
        ("8080,8443", [8080, 8443]),
        ("8080, 8443", [8080, 8443]),
        ("8080 8443", [8080, 8443]),
        ("6000-6010", list(range(6000, 6011))),
        ("ports 6000–6010", list(range(6000, 6011))),
    ],
)
def test_lists_and_ranges_of_ports(snapshot, sql, text, ports):
    result = read.search(snapshot, text)
    assert [p["port"] for p in result["ports"]] == ports
    where = " or ".join(f"(port_low <= {p} and port_high >= {p})" for p in ports)
    expected = registration_ids(sql, where)
    # Registrations of the first port first, each row once.
    assert sorted(row_ids(result)) == expected and len(set(row_ids(result))) == len(expected)


@pytest.mark.parametrize(
    "text, message",
    [
        ("70000", "Not a port number: 70000. Ports are whole numbers from 0 to 65535."),
        ("6010-6000", "A port range goes from the lower number to the higher: 6010-6000?"),
        ("1-5000", "A port range may hold at most 1,024 ports."),
    ],
)
def test_impossible_port_queries_say_why(snapshot, text, message):
    with pytest.raises(BadQuery) as raised:
        read.search(snapshot, text)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    "word, port, software",
    [
        ("minecraft", 25565, "Paper (Minecraft: Java Edition server)"),
        ("rdp", 3389, "Microsoft Remote Desktop"),
        ("elasticsearch", 9200, "Elasticsearch"),
        ("grafana", 3000, "Grafana"),
        ("vite", 5173, "Vite"),
        ("kubernetes", 6443, "Kubernetes"),
    ],
)
def test_words_find_common_use_software(snapshot, word, port, software):
    uses = read.search(snapshot, word)["common_uses"]
    assert any(u["first"] == port and u["software"] == software for u in uses), uses


def test_transport_filter_keeps_rows_without_a_transport(snapshot, sql):
    # flex-lm 27000-27009 has no transport: a legacy tcp/udp assignment.
    [flex] = registration_ids(sql, "service_key = 'flex-lm'")
    for transport in ("tcp", "udp"):
        assert flex in row_ids(read.search(snapshot, "flex-lm", transport)), transport
    for transport in ("sctp", "dccp"):
        assert flex not in row_ids(read.search(snapshot, "flex-lm", transport)), transport


def test_legacy_named_rows_without_a_transport_assign_tcp_and_udp_only(snapshot, sql):
    legacy = sql.execute(
        "select service_key, port_low, port_high from registrations"
        " where service_name is not null and port_low is not null and transport is null"
    ).fetchall()
    assert len(legacy) == 16
    for key, low, high in legacy:
        assert snapshot.service(key)["transports"] == ["tcp", "udp"], key
        for port in (low, high):
            facts = read.port(snapshot, port)
            assert facts["transports"]["tcp"]["status"] == facts["transports"]["udp"]["status"] == "assigned"
            for t in ("sctp", "dccp"):
                assert key not in [s.lower() for s in facts["transports"][t]["services"]], (key, port, t)
    # Of 199 dccp assignments the old rule made, 190 came from these rows.
    assert sql.execute("select count(*) from ports where dccp = 'assigned'").fetchone()[0] == 9


@pytest.mark.parametrize(
    "text, where",
    [
        ("22", ("port", 22)),
        ("22/tcp", ("port", 22)),
        ("port 22", ("port", 22)),
        ("SSH", ("service", "ssh")),
        ("ssh/tcp", ("service", "ssh")),
        ("minecraft", ("search", "minecraft")),
        ("8080,8443", ("search", "8080,8443")),
    ],
)
def test_lookup_goes_where_people_mean(snapshot, text, where):
    assert read.lookup(snapshot, text) == where


def walk(store, args: dict) -> tuple[list[dict], list[str]]:
    """Every page of /changes.json from the first, following `next`: (changes, next links)."""
    found, links = [], []
    page = read.change_page(store, args, "/db/changes.json")
    while True:
        found += page["changes"]
        if page["next"] is None:
            return found, links
        links.append(page["next"])
        query = dict(pair.split("=", 1) for pair in page["next"].split("?", 1)[1].split("&"))
        page = read.change_page(store, query, "/db/changes.json")


@pytest.mark.parametrize("kind", [Store, MemoryStore])
def test_next_links_walk_every_change_once_in_order(history_db, kind):
    conn = sqlite3.connect(history_db)
    added = conn.execute("select count(*) from changes where kind = 'added'").fetchone()[0]
    total = conn.execute("select count(*) from changes").fetchone()[0]
    conn.close()
    assert 3 < added and total < read.CHANGES_PAGE
    store = kind(Store.open(history_db).uri)
    try:
        # Every change of this build fits on one default page: nothing links on.
        whole = read.change_page(store, {}, "/changes.json")
        assert (len(whole["changes"]), whole["next"]) == (total, None)
        for args, expected in (
            ({"_size": "7"}, whole["changes"]),
            ({"kind": "added", "_size": "2"}, [c for c in whole["changes"] if c["kind"] == "added"]),
            ({"port": "300", "_size": "1"}, read.change_page(store, {"port": "300"}, "/")["changes"]),
        ):
            found, links = walk(store, args)
            # No change twice, none left out, in the one order: the keyset pages are the list cut.
            assert [c["id"] for c in found] == [c["id"] for c in expected]
            size = int(args["_size"])
            assert len(links) == (len(expected) - 1) // size
            # A link names the last change of its page: ingest, date and id.
            last = found[size - 1]
            date = last["change_date"] or last["registry_date"]
            assert links[0].endswith(f"_next={last['ingest']}.{date}.{last['id']}&_size={size}")
        first = read.change_page(store, {"kind": "added", "_size": "2", "port": ""}, "/db/changes.json")
        assert first["filters"] == {"kind": "added"}
        # An exactly full last page links nowhere (its one-row look-ahead found nothing).
        exact = read.change_page(store, {"_size": str(total)}, "/changes.json")
        assert (len(exact["changes"]), exact["next"]) == (total, None)
    finally:
        store.close()


@pytest.mark.parametrize("token", ["5", "2.2026-02-25", "x.2026-02-25.1", "2.20260225.1", "2..1.4", "1" * 19 + "..1"])
def test_a_next_that_no_page_wrote_is_a_bad_query(history_db, token):
    store = Store.open(history_db)
    try:
        with pytest.raises(BadQuery, match=r"^_next must be INGEST.DATE.ID, as a next link gives it$"):
            read.change_page(store, {"_next": token}, "/changes.json")
    finally:
        store.close()
