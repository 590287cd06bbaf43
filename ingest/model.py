"""Registration records -> the whole port space and the derived tables. Pure.

Port status rules (also in README.md):
- a row with a service name assigns every port of its range for its transport;
- a nameless row whose description starts with "unassigned" (any case, also
  "(unassigned) ...") marks unassigned; any other nameless row (Reserved,
  De-registered, Removed, "any private mail system", ...) marks reserved;
- a row with no transport speaks for all four transports;
- when rows disagree, assigned beats reserved beats unassigned;
- a port/transport no row covers is unassigned (so is all of 49152-65535).
"""

import json
import re

from .parse import MAX_PORT, TRANSPORTS

UNASSIGNED, RESERVED, ASSIGNED = 0, 1, 2
STATUS_NAMES = ("unassigned", "reserved", "assigned")
ALL = "all"  # the transport value of unassigned runs free on every transport

RANGES = (
    {
        "name": "System Ports",
        "common_name": "Well-known ports",
        "first": 0,
        "last": 1023,
        "assignment": "IETF Review or IESG Approval",
        "explanation": (
            "The oldest and most tightly controlled block. IANA assigns these only "
            "for protocols the IETF has reviewed, and on most Unix-like systems a "
            "program needs root (or CAP_NET_BIND_SERVICE) to listen on one."
        ),
    },
    {
        "name": "User Ports",
        "common_name": "Registered ports",
        "first": 1024,
        "last": 49151,
        "assignment": "IETF Review, IESG Approval or Expert Review",
        "explanation": (
            "Ports IANA assigns to applications on request, after review by a "
            "designated expert. Any program may listen on them; an assignment "
            "says which service is expected there, not that nothing else may use it."
        ),
    },
    {
        "name": "Dynamic Ports",
        "common_name": "Dynamic, private or ephemeral ports",
        "first": 49152,
        "last": 65535,
        "assignment": "Never assigned (RFC 6335 section 8.1.2)",
        "explanation": (
            "IANA never assigns these. Operating systems hand them out as temporary "
            "source ports for outgoing connections, and they are free for private "
            "or short-lived use; a service listening here can collide with a client "
            "connection that was given the same number."
        ),
    },
)
for _r in RANGES:
    _r["size"] = _r["last"] - _r["first"] + 1

OS_EPHEMERAL = (
    {
        "os": "linux",
        "label": "Linux",
        "first": 32768,
        "last": 60999,
        "history": "since Linux 4.2 (2015); before: 32768-61000",
        "check": "sysctl net.ipv4.ip_local_port_range",
    },
    {
        "os": "windows",
        "label": "Windows",
        "first": 49152,
        "last": 65535,
        "history": "since Windows Vista / Server 2008; before: 1025-5000",
        "check": "netsh int ipv4 show dynamicport tcp",
    },
    {
        "os": "macos",
        "label": "macOS",
        "first": 49152,
        "last": 65535,
        "history": "",
        "check": "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
    },
    {
        "os": "freebsd",
        "label": "FreeBSD",
        "first": 10000,
        "last": 65535,
        "history": "",
        "check": "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
    },
)

_SERVICE_NAME_RE = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9](?:-?[A-Za-z0-9])*")
_ALIAS_RE = re.compile(r'This entry is an alias to "([^"]+)"')
_HISTORIC_RE = re.compile(r"This entry is now historic")
_REF_RE = re.compile(r"\[([^\]]*)\]")
_RFC_RE = re.compile(r"RFC(\d+)(.*)", re.S)
_DRAFT_RE = re.compile(r"RFC-(ietf-[a-z0-9-]+?)(?:-(\d\d))?")
_PERSON_RE = re.compile(r"[A-Za-z][\w.'-]*(?:_[\w.'-]+)+|[A-Z][A-Z0-9-]+")


def range_of(port: int) -> dict:
    for r in RANGES:
        if port <= r["last"]:
            return r
    raise ValueError(port)


def is_rfc6335_name(name: str) -> bool:
    """RFC 6335 5.1: 1-15 of A-Z a-z 0-9 '-', a letter, no edge or double hyphens."""
    return len(name) <= 15 and _SERVICE_NAME_RE.fullmatch(name) is not None


def row_status(rec: dict) -> int:
    if rec["service_name"]:
        return ASSIGNED
    words = (rec["description"] or "").lstrip("( ").lower()
    return UNASSIGNED if words.startswith("unassigned") else RESERVED


def port_space(records: list[dict]) -> list[tuple]:
    """One row per port 0-65535; columns in PORT_COLUMNS order."""
    size = MAX_PORT + 1
    status = {t: bytearray(size) for t in TRANSPORTS}
    listed = bytearray(size)
    services: dict[int, list[str]] = {}
    words: dict[int, list[str]] = {}
    ported = [r for r in records if r["port_low"] is not None]
    # Ascending status order lets a plain overwrite implement "higher wins";
    # a port keeps the registry's words only from rows of its final status.
    top = bytearray(size)
    for rec in sorted(ported, key=row_status):
        low, high = rec["port_low"], rec["port_high"]
        st = row_status(rec)
        n = high - low + 1
        listed[low : high + 1] = b"\x01" * n
        for t in (rec["transport"],) if rec["transport"] else TRANSPORTS:
            if st:
                status[t][low : high + 1] = bytes((st,)) * n
        if st == ASSIGNED:
            for p in range(low, high + 1):
                names = services.setdefault(p, [])
                if rec["service_name"] not in names:
                    names.append(rec["service_name"])
            continue
        desc = rec["description"]
        for p in range(low, high + 1):
            if st > top[p] or p not in words:
                words[p] = [desc]
                top[p] = st
            elif desc not in words[p]:
                words[p].append(desc)
    eph = [(o["first"], o["last"]) for o in OS_EPHEMERAL]
    rows = []
    for p in range(size):
        per = [STATUS_NAMES[status[t][p]] for t in TRANSPORTS]
        overall = STATUS_NAMES[max(status[t][p] for t in TRANSPORTS)]
        rng = range_of(p)
        names = services.get(p)
        ws = words.get(p) if overall != "assigned" else None
        rows.append(
            (
                p,
                overall,
                *per,
                json.dumps(names) if names else None,
                "; ".join(ws) if ws else None,
                rng["name"],
                rng["common_name"],
                listed[p],
                *(int(a <= p <= b) for a, b in eph),
            )
        )
    return rows


PORT_COLUMNS = (
    "port",
    "status",
    *TRANSPORTS,
    "services",
    "registry_words",
    "range",
    "range_common_name",
    "listed",
    *(o["os"] for o in OS_EPHEMERAL),
)


def unassigned_runs(ports: list[tuple]) -> list[dict]:
    """Maximal runs of consecutive unassigned ports, per transport and for all four."""
    idx = {t: PORT_COLUMNS.index(t) for t in TRANSPORTS}
    runs = []
    for t in (*TRANSPORTS, ALL):
        cols = [idx[t]] if t != ALL else list(idx.values())
        start = None
        for row in ports:
            free = all(row[c] == "unassigned" for c in cols)
            if free and start is None:
                start = row[0]
            elif not free and start is not None:
                runs.append(_run(t, start, row[0] - 1))
                start = None
        if start is not None:
            runs.append(_run(t, start, MAX_PORT))
    return runs


def _run(transport: str, first: int, last: int) -> dict:
    names = [r["name"] for r in RANGES if r["first"] <= last and first <= r["last"]]
    return {
        "transport": transport,
        "first": first,
        "last": last,
        "length": last - first + 1,
        "range": " / ".join(names),
    }


def services(records: list[dict]) -> list[dict]:
    """One row per distinct service name, case-insensitive, in first-seen order."""
    by_key: dict[str, dict] = {}
    for rec in records:
        name = rec["service_name"]
        if not name:
            continue
        s = by_key.get(name.lower())
        if s is None:
            s = by_key[name.lower()] = {
                "key": name.lower(),
                "name": name,
                "description": rec["description"],
                "ports": [],
                "transports": [],
                "row_count": 0,
                "has_port": 0,
                "rfc6335_valid": int(is_rfc6335_name(name)),
                "alias_of": None,
                "historic": 0,
            }
        s["row_count"] += 1
        if rec["port"] and rec["port"] not in s["ports"]:
            s["ports"].append(rec["port"])
        if rec["port"]:
            s["has_port"] = 1
        if rec["transport"] and rec["transport"] not in s["transports"]:
            s["transports"].append(rec["transport"])
        notes = rec["assignment_notes"] or ""
        alias = _ALIAS_RE.search(notes)
        if alias:
            s["alias_of"] = alias.group(1).lower()
        if _HISTORIC_RE.search(notes):
            s["historic"] = 1
    for s in by_key.values():
        s["ports"] = json.dumps(s["ports"])
        s["transports"] = json.dumps(s["transports"])
    return list(by_key.values())


def classify_reference(token: str) -> tuple[str, str | None]:
    """'RFC6335' -> ('rfc', 'https://www.rfc-editor.org/rfc/rfc6335'), etc."""
    token = token.strip()
    m = _DRAFT_RE.fullmatch(token)
    if m:
        return "draft", f"https://datatracker.ietf.org/doc/draft-{m.group(1)}/"
    m = _RFC_RE.fullmatch(token)
    if m:
        url = f"https://www.rfc-editor.org/rfc/rfc{int(m.group(1))}"
        section = re.search(r"Section\s+([\d.]+)", m.group(2))
        if section:
            url += f"#section-{section.group(1).rstrip('.')}"
        return "rfc", url
    if re.match(r"https?://", token):
        return "url", token
    if _PERSON_RE.fullmatch(token):
        return "person", None
    return "other", None


def references(records: list[dict]) -> list[dict]:
    """Each reference of each registration: bracketed tokens and bare URLs."""
    out = []
    for rec in records:
        text = rec["reference"]
        if not text:
            continue
        tokens = _REF_RE.findall(text)
        tokens += re.findall(r"https?://\S+", _REF_RE.sub(" ", text))
        for pos, token in enumerate(t.strip() for t in tokens if t.strip()):
            kind, url = classify_reference(token)
            out.append(
                {
                    "registration_id": rec["id"],
                    "position": pos,
                    "reference": token,
                    "kind": kind,
                    "url": url,
                }
            )
    return out
