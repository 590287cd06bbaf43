"""Registration records -> the whole port space and the derived tables. Pure.

Port status rules (also in README.md):
- a row with a service name assigns every port of its range for its transport;
- a nameless row whose description starts with "unassigned" (any case, also
  "(unassigned) ...") marks unassigned; any other nameless row (Reserved,
  De-registered, Removed, "any private mail system", ...) marks reserved;
- a nameless row with no transport speaks for all four transports; a named
  row with no transport (legacy assignments such as flex-lm) for tcp and udp
  only (iana_ports.facts.row_transports);
- when rows disagree, assigned beats reserved beats unassigned;
- a port/transport no row covers is unassigned (so is all of 49152-65535).

Each port also gets the project's verdict for running one's own tcp/udp
service there (iana_ports.verdict), which weighs the common uses too.
"""

import re
from itertools import repeat
from json.encoder import encode_basestring_ascii
from operator import itemgetter

from iana_ports import verdict
from iana_ports.facts import (
    BROWSER_BLOCKED_PORTS,
    EVERYDAY_TRANSPORTS,
    MAX_PORT,
    OS_EPHEMERAL,
    PORT_COUNT,
    RANGES,
    STATUSES,
    TRANSPORTS,
    UNASSIGNED,
    row_transports,
)
from iana_ports.schema import PORTS

# Status codes, weakest first, so max() picks the winner (iana_ports.facts.STATUSES).
UNASSIGNED_CODE, RESERVED_CODE, ASSIGNED_CODE = range(len(STATUSES))
ALL = "all"  # the transport value of unassigned runs free on every transport
PORT_COLUMNS = tuple(PORTS.columns)

_SERVICE_NAME_RE = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9](?:-?[A-Za-z0-9])*")
# "an alias to" (whois++ -> whoispp) and "a duplicate of the" (www -> http).
_ALIAS_RE = re.compile(r'This (?:entry )?is (?:an alias to|a duplicate of the) "([^"]+)"')
_HISTORIC_RE = re.compile(r"This entry is now historic")
_REF_RE = re.compile(r"\[([^\]]*)\]")
_FREE_RUN_RE = re.compile(rb"\x01+")
_RFC_RE = re.compile(r"RFC(\d+)(.*)", re.S)
# An RFC-to-be ("RFC-ietf-...-43") or a plain Internet-Draft ("draft-...-01").
_DRAFT_RE = re.compile(r"(?:RFC-|draft-)([a-z0-9-]+?)(?:-(\d\d))?")
# Person ids have an underscore (Jon_Postel); organisations are all letters (IESG).
_PERSON_RE = re.compile(r"[A-Za-z][\w.'-]*(?:_[\w.'-]+)+|[A-Z]{2,}")


def is_rfc6335_name(name: str) -> bool:
    """RFC 6335 5.1: 1-15 of A-Z a-z 0-9 '-', a letter, no edge or double hyphens."""
    return len(name) <= 15 and _SERVICE_NAME_RE.fullmatch(name) is not None


def json_strings(items: list[str]) -> str:
    """json.dumps() of a list of str, byte for byte, without json.dumps'
    per-call encoder set-up (tens of thousands of small lists per build)."""
    return "[" + ", ".join(map(encode_basestring_ascii, items)) + "]"


def row_status(rec: dict) -> int:
    if rec["service_name"]:
        return ASSIGNED_CODE
    words = (rec["description"] or "").lstrip("( ").lower()
    return UNASSIGNED_CODE if words.startswith("unassigned") else RESERVED_CODE


def port_space(records: list[dict], uses: list[dict] = ()) -> list[tuple]:
    """One row per port 0-65535; columns in PORT_COLUMNS order.

    `uses` are the common-use entries (ingest.common_uses), which the verdict weighs.
    """
    status = {t: bytearray(PORT_COUNT) for t in TRANSPORTS}
    listed = bytearray(PORT_COUNT)
    services: dict[int, list[str]] = {}
    words: dict[int, tuple[str, ...]] = {}
    ported = [(row_status(r), r) for r in records if r["port_low"] is not None]
    # Ascending status order lets a plain overwrite implement "higher wins";
    # a port keeps the registry's words only from rows of its final status.
    top = bytearray(PORT_COUNT)
    has_words = bytearray(PORT_COUNT)
    for st, rec in sorted(ported, key=itemgetter(0)):
        low, end = rec["port_low"], rec["port_high"] + 1
        n = end - low
        listed[low:end] = b"\x01" * n
        if st:
            for t in row_transports(rec["service_name"], rec["transport"]):
                status[t][low:end] = bytes((st,)) * n
        if st == ASSIGNED_CODE:
            name = rec["service_name"]
            for p in range(low, end):
                names = services.setdefault(p, [])
                if name not in names:
                    names.append(name)
            continue
        desc = rec["description"]
        if has_words.find(1, low, end) == -1:
            # No earlier row spoke for these ports (the common case, and the
            # long Unassigned/Reserved ranges): one shared tuple, set in C.
            words.update(zip(range(low, end), repeat((desc,), n)))
            has_words[low:end] = b"\x01" * n
            top[low:end] = bytes((st,)) * n
            continue
        for p in range(low, end):
            if st > top[p] or not has_words[p]:
                words[p] = (desc,)
                top[p] = st
                has_words[p] = 1
            elif desc not in words[p]:
                words[p] += (desc,)
    # Whole columns at once (map/zip run in C); a per-port Python loop was
    # most of the ingest's model time.
    name_of = STATUSES.__getitem__
    overall = bytes(map(max, *(status[t] for t in TRANSPORTS)))
    service_json = {p: json_strings(names) for p, names in services.items()}
    registry_words = {p: "; ".join(ws) for p, ws in words.items() if overall[p] != ASSIGNED_CODE}
    range_names, common_names = [], []
    for r in RANGES:
        range_names += [r["name"]] * r["size"]
        common_names += [r["common_name"]] * r["size"]
    ephemeral = [
        bytes(o["first"]) + b"\x01" * (o["last"] - o["first"] + 1) + bytes(MAX_PORT - o["last"]) for o in OS_EPHEMERAL
    ]
    return list(
        zip(
            range(PORT_COUNT),
            map(name_of, overall),
            *(map(name_of, status[t]) for t in TRANSPORTS),
            map(service_json.get, range(PORT_COUNT)),
            map(registry_words.get, range(PORT_COUNT)),
            range_names,
            common_names,
            listed,
            *ephemeral,
            (int(p in BROWSER_BLOCKED_PORTS) for p in range(PORT_COUNT)),
            verdicts([status[t] for t in EVERYDAY_TRANSPORTS], uses),
            strict=True,
        )
    )


def verdicts(everyday: list[bytearray], uses: list[dict]) -> list[str]:
    """iana_ports.verdict.level for every port, for tcp and udp (the status codes of each)."""
    used = bytearray(PORT_COUNT)
    for u in uses:
        if set(u["transports"]) & set(EVERYDAY_TRANSPORTS) and verdict.weighs(u):
            used[u["first"] : u["last"] + 1] = b"\x01" * (u["last"] - u["first"] + 1)
    name_of, level, shared = STATUSES.__getitem__, verdict.level, verdict.shared
    return [level(p, [name_of(s[p]) for s in everyday], used[p], shared(p)) for p in range(PORT_COUNT)]


def unassigned_runs(ports: list[tuple]) -> list[dict]:
    """Maximal runs of consecutive unassigned ports, per transport and for all four.

    `ports` is port_space()'s output: one row per port, in port order.
    """
    free = {
        t: bytes([row[i] == UNASSIGNED for row in ports]) for t, i in ((t, PORT_COLUMNS.index(t)) for t in TRANSPORTS)
    }
    free[ALL] = bytes(map(min, *free.values()))
    return [
        _run(t, ports[m.start()][0], ports[m.end() - 1][0])
        for t in (*TRANSPORTS, ALL)
        for m in _FREE_RUN_RE.finditer(free[t])
    ]


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
        key = name.lower()
        s = by_key.get(key)
        if s is None:
            s = by_key[key] = {
                "key": key,
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
        port, transport, notes = rec["port"], rec["transport"], rec["assignment_notes"]
        if port:
            s["has_port"] = 1
            if port not in s["ports"]:
                s["ports"].append(port)
            for t in row_transports(name, transport):
                if t not in s["transports"]:
                    s["transports"].append(t)
        if notes:
            alias = _ALIAS_RE.search(notes)
            if alias:
                s["alias_of"] = alias.group(1).lower()
            if _HISTORIC_RE.search(notes):
                s["historic"] = 1
    for s in by_key.values():
        s["ports"] = json_strings(s["ports"])
        s["transports"] = json_strings(s["transports"])
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
