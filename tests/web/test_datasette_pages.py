"""Canned queries (iana_ports/web/metadata.py): answers on odd input stay right (or empty), never wrong."""

import csv

import pytest

from iana_ports.facts import COMMON_USES_CSV
from ingest import common_uses

TRANSPORTS = ("tcp", "udp", "sctp", "dccp")


@pytest.fixture(scope="module")
def free_on(snapshot_2026):
    """port -> set of transports with an assigning/reserving row, read from the CSV."""
    taken: dict[int, set] = {}
    with open(snapshot_2026, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            port = row["Port Number"]
            if not port:
                continue
            low, _, high = port.partition("-")
            words = row["Description"].lstrip("( ").lower()
            if not row["Service Name"] and words.startswith("unassigned"):
                continue
            # A named row without a transport is a legacy tcp/udp assignment; a nameless one covers all four.
            transports = (
                [row["Transport Protocol"]]
                if row["Transport Protocol"]
                else (("tcp", "udp") if row["Service Name"] else TRANSPORTS)
            )
            for p in range(int(low), int(high or low) + 1):
                taken.setdefault(p, set()).update(transports)
    return lambda port, transports: not (taken.get(port, set()) & set(transports))


async def rows(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(
    "transports, meaning",
    [
        ("tcp,udp", ("tcp", "udp")),
        ("TCP, udp", ("tcp", "udp")),
        ("", TRANSPORTS),
        ("tpc", ()),
        ("dccp", ("dccp",)),
    ],
)
async def test_unassigned_between(datasette, free_on, transports, meaning):
    got = await rows(
        datasette, f"/iana/unassigned_between.json?first=8000&last=8100&transports={transports}&_shape=array"
    )
    expected = [p for p in range(8000, 8101) if free_on(p, meaning)] if meaning else []
    assert [r["port"] for r in got] == expected
    assert expected or not meaning, "the window should hold some free ports"


async def test_port_lookup_refuses_a_non_number(datasette):
    assert await rows(datasette, "/iana/port_lookup.json?port=abc&_shape=array") == []
    got = await rows(datasette, "/iana/port_lookup.json?port=22&_shape=array")
    assert {(r["service_name"], r["transport"]) for r in got} == {("ssh", "tcp"), ("ssh", "udp"), ("ssh", "sctp")}


async def test_safe_ports_start(datasette, free_on):
    assert await rows(datasette, "/iana/safe_ports.json?start=abc&_shape=array") == []
    got = await rows(datasette, "/iana/safe_ports.json?start=&_shape=array")
    # The first port free on tcp and udp that no common use covers (the verdict's rule, tested in tests/core).
    used = {p for u in common_uses.read(COMMON_USES_CSV)[0] for p in range(u["first"], u["last"] + 1)}
    assert got[0]["port"] == min(p for p in range(1024, 10000) if free_on(p, ("tcp", "udp")) and p not in used)
    body = await rows(datasette, "/iana/safe_ports.json?start=1024")
    # 1,000 rows is Datasette's max_returned_rows; the answer says it was cut.
    assert len(body["rows"]) == 1000 and body["truncated"] is True
