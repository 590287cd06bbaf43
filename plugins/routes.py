"""The explainer pages and their JSON twins: /, /ports/N, /services/NAME, /search.

Every page is read from the `iana` database in one trip to a worker thread
(Database.execute_fn), so a page costs one thread hop however many queries
it needs. Repeat hits are answered by plugins/response_cache.py.
"""

import functools
import html
import json
import re
import sqlite3
import weakref
from urllib.parse import quote, unquote, urlencode

from datasette import hookimpl
from datasette.utils import add_cors_headers, escape_fts
from datasette.utils.asgi import Response

DATABASE = "iana"
MAX_PORT = 65535
TRANSPORTS = ("tcp", "udp", "sctp", "dccp")
# Longest service name in the registry is 15 characters (RFC 6335) plus a few
# legacy ones; anything far longer is junk and is not worth a lookup.
MAX_NAME = 64
MAX_QUERY = 200
SEARCH_LIMIT = 50
SUGGESTION_LIMIT = 8

# FTS5 cannot hold control characters, NUL above all, even inside a quoted string.
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# Canonical decimal only: "0001" and "+1" are other spellings, not ports.
PORT_RE = re.compile(r"0|[1-9][0-9]{0,4}")
# What people type into the lookup box for a port: "22", "022", "22/tcp", "-5".
LOOKUP_PORT_RE = re.compile(r"(-?)([0-9]+)(?:\s*/\s*(?:tcp|udp|sctp|dccp))?", re.IGNORECASE)

PORT_SQL = "select * from ports where port = :port"
# :span is the widest registered range, so the port_low index bounds the scan
# to rows that can reach :port instead of every row below it.
SPAN_SQL = "select coalesce(max(port_high - port_low), 0) from registrations"
PORT_REGISTRATIONS_SQL = """
select * from registrations
where port_low between :port - :span and :port and port_high >= :port
order by id
"""
PORT_REFERENCES_SQL = """
select "references".* from "references"
join registrations on registrations.id = "references".registration_id
where registrations.port_low between :port - :span and :port
  and registrations.port_high >= :port
order by "references".registration_id, "references".position
"""
RANGE_SQL = "select * from ranges where first <= :port and last >= :port"
EPHEMERAL_SQL = """
select * from os_ephemeral_ranges where first <= :port and last >= :port order by rowid
"""
# The run holding :port, if any, is the first one per transport ending at or after it.
RUNS_SQL = " union all ".join(
    f"""select * from (select transport, first, last from unassigned_ranges
    where transport = '{t}' and last >= :port order by last limit 1)"""
    for t in ("tcp", "udp", "sctp", "dccp", "all")
)
ASSIGNED_BELOW_SQL = """
select port, services from ports
where status = 'assigned' and port < :port order by port desc limit 1
"""
ASSIGNED_ABOVE_SQL = """
select port, services from ports
where status = 'assigned' and port > :port order by port limit 1
"""

SERVICE_SQL = "select * from services where key = :key"
SERVICE_REGISTRATIONS_SQL = "select * from registrations where service_key = :key order by id"
SERVICE_REFERENCES_SQL = """
select "references".* from "references"
join registrations on registrations.id = "references".registration_id
where registrations.service_key = :key
order by "references".registration_id, "references".position
"""
ALIASES_SQL = "select * from services where alias_of = :key order by key"
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
# The newest rename away from :key; the changes table is absent from a db
# built before history was recorded.
RENAMED_TO_SQL = """
select service_name from changes
where kind = 'renamed' and old_service_key = :key and service_name is not null
order by ingest desc, id limit 1
"""

# Rows matching the words, plus rows whose service name starts with the whole
# query (FTS alone misses "https" for "http"). Order: the service named exactly
# :name, then names starting with it (shortest first, each in registry order),
# then the rest by FTS rank.
SEARCH_SQL = """
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
where :transport = '' or registrations.transport = :transport
order by tier,
  case when tier < 2 then length(registrations.service_key) end,
  case when tier < 2 then registrations.service_key end,
  case when tier < 2 then registrations.id end,
  hits.rank, registrations.id
limit :limit offset :offset
"""
SEARCH_COUNT_SQL = """
select count(*) from registrations
where id in (
  select rowid from registrations_fts where registrations_fts match :query
  union
  select id from registrations where service_key >= :name and service_key < :name || char(1114111)
)
and (:transport = '' or transport = :transport)
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

LATEST_INGEST_SQL = "select * from ingests order by id desc limit 1"
RANGES_SQL = "select * from ranges order by first"
COUNTS_SQL = """
select range, status, count(*) as n from ports group by range, status
"""
TRANSPORT_COUNTS_SQL = """
select 'tcp' as transport, tcp as status, count(*) as n from ports group by tcp
union all select 'udp', udp, count(*) from ports group by udp
union all select 'sctp', sctp, count(*) from ports group by sctp
union all select 'dccp', dccp, count(*) from ports group by dccp
"""
SERVICE_COUNT_SQL = "select count(*) from services"

STATUSES = ("assigned", "reserved", "unassigned")

# The number is filled in by the page; the registry notes' commands, made exact.
COMMANDS = {
    # Anchored on the ":" (Linux, Windows) or "." (macOS prints *.22) before the
    # number and the space after it, so 22 does not also match 220 or 10.0.0.22.
    "linux": ("ss -tulpn 'sport = :{port}'", "netstat -tuln | grep ':{port} '", "lsof -i :{port}"),
    "macos": ("lsof -nP -i :{port}", "netstat -an | grep '\\.{port} '"),
    "windows": (
        # findstr reads spaces in a plain search string as OR; /C: makes it one string.
        'netstat -ano | findstr /R /C:":{port} "',
        "Get-NetTCPConnection -LocalPort {port}",
        "Get-NetUDPEndpoint -LocalPort {port}",
    ),
}
OS_LABELS = {"linux": "Linux", "macos": "macOS", "windows": "Windows"}


# Widest registered range per Database object: a rebuilt file is a new object.
_spans: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _rows(conn, sql, params=None):
    cursor = conn.execute(sql, params or {})
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row)) for row in cursor.fetchall()]


def _one(conn, sql, params=None):
    rows = _rows(conn, sql, params)
    return rows[0] if rows else None


def _names(services_json):
    return json.loads(services_json) if services_json else []


def port_facts(conn, port: int, span: int) -> dict:
    """Everything known about one port, in the /ports/N.json shape."""
    params = {"port": port, "span": span}
    row = _one(conn, PORT_SQL, params)
    registrations = _rows(conn, PORT_REGISTRATIONS_SQL, params)
    rng = _one(conn, RANGE_SQL, params)
    runs = {
        r["transport"]: {"first": r["first"], "last": r["last"]}
        for r in _rows(conn, RUNS_SQL, params)
        if r["first"] <= port
    }
    transports = {}
    for t in TRANSPORTS:
        names = []
        for reg in registrations:
            if reg["service_name"] and reg["transport"] in (t, None) and reg["service_name"] not in names:
                names.append(reg["service_name"])
        transports[t] = {"status": row[t], "services": names, "unassigned_run": runs.get(t)}
    below = _one(conn, ASSIGNED_BELOW_SQL, params)
    above = _one(conn, ASSIGNED_ABOVE_SQL, params)
    return {
        "port": port,
        "status": row["status"],
        "registry_words": row["registry_words"],
        "range": rng,
        "transports": transports,
        "services": _names(row["services"]),
        "registrations": registrations,
        "references": _rows(conn, PORT_REFERENCES_SQL, params),
        "ephemeral": _rows(conn, EPHEMERAL_SQL, params),
        "unassigned_run": runs.get("all"),
        "neighbours": {
            "previous": port - 1 if port > 0 else None,
            "next": port + 1 if port < MAX_PORT else None,
            "assigned_below": _neighbour(below),
            "assigned_above": _neighbour(above),
        },
        "commands": {
            os_id: [c.format(port=port) for c in commands] for os_id, commands in COMMANDS.items()
        },
    }


def _neighbour(row):
    if row is None:
        return None
    return {"port": row["port"], "services": _names(row["services"])}


def service_facts(conn, key: str) -> dict | None:
    params = {"key": key}
    service = _one(conn, SERVICE_SQL, params)
    if service is None:
        return None
    _decode_service(service)
    alias_of = _one(conn, SERVICE_SQL, {"key": service["alias_of"]}) if service["alias_of"] else None
    if alias_of:
        _decode_service(alias_of)
    aliases = _rows(conn, ALIASES_SQL, params)
    for alias in aliases:
        _decode_service(alias)
    return {
        "service": service,
        "registrations": _rows(conn, SERVICE_REGISTRATIONS_SQL, params),
        "references": _rows(conn, SERVICE_REFERENCES_SQL, params),
        "alias_of": alias_of,
        "aliases": aliases,
    }


def _decode_service(service):
    service["ports"] = json.loads(service["ports"])
    service["transports"] = json.loads(service["transports"])


def fts_query(text: str) -> str:
    return escape_fts(CONTROL_RE.sub(" ", text))


def suggestions(conn, name: str) -> list[str]:
    """Names near an unknown one: full-text matches first, then names it starts."""
    name = CONTROL_RE.sub("", name[:MAX_NAME])
    found = []
    query = fts_query(name)
    if query:
        params = {"query": query, "limit": SUGGESTION_LIMIT * 2}
        found = [r["service_name"] for r in _rows(conn, SUGGEST_SQL, params)]
    prefix = name.lower()[:3]
    if prefix:
        found += [r["name"] for r in _rows(conn, SUGGEST_PREFIX_SQL, {"prefix": prefix, "limit": SUGGESTION_LIMIT})]
    unique = []
    for n in found:
        if n.lower() not in (u.lower() for u in unique):
            unique.append(n)
    return unique[:SUGGESTION_LIMIT]


def search(conn, q: str, transport: str, offset: int = 0, path: str = "/search") -> dict:
    """One page of matches; `next` is the following page at `path` (the HTML or JSON twin)."""
    query = fts_query(q)
    result = {
        "q": q,
        "transport": transport,
        "count": 0,
        "rows": [],
        "offset": offset,
        "next": None,
        "table_url": _table_url(q, transport) if query else None,
    }
    if not query:
        return result
    name = CONTROL_RE.sub(" ", q).strip().lower()
    params = {"query": query, "name": name, "transport": transport, "limit": SEARCH_LIMIT, "offset": offset}
    rows = _rows(conn, SEARCH_SQL, params)
    ids = json.dumps([row["id"] for row in rows])
    marks = {m["id"]: m for m in _rows(conn, MARKS_SQL, {"query": query, "ids": ids})}
    for row in rows:
        del row["tier"]
        # Rows found by name prefix alone have no word match to mark.
        m = marks.get(row["id"], {})
        row["name_html"] = marked(m.get("name_match")) or html.escape(row["service_name"] or "")
        row["snippet"] = marked(m.get("description_match"))
        row["notes_snippet"] = marked(m.get("notes_match"))
    result["rows"] = rows
    result["count"] = conn.execute(SEARCH_COUNT_SQL, params).fetchone()[0]
    if offset + len(rows) < result["count"]:
        params = {"q": q, "transport": transport, "_next": offset + len(rows)}
        result["next"] = path + "?" + urlencode({k: v for k, v in params.items() if v != ""})
    return result


def _table_url(q: str, transport: str) -> str:
    """Datasette's own table search: every match, with its paging, facets and CSV."""
    params = {"_search": q}
    if transport:
        params["transport"] = transport
    return "/iana/registrations?" + urlencode(params)


def renamed_to(conn, key: str) -> str | None:
    try:
        row = _one(conn, RENAMED_TO_SQL, {"key": key})
    except sqlite3.OperationalError:
        return None
    return row["service_name"] if row else None


def and_list(items) -> str:
    """["tcp", "udp", "sctp"] -> "tcp, udp and sctp"."""
    items = [str(i) for i in items]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def headline(facts: dict) -> dict:
    """Who holds the port on which transports, for the page's first sentence.

    `holders`: services grouped by the transports they are assigned on, in the
    registry's order (port 80: http on tcp, udp, sctp; www and www-http on tcp,
    udp). `reserved_on`: transports whose status is reserved. `others`: the
    statuses of the transports the first sentence does not cover, each with
    its transports.
    """
    transports = facts["transports"]
    on = {s: [t for t, v in transports.items() if v["status"] == s] for s in STATUSES}
    holders = []
    for name in facts["services"]:
        held = [t for t in on["assigned"] if name in transports[t]["services"]]
        if not held:
            continue
        for group in holders:
            if group["transports"] == held:
                group["services"].append(name)
                break
        else:
            holders.append({"services": [name], "transports": held})
    main = facts["status"]
    others = [{"status": s, "transports": on[s]} for s in STATUSES if s != main and on[s]]
    return {"holders": holders, "reserved_on": on["reserved"], "others": others}


def en_dash(text: str) -> str:
    """"32768-61000" -> "32768–61000", matching how the pages write ranges."""
    return re.sub(r"(?<=[0-9])-(?=[0-9])", "–", text)


def home_facts(conn) -> dict:
    counts = {}
    for r in _rows(conn, COUNTS_SQL):
        counts.setdefault(r["range"], {s: 0 for s in STATUSES})[r["status"]] = r["n"]
    per_transport = {t: {s: 0 for s in STATUSES} for t in TRANSPORTS}
    for r in _rows(conn, TRANSPORT_COUNTS_SQL):
        per_transport[r["transport"]][r["status"]] = r["n"]
    return {
        "ingest": _one(conn, LATEST_INGEST_SQL),
        "ranges": [dict(r, counts=counts.get(r["name"], {})) for r in _rows(conn, RANGES_SQL)],
        "transports": per_transport,
        "service_count": conn.execute(SERVICE_COUNT_SQL).fetchone()[0],
    }


def marked(text: str | None) -> str | None:
    """FTS output with char(2)/char(3) marks -> escaped HTML with <mark>; None if nothing matched."""
    if not text or "\x02" not in text:
        return None
    escaped = html.escape(text, quote=False)
    return escaped.replace("\x02", "<mark>").replace("\x03", "</mark>")


def parse_port(text: str) -> int | None:
    if not PORT_RE.fullmatch(text):
        return None
    port = int(text)
    return port if port <= MAX_PORT else None


def _headers(datasette):
    headers = {}
    if datasette.cors:
        add_cors_headers(headers)
    return headers


async def error(datasette, request, status: int, message: str, as_json: bool, **context):
    """A 4xx answered here, not raised: Datasette's 404 handler would redirect %-paths."""
    headers = _headers(datasette)
    if as_json:
        body = {"ok": False, "error": message, "status": status, "title": None}
        body.update(context)
        return Response.json(body, status=status, headers=headers)
    page = await datasette.render_template(
        "error.html",
        dict(context, error=message, status=status, title=context.get("title")),
        request=request,
    )
    return Response.html(page, status=status, headers=headers)


def _as_json(request):
    return bool(request.url_vars.get("format"))


async def port_view(datasette, request):
    as_json = _as_json(request)
    port = parse_port(request.url_vars["port"])
    if port is None:
        return await error(
            datasette, request, 404,
            "Not a port number: ports are whole numbers from 0 to 65535, written without leading zeros.",
            as_json, title="No such port",
        )
    db = datasette.get_database(DATABASE)
    span = _spans.get(db)
    if span is None:
        span = _spans[db] = await db.execute_fn(lambda conn: conn.execute(SPAN_SQL).fetchone()[0])
    facts = await db.execute_fn(lambda conn: port_facts(conn, port, span))
    if as_json:
        return Response.json(facts, headers=_headers(datasette))
    page = await datasette.render_template(
        "port.html",
        {"p": facts, "headline": headline(facts), "os_labels": OS_LABELS,
         "alternate_url_json": f"/ports/{port}.json"},
        request=request,
    )
    return Response.html(page, headers=_headers(datasette))


async def service_view(datasette, request):
    as_json = _as_json(request)
    name = unquote(request.url_vars["name"])
    db = datasette.get_database(DATABASE)
    facts = None
    if len(name) <= MAX_NAME:
        facts = await db.execute_fn(lambda conn: service_facts(conn, name.lower()))
    if facts is None:
        near = await db.execute_fn(lambda conn: suggestions(conn, name))
        new_name = None
        if len(name) <= MAX_NAME:
            new_name = await db.execute_fn(lambda conn: renamed_to(conn, name.lower()))
        return await error(
            datasette, request, 404,
            "No service by that name in the IANA registry"
            + (f": it was renamed to {new_name}." if new_name else "."),
            as_json, title="No such service", suggestions=near, renamed_to=new_name,
        )
    if as_json:
        return Response.json(facts, headers=_headers(datasette))
    page = await datasette.render_template(
        "service.html",
        {"s": facts,
         "alternate_url_json": f"/services/{_path_name(facts['service']['key'])}.json"},
        request=request,
    )
    return Response.html(page, headers=_headers(datasette))


def _path_name(name):
    return quote(name, safe="")


async def search_view(datasette, request):
    as_json = _as_json(request)
    q = (request.args.get("q") or "").strip()
    transport = request.args.get("transport") or ""
    if len(q) > MAX_QUERY:
        return await error(datasette, request, 400, f"Search text is limited to {MAX_QUERY} characters.", as_json)
    if transport not in ("",) + TRANSPORTS:
        return await error(datasette, request, 400, "Transport must be tcp, udp, sctp or dccp.", as_json)
    offset = request.args.get("_next") or "0"
    # The length check keeps int() away from absurdly long digit strings.
    if not (offset.isascii() and offset.isdigit() and len(offset) <= 9):
        return await error(datasette, request, 400, "_next must be a whole number.", as_json)
    offset = int(offset)
    db = datasette.get_database(DATABASE)
    path = "/search.json" if as_json else "/search"
    results = await db.execute_fn(lambda conn: search(conn, q, transport, offset, path))
    if as_json:
        return Response.json(results, headers=_headers(datasette))
    page = await datasette.render_template(
        "search.html",
        {"r": results, "transports": TRANSPORTS},
        request=request,
    )
    return Response.html(page, headers=_headers(datasette))


async def lookup_view(datasette, request):
    """The home page's lookup box: a number, a service name, or anything else."""
    q = (request.args.get("q") or "").strip()
    if not q:
        return Response.redirect("/")
    number = LOOKUP_PORT_RE.fullmatch(q)
    if number:
        sign, digits = number.groups()
        digits = digits.lstrip("0") or "0"
        if sign or len(digits) > 5 or int(digits) > MAX_PORT:
            return await error(
                datasette, request, 400,
                "Not a port number: ports are 0–65535.", False, title="No such port",
            )
        return Response.redirect(f"/ports/{digits}")
    if len(q) <= MAX_NAME:
        db = datasette.get_database(DATABASE)
        key = q.lower()
        found = await db.execute_fn(lambda conn: _one(conn, SERVICE_SQL, {"key": key}))
        if found:
            return Response.redirect(f"/services/{_path_name(found['key'])}")
        # An old name's page says what it became (pearldoc-xact -> panquest-xact).
        if await db.execute_fn(lambda conn: renamed_to(conn, key)):
            return Response.redirect(f"/services/{_path_name(key)}")
    return Response.redirect("/search?" + urlencode({"q": q[:MAX_QUERY]}))


async def home_view(datasette, request):
    db = datasette.get_database(DATABASE)
    facts = await db.execute_fn(home_facts)
    page = await datasette.render_template(
        "index.html", {"h": facts}, request=request
    )
    return Response.html(page, headers=_headers(datasette))


def needs_database(view):
    """No registry loaded (or a file without its tables): 503, as /-/healthz says."""

    @functools.wraps(view)
    async def guarded(datasette, request):
        try:
            if DATABASE in datasette.databases:
                return await view(datasette, request)
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
        return await error(
            datasette, request, 503, "The registry database is not loaded yet; try again shortly.",
            _as_json(request), title="Service unavailable",
        )

    return guarded


@hookimpl
def register_routes():
    return [
        (pattern, needs_database(view))
        for pattern, view in (
            (r"^/$", home_view),
            (r"^/lookup$", lookup_view),
            (r"^/ports/(?P<port>[^/]*?)(?P<format>\.json)?$", port_view),
            (r"^/services/(?P<name>.+?)(?P<format>\.json)?$", service_view),
            (r"^/search(?P<format>\.json)?$", search_view),
        )
    ]


@hookimpl
def prepare_jinja2_environment(env):
    env.filters["path_name"] = _path_name
    env.filters["and_list"] = and_list
    env.filters["en_dash"] = en_dash
