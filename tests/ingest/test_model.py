"""The whole port space: ports, ranges, unassigned runs, services, references."""

import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iana_ports.store import file_uri
from ingest import model

TRANSPORTS = ("tcp", "udp", "sctp", "dccp")


@pytest.fixture(scope="module")
def conn(db_2026):
    c = sqlite3.connect(file_uri(db_2026), uri=True)
    c.row_factory = sqlite3.Row
    yield c
    c.close()


@pytest.fixture(scope="module")
def conn_2025(db_2025):
    c = sqlite3.connect(file_uri(db_2025), uri=True)
    c.row_factory = sqlite3.Row
    yield c
    c.close()


def port(c, n):
    return dict(c.execute("select * from ports where port = ?", [n]).fetchone())


def test_every_port_has_a_row(conn):
    assert tuple(conn.execute("select count(*), min(port), max(port) from ports").fetchone()) == (65536, 0, 65535)


def test_60878_is_dynamic_unassigned_and_ephemeral_everywhere(conn):
    assert port(conn, 60878) == {
        "port": 60878,
        "status": "unassigned",
        "tcp": "unassigned",
        "udp": "unassigned",
        "sctp": "unassigned",
        "dccp": "unassigned",
        "services": None,
        "registry_words": None,
        "range": "Dynamic Ports",
        "range_common_name": "Dynamic, private or ephemeral ports",
        "listed": 0,
        "linux": 1,
        "windows": 1,
        "macos": 1,
        "freebsd": 1,
        "windows_legacy": 0,
        "browser_blocked": 0,
        "verdict": "caution",
    }


@pytest.mark.parametrize(
    "n, transport, status, services",
    [
        (22, "tcp", "assigned", ["ssh"]),
        (4, "tcp", "unassigned", None),
        (0, "tcp", "reserved", None),
        (716, "tcp", "unassigned", ["pana"]),  # pana is udp-only; no tcp row at all
        (6010, "tcp", "assigned", ["x11"]),
        (49151, "tcp", "reserved", None),
        (300, "tcp", "assigned", ["tacacss"]),
        (831, "tcp", "reserved", None),
        (7775, "tcp", "assigned", ["inetfs"]),
    ],
)
def test_known_ports_2026(conn, n, transport, status, services):
    row = port(conn, n)
    assert row[transport] == status
    assert (json.loads(row["services"]) if row["services"] else None) == services


def test_716_has_no_tcp_row(conn):
    rows = conn.execute("select transport from registrations where port_low <= 716 and port_high >= 716").fetchall()
    assert [r["transport"] for r in rows] == ["udp"]


def test_1021_is_exp1_on_every_transport(conn):
    row = port(conn, 1021)
    assert [row[t] for t in TRANSPORTS] == ["assigned"] * 4
    assert json.loads(row["services"]) == ["exp1"]


def test_registry_words_kept_beside_status(conn):
    assert port(conn, 0)["registry_words"] == "Reserved"
    assert port(conn, 24)["registry_words"] == "any private mail system"
    assert port(conn, 4)["registry_words"] == "Unassigned"
    assert port(conn, 22)["registry_words"] is None


def test_2025_snapshot_before_the_changes(conn_2025):
    assert port(conn_2025, 300)["tcp"] == "unassigned"
    row = port(conn_2025, 831)
    assert row["tcp"] == "assigned"
    assert json.loads(row["services"]) == ["netconf-beep"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_status_counts_sum_to_the_port_space(conn, transport):
    counts = dict(conn.execute(f"select {transport}, count(*) from ports group by 1").fetchall())
    assert set(counts) <= {"assigned", "reserved", "unassigned"}
    assert sum(counts.values()) == 65536
    assert counts["assigned"] > 0 and counts["unassigned"] >= 16384


@pytest.mark.parametrize("transport", (*TRANSPORTS, "all"))
def test_unassigned_runs_cover_exactly_the_unassigned_ports(conn, transport):
    cols = TRANSPORTS if transport == "all" else (transport,)
    where = " and ".join(f"{c} = 'unassigned'" for c in cols)
    free = {r[0] for r in conn.execute(f"select port from ports where {where}")}
    covered = set()
    runs = conn.execute(
        "select first, last, length from unassigned_ranges where transport = ? order by first",
        [transport],
    ).fetchall()
    previous_last = -2
    for first, last, length in runs:
        assert length == last - first + 1
        assert first > previous_last + 1, "runs must be maximal (not adjacent)"
        covered.update(range(first, last + 1))
        previous_last = last
    assert covered == free


def test_dynamic_range_is_one_run_and_4_is_a_run_of_one(conn):
    run = lambda n: tuple(  # noqa: E731
        conn.execute(
            "select first, last, length, range from unassigned_ranges"
            " where transport = 'all' and first <= ? and last >= ?",
            [n, n],
        ).fetchone()
    )
    assert run(60878) == (49152, 65535, 16384, "Dynamic Ports")
    assert run(4) == (4, 4, 1, "System Ports")


def test_ranges_table(conn):
    rows = [dict(r) for r in conn.execute("select name, first, last, size from ranges order by first")]
    assert rows == [
        {"name": "System Ports", "first": 0, "last": 1023, "size": 1024},
        {"name": "User Ports", "first": 1024, "last": 49151, "size": 48128},
        {"name": "Dynamic Ports", "first": 49152, "last": 65535, "size": 16384},
    ]


def test_os_ephemeral_ranges_table(conn):
    rows = conn.execute("select os, first, last from os_ephemeral_ranges order by os").fetchall()
    assert [tuple(r) for r in rows] == [
        ("freebsd", 10000, 65535),
        ("linux", 32768, 60999),
        ("macos", 49152, 65535),
        ("windows", 49152, 65535),
        ("windows_legacy", 1025, 5000),
    ]


def test_services_alias_and_validity(conn):
    svc = lambda k: dict(conn.execute("select * from services where key = ?", [k]).fetchone())  # noqa: E731
    whois = svc("whois++")
    assert (whois["alias_of"], whois["historic"], whois["rfc6335_valid"]) == ("whoispp", 1, 0)
    assert json.loads(whois["ports"]) == ["63"]
    x11 = svc("x11")
    assert json.loads(x11["ports"]) == ["6000-6063"]
    assert json.loads(x11["transports"]) == ["tcp", "udp"]
    assert (x11["has_port"], x11["rfc6335_valid"], x11["alias_of"]) == (1, 1, None)
    assert svc("arp")["has_port"] == 0
    # "This is a duplicate of the "http" service" links www and www-http to http.
    assert (svc("www")["alias_of"], svc("www-http")["alias_of"], svc("http")["alias_of"]) == ("http", "http", None)
    names = conn.execute("select count(distinct service_key) from registrations").fetchone()[0]
    assert conn.execute("select count(*) from services").fetchone()[0] == names


def test_references_typed_and_linked(conn):
    rows = conn.execute(
        """select r.reference, r.kind, r.url from [references] r
        join registrations g on g.id = r.registration_id
        where g.service_key = 'ssh' and g.transport = 'tcp'"""
    ).fetchall()
    assert [tuple(r) for r in rows] == [("RFC4251", "rfc", "https://www.rfc-editor.org/rfc/rfc4251")]
    kinds = dict(conn.execute("select kind, count(*) from [references] group by kind").fetchall())
    # This snapshot's Reference column names no person, only documents and URLs.
    assert set(kinds) == {"rfc", "draft", "url", "other"}
    assert kinds["draft"] == 8  # 5 RFC-ietf-... drafts + draft-bhjl x2 + draft-herbert


@pytest.mark.parametrize(
    "token, expected",
    [
        ("RFC6335", ("rfc", "https://www.rfc-editor.org/rfc/rfc6335")),
        ("RFC8765, Section 6.1", ("rfc", "https://www.rfc-editor.org/rfc/rfc8765#section-6.1")),
        (
            "RFC-ietf-emailcore-rfc5321bis-43",
            ("draft", "https://datatracker.ietf.org/doc/draft-ietf-emailcore-rfc5321bis/"),
        ),
        ("draft-bhjl-x509-srv-01", ("draft", "https://datatracker.ietf.org/doc/draft-bhjl-x509-srv/")),
        ("Jon_Postel", ("person", None)),
        ("TR-352", ("other", None)),
        ("IESG", ("person", None)),
        ("https://xahau.network", ("url", "https://xahau.network")),
        ("n/a", ("other", None)),
    ],
)
def test_classify_reference(token, expected):
    assert model.classify_reference(token) == expected


@pytest.mark.parametrize(
    "name, valid",
    [
        ("ssh", True),
        ("x11", True),
        ("a", True),
        ("whois++", False),
        ("sql*net", False),
        ("z39.50", False),
        ("cl/1", False),
        ("under_score", False),
        ("-lead", False),
        ("trail-", False),
        ("dou--ble", False),
        ("123", False),
        ("abcdefghijklmno", True),
        ("abcdefghijklmnop", False),
    ],
)
def test_rfc6335_names(name, valid):
    assert model.is_rfc6335_name(name) is valid


def _expected_status(rows, transport):
    """The README's rules, written out plainly for one port and transport."""
    best = "unassigned"
    order = ["unassigned", "reserved", "assigned"]
    for r in rows:
        if r["transport"] is None:
            # A named row without a transport is a legacy tcp/udp assignment;
            # a nameless one speaks for all four.
            if r["service_name"] and transport not in ("tcp", "udp"):
                continue
        elif r["transport"] != transport:
            continue
        if r["service_name"]:
            status = "assigned"
        elif (r["description"] or "").lstrip("( ").lower().startswith("unassigned"):
            status = "unassigned"
        else:
            status = "reserved"
        best = max(best, status, key=order.index)
    return best


@settings(max_examples=300, deadline=None)
@given(n=st.one_of(st.integers(0, 65535), st.sampled_from([0, 1023, 1024, 49151, 49152, 65535])))
def test_ports_runs_and_registrations_agree(conn, n):
    rows = conn.execute("select * from registrations where port_low <= :n and port_high >= :n", {"n": n}).fetchall()
    row = port(conn, n)
    assert row["listed"] == (1 if rows else 0)
    names = []
    for r in rows:
        if r["service_name"] and r["service_name"] not in names:
            names.append(r["service_name"])
    assert set(json.loads(row["services"]) if row["services"] else []) == set(names)
    for t in TRANSPORTS:
        expected = _expected_status(rows, t)
        assert row[t] == expected, (n, t)
        in_run = conn.execute(
            "select count(*) from unassigned_ranges where transport = ? and first <= ? and last >= ?",
            [t, n, n],
        ).fetchone()[0]
        assert in_run == (1 if expected == "unassigned" else 0)
    rng = conn.execute("select name from ranges where first <= ? and last >= ?", [n, n]).fetchone()[0]
    assert row["range"] == rng
    for os_row in conn.execute("select os, first, last from os_ephemeral_ranges"):
        assert row[os_row["os"]] == int(os_row["first"] <= n <= os_row["last"])
