"""iana_ports.memory answers every question exactly as iana_ports.store does (memory vs SQL).

The web server reads from memory and the command line with SQL; both must
give the same facts, byte for byte once encoded, in the same order.
"""

import random

import orjson
import pytest

from iana_ports import read
from iana_ports.memory import MemoryStore
from iana_ports.store import Store


@pytest.fixture(scope="module", params=["db_2026", "history_db"])
def both(request):
    store = Store.open(request.getfixturevalue(request.param))
    snapshot = MemoryStore(store.uri)
    yield store, snapshot
    snapshot.close()
    store.close()


def ports_worth_checking(store) -> list[int]:
    """The range edges, both sides of every common use, and a seeded sample of the
    ports where registrations start or end and of all the rest."""
    rng = random.Random(6335)
    edges = {0, 1, 1023, 1024, 9999, 10000, 32767, 32768, 49151, 49152, 60999, 61000, 65535}
    for low, high in store.conn.execute("select first, last from common_uses"):
        edges.update((low, high, max(low - 1, 0), min(high + 1, 65535)))
    registered = {
        p
        for row in store.conn.execute("select port_low, port_high from registrations where port_low is not null")
        for p in row
    }
    return sorted(edges | set(rng.sample(sorted(registered), 600)) | set(rng.sample(range(65536), 600)))


@pytest.mark.slow
def test_port_facts_are_identical(both):
    store, snapshot = both
    for port in ports_worth_checking(store):
        assert orjson.dumps(read.port(snapshot, port)) == orjson.dumps(read.port(store, port)), port


@pytest.mark.slow
def test_service_facts_are_identical(both):
    store, snapshot = both
    keys = [k for (k,) in store.conn.execute("select key from services order by key")]
    # Every alias, historic or port-less name, and a seeded sample of the rest.
    special = {
        k
        for (k,) in store.conn.execute(
            "select key from services where alias_of is not null or historic or not has_port"
            " union select alias_of from services where alias_of is not null"
        )
    }
    for key in sorted(special | set(random.Random(6335).sample(keys, 600))):
        assert orjson.dumps(read.service(snapshot, key)) == orjson.dumps(read.service(store, key)), key


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"kind": "renamed"},
        {"port": "1980"},
        {"port": "290"},
        {"service": "netconf-beep"},
        {"ingest": "2"},
        {"since": "2026-01-01"},
        {"since": "2030"},
        {"_size": "7", "_next": "2.2025-11-14.24"},
        {"kind": "modified", "_next": "2.2025-03-28.1"},
        {"port": "22"},
    ],
)
def test_changes_are_identical(both, filters):
    store, snapshot = both
    parsed = read.change_filters(filters)
    assert orjson.dumps(read.changes(snapshot, parsed)) == orjson.dumps(read.changes(store, parsed))


def test_every_service_history_is_identical(both):
    store, snapshot = both
    keys = {
        k
        for (k,) in store.conn.execute("select service_key from changes union select old_service_key from changes")
        if k
    }
    # db_2026 has one ingest and no history; history_db's changes name services.
    for key in sorted(keys) + ["ssh", "nosuch"]:
        for extra in ({}, {"kind": "renamed"}):
            parsed = read.change_filters({"service": key, **extra})
            assert orjson.dumps(read.changes(snapshot, parsed)) == orjson.dumps(read.changes(store, parsed)), key


@pytest.mark.parametrize("near, transports", [(8000, ("tcp", "udp")), (40000, ("sctp",)), (0, ("udp",))])
def test_free_ports_are_identical(both, near, transports):
    store, snapshot = both
    assert read.free(snapshot, near, transports, 20) == read.free(store, near, transports, 20)


def test_home_facts_are_identical(both):
    store, snapshot = both
    assert orjson.dumps(read.home(snapshot)) == orjson.dumps(read.home(store))
