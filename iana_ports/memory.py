"""One build of the registry held in memory, for the web server.

A build is immutable and small (about 15 MB in memory), so the server loads
it once when the build is swapped in and then answers a port or service
page with dictionary lookups and bisection: no SQL and no hop to a worker
thread per request. MemoryStore answers every question a Store answers, with
the same values in the same order (tests compare the two on every kind of
port); full-text search stays in SQLite, through the inherited Store methods.

Loading is also the check that a file can be served: a build the pages
could not show (no ingest, not 65,536 ports, a status outside the known
set, a JSON column that does not decode) raises NotABuild naming what is
wrong, and the server keeps the build it has (iana_ports.web.builds).

The loaded structures are shared by every request and must not be mutated.
"""

import json
from bisect import bisect_left, bisect_right
from collections import defaultdict
from itertools import islice

from .facts import ASSIGNED, PORT_COUNT, STATUSES, TRANSPORTS
from .store import (
    CHANGES_SQL,
    FOOTNOTES_SQL,
    INGESTS_SQL,
    REGISTRY_NOTES_SQL,
    RANGE_COUNTS_SQL,
    SERVICE_COUNT_SQL,
    TRANSPORT_COUNTS_SQL,
    USES_SQL,
    NotABuild,
    Store,
    change_key,
    change_params,
    decode_change,
    decode_service,
    decode_use,
    rows,
)
from .verdict import GOOD

PORT_COLUMNS_SQL = """
select port, status, tcp, udp, sctp, dccp, services, registry_words, verdict from ports order by port
"""
REGISTRATIONS_SQL = "select * from registrations order by id"
REFERENCES_SQL = 'select * from "references" order by registration_id, position'
PEOPLE_ALL_SQL = "select id, name, org from people"
RUNS_SQL = "select transport, first, last from unassigned_ranges order by transport, first"
SERVICES_SQL = "select * from services order by key"
# A change covering more ports than this is checked on every port lookup
# rather than indexed under each of its ports.
WIDE_CHANGE = 64

_CODE = {s: i for i, s in enumerate(STATUSES)}
# What a column that does not hold what the loader expects raises while it is decoded.
_UNDECODABLE = (ValueError, TypeError, KeyError, AttributeError)


class MemoryStore(Store):
    def __init__(self, uri: str, connect=None):
        super().__init__(uri, connect)
        conn = self.conn
        self._ingests = rows(conn, INGESTS_SQL)
        if not self._ingests:
            raise NotABuild("the ingests table is empty")
        for table, load in (
            ("ports", self._load_ports),
            ("registrations", self._load_registrations),
            ("unassigned_ranges", self._load_runs),
            ("services", self._load_services),
            ("common_uses", self._load_uses),
            ("changes", self._load_changes),
        ):
            try:
                load(conn)
            except _UNDECODABLE as exc:
                raise NotABuild(f"the {table} table does not decode ({type(exc).__name__}: {exc})") from None
        # The XML's additions, small: the people table is a few thousand names.
        self._people = self._footnotes = {}
        self._notes = []
        if self.enriched:
            self._people = {r["id"]: {"name": r["name"], "org": r["org"]} for r in rows(conn, PEOPLE_ALL_SQL)}
            self._footnotes = {r["anchor"]: r["text"] for r in rows(conn, FOOTNOTES_SQL)}
            self._notes = rows(conn, REGISTRY_NOTES_SQL)
        self._counts = (
            rows(conn, RANGE_COUNTS_SQL),
            rows(conn, TRANSPORT_COUNTS_SQL),
            conn.execute(SERVICE_COUNT_SQL).fetchone()[0],
        )

    # Loading
    def _load_ports(self, conn) -> None:
        ports, *columns = list(zip(*conn.execute(PORT_COLUMNS_SQL))) or [()]
        if ports != tuple(range(PORT_COUNT)):
            raise NotABuild(f"the ports table has {len(ports)} rows, not one for each of the {PORT_COUNT} ports")
        for name, col in zip(("status", *TRANSPORTS), columns[:5]):
            if unknown := set(col) - set(STATUSES):
                raise NotABuild(f"ports.{name} holds {sorted(map(repr, unknown))[0]}, not one of {', '.join(STATUSES)}")
        self._status = {
            name: bytes(map(_CODE.__getitem__, col)) for name, col in zip(("status", *TRANSPORTS), columns[:5])
        }
        self._services = {p: _names(s) for p, s in enumerate(columns[5]) if s}
        self._words = {p: w for p, w in enumerate(columns[6]) if w is not None}
        self._good = bytes(v == GOOD for v in columns[7])
        self._verdict = columns[7]
        self._assigned = [p for p, code in enumerate(self._status["status"]) if STATUSES[code] == ASSIGNED]
        self._assigned_facts = [{"port": p, "services": self._services[p]} for p in self._assigned]

    def _load_registrations(self, conn) -> None:
        regs = rows(conn, REGISTRATIONS_SQL)
        # The rows covering each stretch of ports between two range edges: a
        # sweep over every row's first port and the port after its last.
        events = defaultdict(list)
        for r in regs:
            if r["port_low"] is not None:
                events[r["port_low"]].append((True, r))
                events[r["port_high"] + 1].append((False, r))
        active: dict[int, dict] = {}
        self._starts, self._covering = [], []
        for port in sorted(events):
            for adding, r in events[port]:
                if adding:
                    active[r["id"]] = r
                else:
                    del active[r["id"]]
            self._starts.append(port)
            self._covering.append(tuple(active[i] for i in sorted(active)))
        self._by_service = defaultdict(list)
        for r in regs:
            if r["service_key"]:
                self._by_service[r["service_key"]].append(r)
        self._refs = defaultdict(list)
        for ref in rows(conn, REFERENCES_SQL):
            self._refs[ref["registration_id"]].append(ref)

    def _load_runs(self, conn) -> None:
        runs = defaultdict(list)
        for r in conn.execute(RUNS_SQL):
            runs[r[0]].append((r[1], r[2]))
        # The runs' edges cut the port space into stretches inside the same run on every
        # transport (or outside any): each stretch's answer is made once, found by bisection.
        edges = sorted({0} | {edge for t in runs for first, last in runs[t] for edge in (first, last + 1)})
        answers = {t: [{"first": first, "last": last} for first, last in runs[t]] for t in (*TRANSPORTS, "all")}
        lasts = {t: [last for _, last in runs[t]] for t in answers}
        self._run_edges, self._run_stretches = edges, []
        for edge in edges:
            found = {}
            for t, each in answers.items():
                i = bisect_left(lasts[t], edge)
                if i < len(each) and each[i]["first"] <= edge:
                    found[t] = each[i]
            self._run_stretches.append(found)

    def _load_services(self, conn) -> None:
        self._service_rows = {s["key"]: decode_service(s) for s in rows(conn, SERVICES_SQL)}
        self._aliases = defaultdict(list)
        for s in self._service_rows.values():
            if s["alias_of"]:
                self._aliases[s["alias_of"]].append(s)

    def _load_uses(self, conn) -> None:
        self._uses = [decode_use(u) for u in rows(conn, USES_SQL)]
        # The uses covering each port, in self._uses' order: one tuple per port, ports
        # covered alike sharing one (most share the empty one), so a lookup is an index.
        covering = defaultdict(list)
        for position, u in enumerate(self._uses):
            for p in range(u["first"], u["last"] + 1):
                covering[p].append(position)
        shared: dict[tuple, tuple] = {}
        self._uses_at = [()] * PORT_COUNT
        for p, positions in covering.items():
            key = tuple(positions)
            if key not in shared:
                shared[key] = tuple(self._uses[i] for i in key)
            self._uses_at[p] = shared[key]

    def _load_changes(self, conn) -> None:
        unfiltered = {
            "kind": None,
            "port": None,
            "service": None,
            "ingest": None,
            "since": None,
            "limit": -1,
            "after": None,
        }
        self._changes = [decode_change(c) for c in rows(conn, CHANGES_SQL, change_params(unfiltered))]
        # Each change's place in that order as an ascending key, so a page's `_next`
        # (read.change_key()) is found by bisection.
        self._change_order = [_ascending(change_key(c)) for c in self._changes]
        # Positions in self._changes, per port and per service key, so the history
        # of a port or a service page costs no scan of every change ever recorded.
        self._changes_at = defaultdict(list)
        self._changes_of = defaultdict(list)
        self._wide_changes = []
        self._renamed_to = {}
        for position, c in enumerate(self._changes):
            spans = {
                (c[f"{side}_port_low"], c[f"{side}_port_high"])
                for side in ("old", "new")
                if c[f"{side}_port_low"] is not None
            }
            if any(high - low >= WIDE_CHANGE for low, high in spans):
                self._wide_changes.append(position)
            else:
                for p in {p for low, high in spans for p in range(low, high + 1)}:
                    self._changes_at[p].append(position)
            for key in {c["service_key"], c["old_service_key"]} - {None}:
                self._changes_of[key].append(position)
            # Newest first, so the first rename seen away from a key is the newest.
            if c["kind"] == "renamed" and c["old_service_key"] and c["service_name"]:
                self._renamed_to.setdefault(c["old_service_key"], c["service_name"])

    # The Store questions, answered from memory
    def latest_ingest(self) -> dict:
        return self._ingests[-1]

    def ingests(self) -> list[dict]:
        return self._ingests

    def port_row(self, port: int) -> dict:
        row = {name: STATUSES[codes[port]] for name, codes in self._status.items()}
        row["services"] = self._services.get(port, [])
        row["registry_words"] = self._words.get(port)
        row["verdict"] = self._verdict[port]
        return row

    def registrations_at(self, port: int) -> list[dict]:
        i = bisect_right(self._starts, port) - 1
        return list(self._covering[i]) if i >= 0 else []

    def references_of(self, registration_ids: list[int]) -> list[dict]:
        return [ref for i in sorted(set(registration_ids)) for ref in self._refs.get(i, ())]

    def people_of(self, ids: list[str]) -> dict[str, dict]:
        return {i: self._people[i] for i in ids if i in self._people}

    def footnotes(self) -> dict[str, str]:
        return self._footnotes

    def registry_notes(self) -> list[dict]:
        return self._notes

    def runs_at(self, port: int) -> dict:
        return dict(self._run_stretches[bisect_right(self._run_edges, port) - 1])

    def assigned_near(self, port: int) -> tuple:
        # Each assigned port's answer is made once, at load.
        facts, i, j = self._assigned_facts, bisect_left(self._assigned, port), bisect_right(self._assigned, port)
        return (facts[i - 1] if i > 0 else None), (facts[j] if j < len(facts) else None)

    def good_near(self, port: int, count: int) -> tuple[list[int], list[int]]:
        below, above, good = [], [], self._good
        end = port
        while len(below) < count and (end := good.rfind(1, 0, end)) != -1:
            below.append(end)
        start = port + 1
        while len(above) < count and (start := good.find(1, start)) != -1:
            above.append(start)
            start += 1
        return below, above

    def statuses(self, first: int, last: int) -> list[tuple]:
        columns = [self._status[t][first : last + 1] for t in TRANSPORTS]
        return [tuple(STATUSES[c] for c in codes) for codes in zip(*columns)]

    def uses_at(self, port: int) -> list[dict]:
        return list(self._uses_at[port])

    def uses(self) -> list[dict]:
        return self._uses

    def service(self, key: str) -> dict | None:
        return self._service_rows.get(key)

    def service_keys(self) -> list[str]:
        # Python orders str by code point, as SQLite's BINARY collation orders UTF-8.
        return sorted(self._service_rows)

    def service_registrations(self, key: str) -> list[dict]:
        return list(self._by_service.get(key, ()))

    def aliases(self, key: str) -> list[dict]:
        return list(self._aliases.get(key, ()))

    def renamed_to(self, key: str) -> str | None:
        return self._renamed_to.get(key)

    def counts(self) -> tuple[list[dict], list[dict], int]:
        return self._counts

    def changes(self, filters: dict) -> list[dict]:
        port = filters["port"]
        if port is not None:
            found = [
                *self._changes_at.get(port, ()),
                *(i for i in self._wide_changes if _covers(self._changes[i], port)),
            ]
            if not found:
                return []  # most ports, on every port page
        start = 0 if filters["after"] is None else bisect_right(self._change_order, _ascending(filters["after"]))
        if port is not None:
            candidates = [self._changes[i] for i in sorted(set(found)) if i >= start]
        elif filters["service"] is not None:
            positions = self._changes_of.get(filters["service"], ())
            candidates = [self._changes[i] for i in positions[bisect_left(positions, start) :]]
        else:
            candidates = islice(self._changes, start, None)
        kind, service, ingest, since = filters["kind"], filters["service"], filters["ingest"], filters["since"]
        matching = (
            c
            for c in candidates
            if (kind is None or c["kind"] == kind)
            and (service is None or service in (c["service_key"], c["old_service_key"]))
            and (ingest is None or c["ingest"] == ingest)
            and (since is None or (c["registry_date"] or "") >= since)
        )
        limit = filters["limit"]
        return list(islice(matching, None if limit < 0 else limit))


def _ascending(key: tuple[int, str, int]) -> tuple[int, int, int]:
    """read.change_key() (ingest and date newest first, then id) as a key that sorts ascending.

    A date is YYYY, YYYY-MM or YYYY-MM-DD (or empty); as digits padded to eight it compares
    as the text does in SQL ('2025-03' < '2025-03-01' < '2025-04')."""
    ingest, date, change_id = key
    return -ingest, -int(date.replace("-", "").ljust(8, "0") or 0), change_id


def _names(services: str) -> list[str]:
    names = json.loads(services)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"ports.services holds {services[:40]!r}, not a JSON list of names")
    return names


def _covers(change: dict, port: int) -> bool:
    return any(
        change[f"{side}_port_low"] is not None and change[f"{side}_port_low"] <= port <= change[f"{side}_port_high"]
        for side in ("old", "new")
    )
