"""/changes, /changes.json and /changes.atom: what changed between ingests.

Filters (all optional, combinable): kind (one of ingest.diff.KINDS), port (a
number 0-65535, matched when the row before or the row after covers it, so
the Unassigned 288-307 row that the assignment of 300 split shows up for
290), service (a
service name, matched case-insensitively on either side of a rename) and
ingest (an ingest id). Newest ingest first; within an ingest, port order.
A malformed filter is a 400 with one line saying which, never a 500.

Dates: an ingest is dated by the registry itself (its newest registration
or modification date), not by when it was fetched; a change is dated by its
own row when the row after carries a date newer than the previous ingest's
registry date (`change_date`), else by its ingest. Feed ids are tag: URIs
from the ingest's sha256 and the change id, so they never depend on the
Host a request came in with.
"""

import datetime
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from urllib.parse import unquote, urlencode

from datasette import hookimpl
from datasette.utils import add_cors_headers
from datasette.utils.asgi import Response

from ingest.diff import KINDS

DATABASE = "iana"
DEFAULT_SIZE = 100
MAX_SIZE = 1000
FEED_SIZE = 100
MAX_PORT = 65535
ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
TAG_PREFIX = "tag:iana-ports,2026:"

CHANGES_SQL = """
select
  changes.id, changes.ingest, changes.previous_ingest,
  ingests.sha256 as ingest_sha256, ingests.fetched_at,
  nullif(max(coalesce(ingests.newest_registration_date, ''),
             coalesce(ingests.newest_modification_date, '')), '') as registry_date,
  nullif(max(coalesce(previous.newest_registration_date, ''),
             coalesce(previous.newest_modification_date, '')), '') as previous_registry_date,
  changes.kind, changes.port, changes.port_low, changes.port_high,
  changes.old_port_low, changes.old_port_high, changes.new_port_low, changes.new_port_high,
  changes.transport, changes.service_name, changes.service_key, changes.old_service_key,
  changes.summary, changes.fields, changes.old, changes.new
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
order by changes.ingest desc, changes.id
limit :limit offset :offset
"""
# The explainer pages (plugins/routes.py) that show a history section, and the
# url_vars naming what each is about.
HISTORY_PAGES = {"port.html": "port", "service.html": "name"}
PORT_RE = re.compile(r"0|[1-9][0-9]{0,4}")
LATEST_INGEST_SQL = "select id, fetched_at from ingests order by id desc limit 1"
JSON_COLUMNS = ("fields", "old", "new")

# Characters XML 1.0 cannot carry at all; registry text has no business holding them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class BadRequest(ValueError):
    pass


class NotFound(LookupError):
    pass


def parse_filters(args) -> dict:
    """Query string -> SQL parameters; raises BadRequest naming the bad one."""
    kind = args.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
    port = _int(args.get("port"), "port", 0, MAX_PORT)
    ingest = _int(args.get("ingest"), "ingest", 1, 2**62)
    size = _int(args.get("_size"), "_size", 1, MAX_SIZE)
    offset = _int(args.get("_next"), "_next", 0, 2**62)
    service = (args.get("service") or "").strip().lower() or None
    return {
        "kind": kind,
        "port": port,
        "service": service,
        "ingest": ingest,
        "limit": DEFAULT_SIZE if size is None else size,
        "offset": offset or 0,
    }


def _int(text, name, low, high):
    if text is None or text == "":
        return None
    # The length check keeps int() away from megabyte-long digit strings.
    if not (text.isascii() and text.isdigit() and len(text) <= 19) or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def _decode(row) -> dict:
    change = dict(row)
    for col in JSON_COLUMNS:
        if change[col] is not None:
            change[col] = json.loads(change[col])
    change["change_date"] = change_date(change)
    return change


def change_date(change: dict) -> str | None:
    """The row's own date for the change, when it has one (see the module docstring)."""
    after = change["new"]
    if after is None:
        return None
    own = max(after["registration_date"] or "", after["modification_date"] or "")
    # An older date is the row's history, not the date of this change.
    return own if own and own > (change["previous_registry_date"] or "") else None


async def query(db, filters: dict) -> list[dict]:
    result = await db.execute(CHANGES_SQL, filters)
    return [_decode(row) for row in result.rows]


async def history_for(db, port=None, service_key=None, limit=DEFAULT_SIZE) -> list[dict]:
    """Change rows touching `port` or service `service_key`, newest ingest first.

    For the port and service pages: `db` is the Datasette Database object.
    Asked about neither, there is nothing to show.
    """
    if port is None and not service_key:
        return []
    filters = {
        "kind": None,
        "port": port,
        "service": service_key.lower() if service_key else None,
        "ingest": None,
        "limit": limit,
        "offset": 0,
    }
    return await query(db, filters)


def _public(filters: dict) -> dict:
    """The filters as they appear in a query string (for links and JSON)."""
    return {k: filters[k] for k in ("kind", "port", "service", "ingest") if filters[k] is not None}


def _next_url(path: str, filters: dict, rows: list) -> str | None:
    if len(rows) < filters["limit"]:
        return None
    params = dict(_public(filters), _next=filters["offset"] + len(rows))
    if filters["limit"] != DEFAULT_SIZE:
        params["_size"] = filters["limit"]
    return f"{path}?{urlencode(params)}"


async def _load(datasette, request, size_default=DEFAULT_SIZE):
    filters = parse_filters(request.args)
    if request.args.get("_size") is None:
        filters["limit"] = size_default
    try:
        db = datasette.get_database(DATABASE)
    except KeyError:
        raise NotFound(f"no {DATABASE} database is loaded") from None
    try:
        return filters, db, await query(db, filters)
    except sqlite3.OperationalError:
        # A database built before history was recorded has no changes table.
        raise NotFound(f"the {DATABASE} database has no change history") from None


def _error(status: int, message: str, fmt: str):
    if fmt == "json":
        return Response.json({"ok": False, "error": message, "status": status}, status=status)
    return Response.text(message + "\n", status=status)


def _cors(datasette, response):
    """The JSON and the feed are for other sites' scripts too, as `--cors` promises."""
    if datasette.cors:
        add_cors_headers(response.headers)
    return response


async def changes_json(datasette, request):
    return _cors(datasette, await _changes_json(datasette, request))


async def _changes_json(datasette, request):
    try:
        filters, _, rows = await _load(datasette, request)
    except BadRequest as exc:
        return _error(400, str(exc), "json")
    except NotFound as exc:
        return _error(404, str(exc), "json")
    return Response.json(
        {
            "ok": True,
            "filters": _public(filters),
            "changes": rows,
            "next": _next_url(datasette.urls.path("/changes.json"), filters, rows),
        }
    )


async def changes_html(datasette, request):
    status, error = 200, None
    try:
        filters, _, rows = await _load(datasette, request)
    except BadRequest as exc:
        status, error, rows = 400, str(exc), []
        filters = {"kind": None, "port": None, "service": None, "ingest": None}
    except NotFound as exc:
        return _error(404, str(exc), "text")
    public = _public(filters)
    query_string = f"?{urlencode(public)}" if public else ""
    html = await datasette.render_template(
        "changes.html",
        {
            "changes": rows,
            "kinds": KINDS,
            "filters": public,
            "error": error,
            "atom_url": datasette.urls.path("/changes.atom") + query_string,
            "json_url": datasette.urls.path("/changes.json") + query_string,
            "next_url": None if error else _next_url(datasette.urls.path("/changes"), filters, rows),
        },
        request=request,
    )
    return Response.html(html, status=status)


async def changes_atom(datasette, request):
    return _cors(datasette, await _changes_atom(datasette, request))


async def _changes_atom(datasette, request):
    try:
        filters, db, rows = await _load(datasette, request, FEED_SIZE)
    except BadRequest as exc:
        return _error(400, str(exc), "text")
    except NotFound as exc:
        return _error(404, str(exc), "text")
    latest = (await db.execute(LATEST_INGEST_SQL)).first()
    public = _public(filters)
    query_string = f"?{urlencode(public)}" if public else ""
    body = atom_feed(
        rows,
        feed_id=TAG_PREFIX + "changes" + query_string,
        feed_url=datasette.absolute_url(request, datasette.urls.path("/changes.atom") + query_string),
        page_url=datasette.absolute_url(request, datasette.urls.path("/changes") + query_string),
        changes_url=datasette.absolute_url(request, datasette.urls.path("/changes")),
        updated=latest["fetched_at"] if latest else None,
        subtitle=", ".join(f"{k} {v}" for k, v in public.items()),
        next_url=_absolute(datasette, request, _next_url(datasette.urls.path("/changes.atom"), filters, rows)),
    )
    return Response(body, content_type=ATOM_TYPE)


def _absolute(datasette, request, path: str | None) -> str | None:
    return datasette.absolute_url(request, path) if path else None


def atom_feed(rows, *, feed_id, feed_url, page_url, changes_url, updated, subtitle="", next_url=None) -> bytes:
    """Atom 1.0 (RFC 4287): one entry per change, ids stable across rebuilds and hosts.

    An ingest with more changes than one feed page holds links on with
    rel="next" (RFC 5005 paged feeds), so no change is out of a reader's reach.
    """
    feed = ET.Element("feed", xmlns=ATOM_NS)
    _text(feed, "title", "IANA port registry changes" + (f": {subtitle}" if subtitle else ""))
    _text(feed, "id", feed_id)
    _text(feed, "updated", _rfc3339(updated))
    ET.SubElement(feed, "link", rel="self", type="application/atom+xml", href=feed_url)
    ET.SubElement(feed, "link", rel="alternate", type="text/html", href=page_url)
    if next_url:
        ET.SubElement(feed, "link", rel="next", type="application/atom+xml", href=next_url)
    author = ET.SubElement(feed, "author")
    _text(author, "name", "iana-ports")
    for row in rows:
        link = f"{changes_url}?ingest={row['ingest']}#change-{row['id']}"
        entry = ET.SubElement(feed, "entry")
        _text(entry, "id", entry_id(row))
        _text(entry, "title", row["summary"])
        _text(entry, "updated", _rfc3339(row["fetched_at"]))
        ET.SubElement(entry, "link", rel="alternate", type="text/html", href=link)
        ET.SubElement(entry, "category", term=row["kind"])
        _text(entry, "content", entry_text(row)).set("type", "text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def entry_id(row: dict) -> str:
    return f"{TAG_PREFIX}{row['ingest_sha256']}/change/{row['id']}"


def entry_text(row: dict) -> str:
    lines = [row["summary"], f"Ingest {row['ingest']} (compared with ingest {row['previous_ingest']})."]
    for f in row["fields"]:
        lines.append(f"{f['field']}: {_shown(f['old'])} -> {_shown(f['new'])}")
    side = row["new"] or row["old"]
    if not row["fields"] and side:
        lines.extend(f"{k}: {v}" for k, v in side.items() if v not in (None, "") and k != "line")
    return "\n".join(lines)


def _shown(value) -> str:
    return "(empty)" if value in (None, "") else str(value)


def _text(parent, tag, text):
    element = ET.SubElement(parent, tag)
    element.text = _XML_INVALID.sub("", text)
    return element


def _rfc3339(stamp: str | None) -> str:
    if not stamp:
        return "1970-01-01T00:00:00Z"
    moment = datetime.datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@hookimpl
def extra_template_vars(template, request, datasette):
    """`change_history` for port.html and service.html, for _history.html to show."""
    if template not in HISTORY_PAGES or request is None:
        return {}

    async def change_history():
        value = request.url_vars.get(HISTORY_PAGES[template]) or ""
        if template == "port.html":
            if not PORT_RE.fullmatch(value) or int(value) > MAX_PORT:
                return {"change_history": []}
            where = {"port": int(value)}
        else:
            where = {"service_key": unquote(value)}
        try:
            db = datasette.get_database(DATABASE)
            return {"change_history": await history_for(db, **where)}
        except (KeyError, sqlite3.OperationalError):
            # A page without its history section beats a failed page.
            return {"change_history": []}

    return change_history


@hookimpl
def register_routes():
    return [
        (r"^/changes$", changes_html),
        (r"^/changes\.json$", changes_json),
        (r"^/changes\.atom$", changes_atom),
    ]
