"""Oracles read straight from the registry snapshot and the curated common-uses file with the
standard library's csv module: nothing from ingest/ or iana_ports/ goes into an expected value."""

import csv
import re
from functools import cache

from deploy.harness import SNAPSHOT_2026
from iana_ports.facts import COMMON_USES_CSV

TRANSPORT_ORDER = ("tcp", "udp", "sctp", "dccp")
# The Assignment Notes that link a name to another, as IANA words them.
ALIAS = re.compile(r'(?:an alias to|a duplicate of the) "([^"]+)"')
HISTORIC = "This entry is now historic"


@cache
def rows() -> tuple[dict, ...]:
    """Every data row of the 2026-02-25 snapshot, with its 1-based number."""
    with open(SNAPSHOT_2026, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        header = next(reader)
        return tuple(dict(zip(header, values), number=n) for n, values in enumerate(reader, 1))


@cache
def named_places() -> tuple[tuple, ...]:
    """(port, transport, name, key, description) per name, port and transport, sorted by port,
    then tcp/udp/sctp/dccp, then registry row; a name's first row on a place wins."""
    found = {}
    for r in rows():
        name, port = r["Service Name"], r["Port Number"]
        if not name or not port:
            continue
        low, _, high = port.partition("-")
        # A named row without a transport is a legacy tcp-and-udp assignment (registry notes).
        transports = [r["Transport Protocol"]] if r["Transport Protocol"] else ["tcp", "udp"]
        for t in transports:
            for p in range(int(low), int(high or low) + 1):
                found.setdefault(
                    (p, t, name.lower()), (p, TRANSPORT_ORDER.index(t), r["number"], name, r["Description"])
                )
    ordered = sorted(found.values())
    return tuple((p, TRANSPORT_ORDER[t], name, name.lower(), description) for p, t, _, name, description in ordered)


@cache
def links() -> dict[str, str]:
    """key -> the key it is an alias or duplicate of."""
    found = {}
    for r in rows():
        m = ALIAS.search(r["Assignment Notes"])
        if r["Service Name"] and m:
            found[r["Service Name"].lower()] = m.group(1).lower()
    return found


@cache
def historic() -> frozenset[str]:
    return frozenset(
        r["Service Name"].lower() for r in rows() if r["Service Name"] and HISTORIC in r["Assignment Notes"]
    )


@cache
def uses() -> tuple[dict, ...]:
    """The curated common uses in file order, in the shape the read side gives them."""
    with open(COMMON_USES_CSV, newline="", encoding="utf-8") as f:
        found = []
        for row in csv.DictReader(f):
            low, _, high = row["port"].partition("-")
            found.append(
                {
                    "software": row["software"],
                    "kind": row["kind"],
                    "description": row["description"],
                    "transports": [t for t in TRANSPORT_ORDER if t in row["transports"].split()],
                    "first": int(low),
                    "last": int(high or low),
                    "category": row["category"],
                    "source": row["source"],
                }
            )
        return tuple(found)


def uses_at(port: int) -> list[dict]:
    return [u for u in uses() if u["first"] <= port <= u["last"]]
