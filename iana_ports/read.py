"""The read side: a build -> the facts of a port, a service, a search, the home page, changes.

Every front (the web pages and their JSON, the command line, the MCP tools,
the exports) calls these functions, so they all answer the same. They take a
Store (SQL) or a MemoryStore (memory), return plain dicts and lists ready for
JSON, and raise NotFound or BadQuery with a one-line message.
"""

import html
import re
from itertools import islice
from urllib.parse import urlencode

from . import enriched, query
from . import firewall as firewalls
from .facts import (
    DATE_PREFIX_RE,
    CHANGE_KINDS,
    DEFAULT_TARGETS,
    DYNAMIC_RANGE,
    EVERYDAY_TRANSPORTS,
    MAX_PORT,
    OS_EPHEMERAL,
    OS_LABELS,
    RANGES,
    STATUSES,
    SYSTEM_RANGE,
    TRANSPORTS,
    USER_RANGE,
    ephemeral_of,
    listening_commands,
    range_of,
    row_transports,
)
from .errors import BadQuery, NotFound
from .store import change_key
from .text import and_list, lead
from .verdict import GOOD, WIDE_BLOCK, assess, level, shared, use_order, weighs

SEARCH_PAGE = 50
SUGGESTIONS = 8
FREE_NEARBY = 3
MAX_FREE = 100
MAX_NAME = 64
CHANGES_PAGE = 100
# Fields of a registration whose change alone is housekeeping: its owner's and contact's names
# (3GPP's renamed handles, a new contact person), the documents it cites (a draft become an
# RFC) and its dates. The service, its port and transport, its description and its notes are
# what readers of the registry's history look for.
HOUSEKEEPING_FIELDS = frozenset({"assignee", "contact", "reference", "registration_date", "modification_date"})
MAX_CHANGES_PAGE = 1000

# FTS5 cannot hold control characters, NUL above all, even inside a quoted string.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# Ports


def targets(text: str | None) -> tuple[str, ...]:
    """`os=` as pages, the command line and the MCP tools take it -> the platforms judged.

    Empty: the defaults (Linux, Windows, macOS). A comma-separated list chooses
    exactly those; "default" in it stands for the defaults, so "default,freebsd" adds one.
    """
    if not text:
        return DEFAULT_TARGETS
    chosen = []
    for word in str(text)[:200].lower().replace(" ", "").split(","):
        for os_id in DEFAULT_TARGETS if word == "default" else (word,):
            if os_id not in OS_LABELS:
                raise BadQuery(f"os must be some of default, {', '.join(OS_LABELS)} (comma-separated).")
            if os_id not in chosen:
                chosen.append(os_id)
    return tuple(o for o in OS_LABELS if o in chosen)


def port(store, number: int, on=DEFAULT_TARGETS, changes: list[dict] | None = None) -> dict:
    """Everything known about one port: the /ports/N.json shape. `on`: the platforms the verdict judges;
    `changes`: its history() up to MAX_CHANGES_PAGE, when the caller has read it already."""
    row = store.port_row(number)
    registrations = store.registrations_at(number)
    runs = store.runs_at(number)
    named = [
        (r["service_name"], row_transports(r["service_name"], r["transport"]))
        for r in registrations
        if r["service_name"]
    ]
    transports = {
        t: {
            "status": row[t],
            "services": list(dict.fromkeys(name for name, speaks in named if t in speaks)) if named else [],
            "unassigned_run": runs.get(t),
        }
        for t in TRANSPORTS
    }
    below, above = store.assigned_near(number)
    uses = sorted(store.uses_at(number), key=use_order)
    references = store.references_of([r["id"] for r in registrations])
    footnotes = enriched.cited_footnotes(store, references)
    if on == DEFAULT_TARGETS:
        free_below, free_above = store.good_near(number, FREE_NEARBY)
    else:
        free_below, free_above = _scan_free(store, number, EVERYDAY_TRANSPORTS, FREE_NEARBY, on)
        free_below = [p for p in free_below if p != number]
    facts = {
        "port": number,
        "status": row["status"],
        "registry_words": row["registry_words"],
        "range": range_of(number),
        "transports": transports,
        "services": row["services"],
        "registrations": registrations,
        "references": references,
        "people": enriched.people(store, registrations),
        "footnotes": footnotes,
        "apply": enriched.apply_note(store, number, transports),
        "ephemeral": ephemeral_of(number),
        "unassigned_run": runs.get("all"),
        "neighbours": {
            "previous": number - 1 if number > 0 else None,
            "next": number + 1 if number < MAX_PORT else None,
            "assigned_below": below,
            "assigned_above": above,
        },
        "commands": listening_commands(number),
        "firewall": firewalls.of_port(number),
        "verdict": assess(number, transports, uses, targets=on, footnotes=[f["text"] for f in footnotes]),
        "common_uses": uses,
        "free_nearby": {
            "below": [{"port": p, "distance": number - p} for p in free_below],
            "above": [{"port": p, "distance": p - number} for p in free_above],
        },
    }
    return {"port": number, "lead": lead(facts), **facts, "timeline": timeline(store, port=number, changes=changes)}


def free(store, near: int, transports=EVERYDAY_TRANSPORTS, count: int = 10, on=DEFAULT_TARGETS) -> dict:
    """The `count` ports nearest `near` (itself included) with a good verdict for
    `transports` on the platforms `on`; `note` says why when none is near."""
    near = whole_number(near, "near", 0, MAX_PORT)
    count = whole_number(count, "count", 1, MAX_FREE)
    wanted = tuple(t for t in TRANSPORTS if t in transports)
    if not wanted or len(wanted) != len(set(transports)):
        raise BadQuery(f"transports must be some of {', '.join(TRANSPORTS)}.")
    if wanted == EVERYDAY_TRANSPORTS and on == DEFAULT_TARGETS:
        # The build's verdict column is this very rule for tcp and udp on the default targets.
        below, above = store.good_near(near, count)
        if store.port_row(near)["verdict"] == GOOD:
            below.insert(0, near)
    else:
        below, above = _scan_free(store, near, wanted, count, on)
    nearest = sorted([*below, *above], key=lambda p: (abs(p - near), p))[:count]
    return {
        "near": near,
        "transports": list(wanted),
        "targets": list(on),
        "count": count,
        "ports": [{"port": p, "distance": abs(p - near)} for p in nearest],
        "note": free_note(near, on),
    }


def free_note(near: int, on) -> str | None:
    """Why nothing near `near` can be good, when a whole block around it is ruled out."""
    if near <= SYSTEM_RANGE["last"]:
        return (
            f"Ports 0–{SYSTEM_RANGE['last']} are System ports (listening needs root or CAP_NET_BIND_SERVICE), "
            f"so none is good: the nearest good ports are above {SYSTEM_RANGE['last']}."
        )
    if not shared(near, on):
        return None
    # The block of shared ports around `near`: the Dynamic range and the targets' ranges, merged.
    targets = [(o["first"], o["last"]) for o in OS_EPHEMERAL if o["os"] in on]
    spans = sorted([(DYNAMIC_RANGE["first"], MAX_PORT), *targets])
    low, high = near, near
    for first, last in spans + spans[::-1]:  # out from near, then back for spans it reached late
        if first <= high + 1 and last >= low - 1:
            low, high = min(low, first), max(high, last)
    low = max(low, USER_RANGE["first"])
    who = [o["label"] for o in OS_EPHEMERAL if o["os"] in on and o["first"] <= high and low <= o["last"]]
    if high >= DYNAMIC_RANGE["first"]:
        who.append(f"every operating system from {DYNAMIC_RANGE['first']} (the Dynamic range)")
    where = f"below {low}" if high == MAX_PORT else f"outside {low}–{high}"
    return (
        f"{low}–{high} is handed out as temporary client ports by {and_list(who)}, "
        f"so no port there is good: the nearest good ports are {where}."
    )


def _scan_free(store, near: int, wanted: tuple, count: int, on=DEFAULT_TARGETS) -> tuple[list[int], list[int]]:
    # Only User ports below the Dynamic range can be good.
    first, last = USER_RANGE["first"], DYNAMIC_RANGE["first"] - 1
    columns = [TRANSPORTS.index(t) for t in wanted]
    used = set()
    for u in store.uses():
        if set(u["transports"]) & set(wanted) and weighs(u):
            used.update(range(max(u["first"], first), min(u["last"], last) + 1))
    statuses = store.statuses(first, last)

    def good(p):
        return level(p, [statuses[p - first][c] for c in columns], p in used, shared(p, on)) == GOOD

    below = islice(filter(good, range(min(near, last), first - 1, -1)), count)
    above = islice(filter(good, range(max(near + 1, first), last + 1)), count)
    return list(below), list(above)


def firewall(store, text: str, tools: str | None = None) -> dict:
    """The lines that open a port, a block or a service's registered tcp and udp ports in each
    firewall tool (iana_ports.firewall): `iana-ports firewall` and the MCP tool."""
    chosen = firewalls.tools_named(tools)
    kind, what, wanted = firewalls.target(text)
    if kind == "ports":
        openings = [(*what, t) for t in wanted]
    else:
        found = service(store, what)
        openings = [
            (r["port_low"], r["port_high"], t)
            for r in found["registrations"]
            if r["port_low"]
            for t in row_transports(r["service_name"], r["transport"])
            if t in wanted and t in EVERYDAY_TRANSPORTS
        ]
        if not openings:
            on = and_list(list(wanted))
            raise BadQuery(f"{found['service']['name']} has no {on} port in the IANA registry to open.")
    return {
        "target": " ".join(str(text).split()),
        "openings": [{"first": a, "last": b, "transport": t} for a, b, t in dict.fromkeys(openings)],
        "lines": firewalls.lines(openings, chosen),
        "tools": {t: firewalls.TOOLS[t] for t in chosen},
    }


# Services


def service(store, name: str) -> dict:
    """Every registry row for a service name (case-insensitive): the /services/NAME.json shape."""
    key = name.lower()
    found = store.service(key) if len(name) <= MAX_NAME else None
    if found is None:
        renamed = store.renamed_to(key) if len(name) <= MAX_NAME else None
        raise NotFound(
            "No service by that name in the IANA registry" + (f": it was renamed to {renamed}." if renamed else "."),
            title="No such service",
            suggestions=suggestions(store, name),
            renamed_to=renamed,
            common_uses=uses_matching(store, name),
        )
    registrations = store.service_registrations(key)
    spans = [(r["port_low"], r["port_high"]) for r in registrations if r["port_low"] is not None]

    def on_its_ports(use: dict) -> bool:
        # Software listening there by default; not a documentation example or a block drawn from.
        return use["kind"] == "default" and any(use["first"] <= high and low <= use["last"] for low, high in spans)

    # Software on the service's own ports first (what a reader meets there, named or not, in the
    # port pages' order), then the software elsewhere whose text merely contains the name
    # ("HTTP API" on 9090 for http).
    mentioning = uses_matching(store, name)
    named = {(u["software"], u["first"], u["last"], u["description"]) for u in mentioning}

    def first_met(use: dict) -> tuple:
        # The software that names the service first (X.Org's X server for x11, not a web UI on 6006).
        return ((use["software"], use["first"], use["last"], use["description"]) not in named, *use_order(use))

    # The uses covering a narrow span are looked up port by port; a wide one reads them all.
    candidates = {}
    for low, high in spans:
        wide = high - low >= WIDE_BLOCK
        covering = store.uses() if wide else (u for p in range(low, high + 1) for u in store.uses_at(p))
        candidates.update((_use_key(u), u) for u in covering if on_its_ports(u))
    ours = sorted(candidates.values(), key=lambda u: (first_met(u), u["first"], u["last"], u["description"]))
    uses = [dict(u, on_service_port=True) for u in ours]
    uses += [dict(u, on_service_port=False) for u in mentioning if not on_its_ports(u)]
    references = store.references_of([r["id"] for r in registrations])
    return {
        "service": found,
        "registrations": registrations,
        "references": references,
        "people": enriched.people(store, registrations),
        "footnotes": enriched.cited_footnotes(store, references),
        "alias_of": store.service(found["alias_of"]) if found["alias_of"] else None,
        "aliases": store.aliases(key),
        "common_uses": uses,
        "timeline": timeline(store, service_key=key),
    }


def _use_key(use: dict) -> tuple:
    return (use["first"], use["last"], use["software"], use["kind"], use["description"], use["source"])


def suggestions(store, name: str) -> list[str]:
    """Names near an unknown one: full-text matches first, then names it starts."""
    name = _CONTROL.sub("", name[:MAX_NAME])
    unique = []
    for n in store.suggest(fts_query(name), name.lower()[:3], SUGGESTIONS):
        if n.lower() not in (u.lower() for u in unique):
            unique.append(n)
    return unique[:SUGGESTIONS]


def uses_matching(store, text: str) -> list[dict]:
    """Common uses whose software or description has every word of `text` as a word
    (`rdp` finds Remote Desktop's "RDP"; `minecraft` finds both Minecraft servers)."""
    words = re.findall(r"\w+", text.lower())
    if not words:
        return []
    patterns = [re.compile(rf"\b{re.escape(w)}") for w in words]
    # The substring test first: a cheap way past most entries before the word-boundary regexes.
    return [
        u for text, u in store.use_texts() if all(w in text for w in words) and all(p.search(text) for p in patterns)
    ]


# Search


def fts_query(text: str) -> str:
    """Text -> an FTS5 query matching its words as typed (quotes doubled, each word quoted)."""
    words = _CONTROL.sub(" ", text).split()
    return " ".join('"{}"'.format(w.replace('"', '""')) for w in words)


def search(store, text: str, transport: str = "", offset: int = 0, path: str | None = None) -> dict:
    """One page of registry rows matching `text`, read as ports or as words (iana_ports.query).

    `path` is where the next page lives for the front asking (its base_url, its
    format); `next` links there.
    """
    if transport not in ("", *TRANSPORTS):
        raise BadQuery(f"Transport must be one of {', '.join(TRANSPORTS)}.")
    if offset < 0:
        raise BadQuery("_next must be a whole number.")
    q = query.parse(text.strip())
    transport = q.transport or transport
    result = {
        "q": q.text,
        "transport": transport,
        "count": 0,
        "rows": [],
        "offset": offset,
        "next": None,
        "ports": [],
        "common_uses": [],
    }
    if q.ports:
        found = _port_rows(store, q.ports, transport)
        result["ports"] = [_port_summary(store, p) for p in q.ports]
        result["count"] = len(found)
        page = found[offset : offset + SEARCH_PAGE]
    elif fts_query(q.words):
        name = _CONTROL.sub(" ", q.words).strip().lower()
        params = {
            "query": fts_query(q.words),
            "name": name,
            "transport": transport,
            "limit": SEARCH_PAGE,
            "offset": offset,
        }
        rows, result["count"], marks = store.search(params)
        page = []
        for row in rows:
            m = marks.get(row["id"], {})
            row = {k: v for k, v in row.items() if k != "tier"}
            # Rows found by name prefix alone have no word match to mark.
            row["name_html"] = _marked(m.get("name_match")) or html.escape(row["service_name"] or "")
            row["snippet"] = _marked(m.get("description_match"))
            row["notes_snippet"] = _marked(m.get("notes_match"))
            page.append(row)
        result["common_uses"] = [
            u for u in uses_matching(store, q.words) if not transport or transport in u["transports"]
        ]
    else:
        return result
    result["rows"] = page
    if offset + len(page) < result["count"] and path is not None:
        params = {"q": q.text, "transport": transport, "_next": offset + len(page)}
        result["next"] = f"{path}?{urlencode({k: v for k, v in params.items() if v != ''})}"
    return result


def _port_rows(store, ports, transport: str) -> list[dict]:
    seen, found = set(), []
    for p in ports:
        for reg in store.registrations_at(p):
            if reg["id"] in seen:
                continue
            if transport and transport not in row_transports(reg["service_name"], reg["transport"]):
                continue
            seen.add(reg["id"])
            found.append(dict(reg, name_html=html.escape(reg["service_name"] or ""), snippet=None, notes_snippet=None))
    return found


def _port_summary(store, number: int) -> dict:
    row = store.port_row(number)
    return {"port": number, "status": row["status"], "services": row["services"], "verdict": row["verdict"]}


def brief(store, number: int) -> dict:
    """A port in a few facts, for a list of many (iana_ports.local): its status and services on
    each transport, the build's verdict (tcp and udp, the default targets) and its common uses."""
    row = store.port_row(number)
    names: dict = {t: [] for t in TRANSPORTS}
    for reg in store.registrations_at(number):
        name = reg["service_name"]
        for t in row_transports(name, reg["transport"]) if name else ():
            if name not in names[t]:
                names[t].append(name)
    uses = sorted(store.uses_at(number), key=use_order)
    transports = {t: {"status": row[t], "services": names[t]} for t in TRANSPORTS}
    return {"port": number, "verdict": row["verdict"], "transports": transports, "common_uses": uses}


def _marked(text: str | None) -> str | None:
    """FTS output with char(2)/char(3) marks -> escaped HTML with <mark>; None if nothing matched."""
    if not text or "\x02" not in text:
        return None
    escaped = html.escape(text, quote=False)
    return escaped.replace("\x02", "<mark>").replace("\x03", "</mark>")


def lookup(store, text: str) -> tuple[str, object]:
    """Where the lookup box (and the command line) sends `text`:
    ("port", number), ("service", key) or ("search", text)."""
    text = text.strip()
    q = query.parse(text)
    if len(q.ports) == 1:
        return "port", q.ports[0]
    name = q.name or text
    if not q.ports and len(name) <= MAX_NAME:
        key = name.lower()
        # An old name's page says what it became (pearldoc-xact -> panquest-xact).
        if store.service(key) or store.renamed_to(key):
            return "service", key
    return "search", text


# The whole space


def home(store) -> dict:
    range_counts, transport_counts, service_count = store.counts()
    per_range = {r["name"]: dict.fromkeys(STATUSES, 0) for r in RANGES}
    for r in range_counts:
        per_range[r["range"]][r["status"]] = r["n"]
    per_transport = {t: dict.fromkeys(STATUSES, 0) for t in TRANSPORTS}
    for r in transport_counts:
        per_transport[r["transport"]][r["status"]] = r["n"]
    return {
        "ingest": store.latest_ingest(),
        "ranges": [dict(r, counts=per_range[r["name"]]) for r in RANGES],
        "transports": per_transport,
        "service_count": service_count,
    }


# Changes


def change_filters(args) -> dict:
    """Query-string or command-line filters -> Store.changes() filters; BadQuery names the bad one."""
    kind = args.get("kind") or None
    if kind is not None and kind not in CHANGE_KINDS:
        raise BadQuery(f"kind must be one of {', '.join(CHANGE_KINDS)}")
    since = args.get("since") or None
    if since is not None and not DATE_PREFIX_RE.fullmatch(since):
        raise BadQuery("since must be a date: YYYY-MM-DD (or YYYY-MM, YYYY)")
    size = whole_number(args.get("_size"), "_size", 1, MAX_CHANGES_PAGE)
    return {
        "kind": kind,
        "port": whole_number(args.get("port"), "port", 0, MAX_PORT),
        "service": (args.get("service") or "").strip().lower() or None,
        "ingest": whole_number(args.get("ingest"), "ingest", 1, 2**62),
        "since": since,
        "limit": CHANGES_PAGE if size is None else size,
        "after": after_key(args.get("_next")),
    }


def next_token(change: dict) -> str:
    """The `_next` of the page after `change`: 'INGEST.DATE.ID' (DATE may be empty)."""
    return ".".join(map(str, change_key(change)))


def after_key(token) -> tuple[int, str, int] | None:
    if token is None or token == "":
        return None
    parts = str(token).split(".")
    ok = len(parts) == 3 and all(p.isascii() and p.isdigit() and len(p) <= 18 for p in (parts[0], parts[2]))
    if not ok or not (parts[1] == "" or DATE_PREFIX_RE.fullmatch(parts[1])):
        raise BadQuery("_next must be INGEST.DATE.ID, as a next link gives it")
    return int(parts[0]), parts[1], int(parts[2])


def whole_number(text, name: str, low: int, high: int) -> int | None:
    if text is None or text == "":
        return None
    text = str(text)
    # The length check keeps int() away from megabyte-long digit strings.
    if not (text.isascii() and text.isdigit() and len(text) <= 19) or not low <= int(text) <= high:
        raise BadQuery(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def change_page(store, args, path: str) -> dict:
    """One page of changes: the /changes.json answer of every front.

    `args` are the query-string filters (change_filters()); `path` is where
    the next page lives for the front asking (its base_url, its format).
    """
    filters = change_filters(args)
    # One row past the page says whether there is a next one (never a link to an empty page).
    rows = changes(store, dict(filters, limit=filters["limit"] + 1))
    more, rows = len(rows) > filters["limit"], rows[: filters["limit"]]
    public = {k: filters[k] for k in ("kind", "port", "service", "ingest", "since") if filters[k] is not None}
    next_url = None
    if more:
        params = dict(public, _next=next_token(rows[-1]))
        if filters["limit"] != CHANGES_PAGE:
            params["_size"] = filters["limit"]
        next_url = f"{path}?{urlencode(params)}"
    return {"ok": True, "filters": public, "changes": rows, "next": next_url}


def changes(store, filters: dict) -> list[dict]:
    """Change rows, newest first by registry date (the store's order), each with `change_date`
    (the store's) and `housekeeping` (see housekeeping())."""
    return [dict(c, housekeeping=housekeeping(c)) for c in store.changes(filters)]


def housekeeping(change: dict) -> bool:
    """True for a change that leaves what a port is for as it was: a registration whose only
    changed fields are who to ask and the paperwork (HOUSEKEEPING_FIELDS)."""
    fields = change["fields"] or ()
    return change["kind"] == "modified" and bool(fields) and all(f["field"] in HOUSEKEEPING_FIELDS for f in fields)


# What a timeline calls each kind of change: a release is the registry's de-registration.
TIMELINE_WORDS = {
    "added": "added",
    "removed": "removed",
    "modified": "modified",
    "renamed": "renamed",
    "assigned": "assigned",
    "released": "de-registered",
}


def timeline(store, port: int | None = None, service_key: str | None = None, changes: list | None = None) -> list[dict]:
    """The events of a port's or a service's history, oldest first, for the top of its page.

    One event per registry version, kind, service (before and after) and port: the same
    change on tcp and udp is one event (`transports`). `date` is the change's own date when
    the row carries a newer one than the version before, else the version's registry date;
    `changes` are the ids of the change rows it stands for (the section below the page
    details each); `housekeeping` as on /changes.
    """
    found = history(store, port, service_key, limit=MAX_CHANGES_PAGE) if changes is None else changes
    if not found:
        return []  # most ports
    events: dict[tuple, dict] = {}
    for c in sorted(found, key=lambda c: (c["ingest"], c["id"])):
        old_name = (c["old"] or {}).get("service_name") if c["old_service_key"] else None
        key = (c["ingest"], c["kind"], c["service_key"], c["old_service_key"], c["port"])
        event = events.get(key)
        if event is None:
            event = events[key] = {
                "date": c["change_date"] or c["registry_date"],
                "registry_date": c["registry_date"],
                "kind": c["kind"],
                "word": TIMELINE_WORDS[c["kind"]],
                "port": c["port"] or None,
                "transports": [],
                "service": c["service_name"],
                "old_service": old_name if old_name != c["service_name"] else None,
                "summary": c["summary"],
                "housekeeping": c["housekeeping"],
                "changes": [],
            }
        else:
            event["housekeeping"] = event["housekeeping"] and c["housekeeping"]
        if c["transport"] and c["transport"] not in event["transports"]:
            event["transports"].append(c["transport"])
        event["changes"].append(c["id"])
    for event in events.values():
        # "x renamed y on 4307/tcp" for both transports: "on 4307/tcp+udp".
        if len(event["transports"]) > 1 and event["port"]:
            one = f"{event['port']}/{event['transports'][0]}"
            event["summary"] = event["summary"].replace(one, f"{event['port']}/{'+'.join(event['transports'])}")
    return sorted(events.values(), key=lambda e: (e["date"] or "", e["changes"][0]))


def history(store, port: int | None = None, service_key: str | None = None, limit: int = CHANGES_PAGE) -> list[dict]:
    """The changes touching a port or a service, for their pages."""
    return changes(store, dict(_UNFILTERED, port=port, service=service_key, limit=limit))


# change_filters() of no arguments: every change.
_UNFILTERED = change_filters({})
