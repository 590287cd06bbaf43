"""One build of the registry, read with SQL: the read side's access to a database file.

A Store answers a few narrow questions (the rows covering a port, a
service's rows, the free ports near one, ...); iana_ports.read turns the
answers into the facts of a page. The command line reads a build this way:
a handful of indexed queries cost less than loading the whole build.
iana_ports.memory.MemoryStore answers the same questions from memory for the
web server, and must answer them identically.

The file is opened read-only; connections are per thread, so one Store can
serve a pool of worker threads.
"""

import json
import os
import sqlite3
import threading
from pathlib import Path
from urllib.parse import quote

from .facts import TRANSPORTS

LATEST_INGEST_SQL = "select * from ingests order by id desc limit 1"
INGESTS_SQL = "select * from ingests order by id"
TABLES_SQL = "select name from sqlite_master where type = 'table'"
PORT_SQL = """
select status, tcp, udp, sctp, dccp, services, registry_words, verdict from ports where port = :port
"""
# :span is the widest registered range, so the port_low index bounds the scan
# to rows that can reach :port instead of every row below it.
SPAN_SQL = "select coalesce(max(port_high - port_low), 0) from registrations"
REGISTRATIONS_AT_SQL = """
select * from registrations
where port_low between :port - :span and :port and port_high >= :port
order by id
"""
# What the registry's XML added to the build (ingest/enrich.py); a build made without it has these
# tables empty, an older build none of them.
PEOPLE_SQL = "select id, name, org from people where id in (select value from json_each(:ids))"
FOOTNOTES_SQL = "select anchor, text from footnotes order by anchor"
REGISTRY_NOTES_SQL = "select position, title, text, link from registry_notes order by position"
XML_TABLES = ("people", "footnotes", "registry_notes")
REFERENCES_SQL = """
select * from "references"
where registration_id in (select value from json_each(:ids))
order by registration_id, position
"""
# The run holding :port, if any, is the first one per transport ending at or after it.
RUNS_AT_SQL = " union all ".join(
    f"""select * from (select transport, first, last from unassigned_ranges
    where transport = '{t}' and last >= :port order by last limit 1)"""
    for t in (*TRANSPORTS, "all")
)
ASSIGNED_BELOW_SQL = """
select port, services from ports where status = 'assigned' and port < :port order by port desc limit 1
"""
ASSIGNED_ABOVE_SQL = """
select port, services from ports where status = 'assigned' and port > :port order by port limit 1
"""
GOOD_BELOW_SQL = "select port from ports where verdict = 'good' and port < :port order by port desc limit :count"
GOOD_ABOVE_SQL = "select port from ports where verdict = 'good' and port > :port order by port limit :count"
STATUSES_SQL = "select tcp, udp, sctp, dccp from ports where port between :first and :last order by port"
USES_AT_SQL = "select * from common_uses where first <= :port and last >= :port order by id"
USES_SQL = "select * from common_uses order by id"

SERVICE_SQL = "select * from services where key = :key"
SERVICE_KEYS_SQL = "select key from services order by key"
SERVICE_REGISTRATIONS_SQL = "select * from registrations where service_key = :key order by id"
ALIASES_SQL = "select * from services where alias_of = :key order by key"
# The newest rename away from :key.
RENAMED_TO_SQL = """
select service_name from changes
where kind = 'renamed' and old_service_key = :key and service_name is not null
order by ingest desc, id limit 1
"""

RANGE_COUNTS_SQL = "select range, status, count(*) as n from ports group by range, status"
TRANSPORT_COUNTS_SQL = " union all ".join(
    f"select '{t}' as transport, {t} as status, count(*) as n from ports group by {t}" for t in TRANSPORTS
)
SERVICE_COUNT_SQL = "select count(*) from services"

# Newest first by registry date: ingests newest first, and within one the change's own date
# (change_date), else its ingest's registry date (what the pages show), newest first, then id:
# read.change_key(), which a page's `_next` carries (keyset paging: the page after a key is a
# comparison, never an offset counted through the rows before it).
# change_date is the date the row after carries (registration or modification), when it is
# newer than the previous ingest's registry date: an older date is the row's history, not the
# date of this change. An ingest's registry date is stored at build time (facts.registry_date).
CHANGES_SQL = """
with dated as (
  select
    changes.*, ingests.sha256 as ingest_sha256, ingests.fetched_at,
    ingests.registry_date, previous.registry_date as previous_registry_date,
    nullif(max(coalesce(json_extract(changes.new, '$.registration_date'), ''),
               coalesce(json_extract(changes.new, '$.modification_date'), '')), '') as own_date
  from changes
    join ingests on ingests.id = changes.ingest
    left join ingests as previous on previous.id = changes.previous_ingest
  where (:kind is null or changes.kind = :kind)
    and (:port is null or changes.id in (
      -- One indexed search per side: an OR across both would scan every change.
      select id from changes where old_port_low <= :port and old_port_high >= :port
      union all
      select id from changes where new_port_low <= :port and new_port_high >= :port))
    and (:service is null or changes.service_key = :service or changes.old_service_key = :service)
    and (:ingest is null or changes.ingest = :ingest)
    and (:after_ingest is null or changes.ingest <= :after_ingest)
),
keyed as (
  select *, case when own_date > coalesce(previous_registry_date, '') then own_date end as change_date
  from dated
  where (:since is null or registry_date >= :since)
)
select
  id, ingest, previous_ingest, ingest_sha256, fetched_at, registry_date, previous_registry_date,
  kind, port, port_low, port_high, old_port_low, old_port_high, new_port_low, new_port_high,
  transport, service_name, service_key, old_service_key, summary, fields, old, new, change_date
from keyed
where :after_ingest is null
  or (ingest, coalesce(change_date, registry_date, ''), -id) < (:after_ingest, :after_date, -:after_id)
order by ingest desc, coalesce(change_date, registry_date, '') desc, id
limit :limit
"""
CHANGE_JSON_COLUMNS = ("fields", "old", "new")

# Full text: rows matching the words, plus rows whose service name starts with
# the whole query (FTS alone misses "https" for "http"). Order: the service
# named exactly :name, then names starting with it (shortest first, each in
# registry order), then the rest by FTS rank. A transport filter keeps rows
# without a transport that speak for it (iana_ports.facts.row_transports).
TRANSPORT_FILTER = """(:transport = '' or registrations.transport = :transport
  or (registrations.transport is null and (registrations.service_name is null or :transport in ('tcp', 'udp'))))"""
SEARCH_SQL = f"""
with hits as materialized (
  select rowid as id, rank from registrations_fts where registrations_fts match :query
),
named as (
  select id from registrations where service_key >= :name and service_key < :name || char(1114111)
),
found as (select id from hits union select id from named)
select registrations.*,
  case when registrations.service_key = :name then 0
       when registrations.id in (select id from named) then 1
       else 2 end as tier
from found
join registrations on registrations.id = found.id
left join hits on hits.id = found.id
where {TRANSPORT_FILTER}
order by tier,
  case when tier < 2 then length(registrations.service_key) end,
  case when tier < 2 then registrations.service_key end,
  case when tier < 2 then registrations.id end,
  hits.rank, registrations.id
limit :limit offset :offset
"""
SEARCH_COUNT_SQL = f"""
select count(*) from registrations
where id in (
  select rowid from registrations_fts where registrations_fts match :query
  union
  select id from registrations where service_key >= :name and service_key < :name || char(1114111)
)
and {TRANSPORT_FILTER}
"""
# Highlights for one page of rows only: snippets cost more than the search.
# char(2)/char(3) mark matches; the text is HTML-escaped before they become <mark>.
MARKS_SQL = """
select rowid as id,
  highlight(registrations_fts, 0, char(2), char(3)) as name_match,
  snippet(registrations_fts, 1, char(2), char(3), '…', 24) as description_match,
  snippet(registrations_fts, 2, char(2), char(3), '…', 24) as notes_match
from registrations_fts
where registrations_fts match :query and rowid in (select value from json_each(:ids))
"""
SUGGEST_SQL = """
select distinct registrations.service_name from registrations_fts
join registrations on registrations.id = registrations_fts.rowid
where registrations_fts match :query and registrations.service_name is not null
order by registrations_fts.rank
limit :limit
"""
SUGGEST_PREFIX_SQL = """
select name from services where key >= :prefix and key < :prefix || char(1114111)
order by key limit :limit
"""


class NotABuild(Exception):
    """The file is not a registry database built by this project (or not one of this layout)."""


def rows(conn: sqlite3.Connection, sql: str, params=None) -> list[dict]:
    cursor = conn.execute(sql, params or {})
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def one(conn: sqlite3.Connection, sql: str, params=None) -> dict | None:
    found = rows(conn, sql, params)
    return found[0] if found else None


def decode_service(service: dict) -> dict:
    return dict(service, ports=json.loads(service["ports"]), transports=json.loads(service["transports"]))


def decode_use(use: dict) -> dict:
    """A common_uses row in the shape pages and JSON show it."""
    return {
        "software": use["software"],
        "kind": use["kind"],
        "description": use["description"],
        "transports": json.loads(use["transports"]),
        "first": use["first"],
        "last": use["last"],
        "category": use["category"],
        "source": use["source"],
        "checked": use["checked"],
    }


def change_key(change: dict) -> tuple[int, str, int]:
    """Where a change sits in the changes' order (newest ingest first, then its date newest
    first, then id): what a page's `_next` carries, so the next page starts after it by an
    indexed comparison however deep it is, and a link stays right in a later build (ids and
    dates are carried from build to build)."""
    return change["ingest"], change["change_date"] or change["registry_date"] or "", change["id"]


def change_params(filters: dict) -> dict:
    """Store.changes() filters -> CHANGES_SQL's parameters."""
    after_ingest, after_date, after_id = filters["after"] or (None, None, None)
    params = {k: filters[k] for k in ("kind", "port", "service", "ingest", "since", "limit")}
    return dict(params, after_ingest=after_ingest, after_date=after_date, after_id=after_id)


def decode_change(row: dict) -> dict:
    change = dict(row)
    for column in CHANGE_JSON_COLUMNS:
        if change[column] is not None:
            change[column] = json.loads(change[column])
    return change


def file_uri(path) -> str:
    return f"file:{quote(str(Path(path).resolve()))}?mode=ro"


class Store:
    """A build read with SQL. `uri` is a SQLite URI of a read-only database file."""

    def __init__(self, uri: str, connect=None):
        self.uri = uri
        # How each thread's connection is opened: a served build hands out ones it
        # opened while its file was readable (iana_ports.web.builds).
        self.connect = connect or self._connect
        self._local = threading.local()
        self._use_texts = None
        conn = self.conn
        tables = {r[0] for r in conn.execute(TABLES_SQL)}
        if not {"ports", "registrations", "ingests", "common_uses"} <= tables:
            raise NotABuild("not a registry database built by this version of iana-ports")
        self.enriched = set(XML_TABLES) <= tables
        self.span = conn.execute(SPAN_SQL).fetchone()[0]

    @classmethod
    def open(cls, path) -> "Store":
        """A Store on the file at `path`; OSError or NotABuild when it cannot be one."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(os.strerror(2) + f": {path}")
        try:
            return cls(file_uri(path))
        except sqlite3.DatabaseError as exc:
            raise NotABuild(f"not a registry database ({exc})") from None

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
        return conn

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.uri, uri=True, check_same_thread=False)

    # The build itself
    def latest_ingest(self) -> dict:
        return one(self.conn, LATEST_INGEST_SQL)

    def ingests(self) -> list[dict]:
        return rows(self.conn, INGESTS_SQL)

    # One port
    def port_row(self, port: int) -> dict:
        """Status overall and per transport, service names, the registry's words, verdict."""
        row = one(self.conn, PORT_SQL, {"port": port})
        row["services"] = json.loads(row["services"]) if row["services"] else []
        return row

    def registrations_at(self, port: int) -> list[dict]:
        return rows(self.conn, REGISTRATIONS_AT_SQL, {"port": port, "span": self.span})

    def references_of(self, registration_ids: list[int]) -> list[dict]:
        return rows(self.conn, REFERENCES_SQL, {"ids": json.dumps(registration_ids)})

    def people_of(self, ids: list[str]) -> dict[str, dict]:
        """{id: {"name", "org"}} for the ids the registry's XML names (none without it)."""
        if not self.enriched or not ids:
            return {}
        found = {
            r["id"]: {"name": r["name"], "org": r["org"]} for r in rows(self.conn, PEOPLE_SQL, {"ids": json.dumps(ids)})
        }
        return {i: found[i] for i in ids if i in found}

    def footnotes(self) -> dict[str, str]:
        return {r["anchor"]: r["text"] for r in rows(self.conn, FOOTNOTES_SQL)} if self.enriched else {}

    def registry_notes(self) -> list[dict]:
        return rows(self.conn, REGISTRY_NOTES_SQL) if self.enriched else []

    def runs_at(self, port: int) -> dict:
        """{transport or "all": {"first", "last"}} for the unassigned runs holding `port`."""
        return {
            r["transport"]: {"first": r["first"], "last": r["last"]}
            for r in rows(self.conn, RUNS_AT_SQL, {"port": port})
            if r["first"] <= port
        }

    def assigned_near(self, port: int) -> tuple:
        """The nearest assigned ports below and above `port`: ({"port", "services"} or None) x 2."""
        return tuple(
            {"port": r["port"], "services": json.loads(r["services"])} if r else None
            for r in (one(self.conn, sql, {"port": port}) for sql in (ASSIGNED_BELOW_SQL, ASSIGNED_ABOVE_SQL))
        )

    def good_near(self, port: int, count: int) -> tuple[list[int], list[int]]:
        """Up to `count` ports with the verdict good below `port` (nearest first) and above it."""
        params = {"port": port, "count": count}
        return tuple([r[0] for r in self.conn.execute(sql, params)] for sql in (GOOD_BELOW_SQL, GOOD_ABOVE_SQL))

    def statuses(self, first: int, last: int) -> list[tuple]:
        """(tcp, udp, sctp, dccp) statuses of ports first..last, in port order."""
        return self.conn.execute(STATUSES_SQL, {"first": first, "last": last}).fetchall()

    def uses_at(self, port: int) -> list[dict]:
        return [decode_use(u) for u in rows(self.conn, USES_AT_SQL, {"port": port})]

    def uses(self) -> list[dict]:
        return [decode_use(u) for u in rows(self.conn, USES_SQL)]

    def use_texts(self) -> list[tuple[str, dict]]:
        """(lower-case "software description", use) for every common use, read once."""
        if self._use_texts is None:
            self._use_texts = [(f"{u['software']} {u['description']}".lower(), u) for u in self.uses()]
        return self._use_texts

    # Services
    def service(self, key: str) -> dict | None:
        found = one(self.conn, SERVICE_SQL, {"key": key})
        return decode_service(found) if found else None

    def service_keys(self) -> list[str]:
        """Every service key, in SQLite's (code point) order."""
        return [key for (key,) in self.conn.execute(SERVICE_KEYS_SQL)]

    def service_registrations(self, key: str) -> list[dict]:
        return rows(self.conn, SERVICE_REGISTRATIONS_SQL, {"key": key})

    def aliases(self, key: str) -> list[dict]:
        return [decode_service(s) for s in rows(self.conn, ALIASES_SQL, {"key": key})]

    def renamed_to(self, key: str) -> str | None:
        found = one(self.conn, RENAMED_TO_SQL, {"key": key})
        return found["service_name"] if found else None

    # The whole space
    def counts(self) -> tuple[list[dict], list[dict], int]:
        """(ports per range and status, ports per transport and status, number of services)."""
        conn = self.conn
        return (
            rows(conn, RANGE_COUNTS_SQL),
            rows(conn, TRANSPORT_COUNTS_SQL),
            conn.execute(SERVICE_COUNT_SQL).fetchone()[0],
        )

    def changes(self, filters: dict) -> list[dict]:
        """Change rows matching `filters` (kind, port, service, ingest, since, limit, after),
        newest ingest first; `since` is a registry date (YYYY-MM-DD), `after` a change's
        read.change_key() or None."""
        return [decode_change(r) for r in rows(self.conn, CHANGES_SQL, change_params(filters))]

    # Full text (always SQL: FTS5 does it best)
    def search(self, params: dict) -> tuple[list[dict], int, dict]:
        """(one page of rows, total count, highlight marks by row id)."""
        conn = self.conn
        found = rows(conn, SEARCH_SQL, params)
        count = conn.execute(SEARCH_COUNT_SQL, params).fetchone()[0]
        ids = json.dumps([r["id"] for r in found])
        marks = {m["id"]: m for m in rows(conn, MARKS_SQL, {"query": params["query"], "ids": ids})}
        return found, count, marks

    def suggest(self, query: str | None, prefix: str, limit: int) -> list[str]:
        found = []
        if query:
            found = [r["service_name"] for r in rows(self.conn, SUGGEST_SQL, {"query": query, "limit": limit * 2})]
        if prefix:
            found += [r["name"] for r in rows(self.conn, SUGGEST_PREFIX_SQL, {"prefix": prefix, "limit": limit})]
        return found

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
