"""Registry XML bytes -> the CSV's records plus what only the XML holds. Pure: no I/O, no database.

IANA publishes the registry as XML beside the CSV, and generates the CSV from
it. `parse_xml` rebuilds each CSV row from its <record> the way IANA's
generator does (measured on the 2025-03-28 and 2026-02-25 pairs; the rules
are in `_text`), then validates the rows with ingest/parse.py's own row
rules, so the records are exactly what `parse.parse()` gives for the CSV of
the same version. Beside them it keeps what the CSV cannot carry: the
registry's date, its people (name and organisation only: a person's <uri> is
an e-mail address and is never read), footnotes, typed references with
their targets, its notes and experts.

The XML comes from the network: defusedxml refuses a DTD, entities and
external references, so nothing in the file can expand or reach out.
"""

import datetime
import re
import zlib
from dataclasses import dataclass, field

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from iana_ports.facts import CSV_HEADER, FIELDS

from .errors import IngestError
from .parse import _CONTROL_RE, _record, shown

NS = "{http://www.iana.org/assignments}"
REGISTRY_ID = "service-names-port-numbers"
# The same cap as a download's (ingest/fetch.MAX_BYTES): a gzip body may not inflate past it.
MAX_XML_BYTES = 64 * 1024 * 1024
GZIP_MAGIC = b"\x1f\x8b"

# Where an <xref> of each type points; a type missing here has no target.
RFC_URL = "https://www.rfc-editor.org/rfc/{}"
DRAFT_URL = "https://datatracker.ietf.org/doc/{}"
REFERENCE_TYPES = ("rfc", "draft", "uri", "person", "note", "text")
# IANA's generator indents each <paragraph> after the first by this much in the CSV.
_PARAGRAPH_JOIN = "\n" + " " * 14
# A line end between a trailing blank and an indented line is the XML's own
# wrapping: the CSV has one space there. A line end without both is kept.
_WRAP_RE = re.compile(r"[ \t]+\n[ \t]+")
_URL_RE = re.compile(r"https?://[^\s<>\"]+\Z")


@dataclass(frozen=True)
class XmlRegistry:
    """One registry version as its XML gives it."""

    records: list[dict]  # exactly as ingest.parse.parse() gives them for the CSV
    updated: str | None  # the registry's own <updated> date
    people: dict[str, dict]  # id -> {"name", "org"} (either may be None); never a <uri>
    footnotes: dict[str, str]  # anchor -> text
    # record id -> its typed references, in order: {"field", "type", "data", "label", "target"}
    references: dict[int, list[dict]] = field(default_factory=dict)
    notes: list[dict] = field(default_factory=list)  # {"title", "text", "links"}
    experts: str | None = None


def parse_xml(data: bytes, today: str | None = None) -> XmlRegistry:
    """Registry XML (or its gzip) -> XmlRegistry. A bad file raises a one-line IngestError.

    `today` (YYYY-MM-DD, default: today in UTC) is the day the file was
    fetched: no date may be after it, as in the CSV path.
    """
    today = today or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    root = _root(gunzip(data))
    records, references = [], {}
    seen: dict[tuple, int] = {}
    line = 2  # the CSV line each row would start on: parse.parse() gives it too
    for n, el in enumerate(root.iterfind(NS + "record"), 1):
        row, refs = _row(el)
        _check_controls(row, n, el)
        try:
            rec = _record(row, n, line, today)
        except IngestError as exc:
            raise IngestError(_named(str(exc), line, n, el)) from None
        key = tuple(row)
        if key in seen:
            raise IngestError(f"{_where(n, el)}: the same row as record {seen[key]} (an exact duplicate)")
        seen[key] = n
        records.append(rec)
        if refs:
            references[n] = refs
        line += 1 + sum(v.count("\n") for v in row)
    if not records:
        raise IngestError("not a registry XML: no <record> elements")
    return XmlRegistry(
        records=records,
        updated=_child_text(root, "updated"),
        people=_people(root),
        footnotes={f.get("anchor"): _text(f) for f in root.iterfind(NS + "footnote") if f.get("anchor") is not None},
        references=references,
        notes=[_note(n) for n in root.iterfind(NS + "note")],
        experts=_child_text(root, "expert"),
    )


def is_xml(data: bytes) -> bool:
    """Whether a body (or its gzip) is XML rather than the CSV: an XML declaration or a <registry> first.

    Anything else (the CSV, an HTML error page) is read as CSV, whose header check names what came.
    """
    head = data[:2] == GZIP_MAGIC and _head_of_gzip(data) or data[:512]
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith((b"<?xml", b"<registry"))


def _head_of_gzip(data: bytes) -> bytes:
    try:
        return zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(data, 512)
    except zlib.error:
        return b""


def gunzip(data: bytes, max_bytes: int = MAX_XML_BYTES, what: str = "registry XML") -> bytes:
    """`data`, or its inflation when it is gzip, never past `max_bytes`."""
    if data[:2] != GZIP_MAGIC:
        return data
    out = zlib.decompressobj(zlib.MAX_WBITS | 16)
    try:
        body = out.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise IngestError(f"not a {what}: the gzip body is corrupt ({exc})") from None
    if len(body) > max_bytes:
        raise IngestError(f"not a {what}: the gzip body inflates past the {max_bytes}-byte cap")
    if not out.eof:
        raise IngestError(f"not a {what}: the gzip body is cut short")
    return body


def _root(body: bytes):
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise IngestError(f"not a registry XML: refused {type(exc).__name__} (no DTD or entities allowed)") from None
    except SafeET.ParseError as exc:
        raise IngestError(f"not a registry XML: malformed XML ({exc})") from None
    if root.tag != NS + "registry" or root.get("id") != REGISTRY_ID:
        raise IngestError(f"not a registry XML: the root is {shown(root.tag)}, not IANA's {REGISTRY_ID} registry")
    return root


def _row(el) -> tuple[list[str], list[dict]]:
    """A <record> -> its 12 CSV fields (as strings, '' for none) and its typed references."""
    persons, refs = [], []
    for x in el.iterfind(NS + "xref"):
        (persons if x.get("type") == "person" else refs).append(x)
    contact = "".join(f"[{x.get('data', '')}]" for x in persons)
    assignee_el = el.find(NS + "assignee")
    # A record without <assignee> names one party: the CSV shows it in both columns.
    assignee = contact if assignee_el is None else "".join(f"[{x.get('data', '')}]" for x in assignee_el)
    note_el = el.find(NS + "note")
    values = {
        "service_name": _child_text(el, "name") or "",
        "port": _child_text(el, "number") or "",
        "transport": _child_text(el, "protocol") or "",
        "description": _child_text(el, "description") or "",
        "assignee": assignee,
        "contact": contact,
        "registration_date": el.get("date", ""),
        "modification_date": el.get("updated", ""),
        "reference": "".join(f"[{_label(x)}]" for x in refs),
        "service_code": _child_text(el, "sc") or "",
        "unauthorized_use": _child_text(el, "unauthorized") or "",
        "assignment_notes": "" if note_el is None else _text(note_el),
    }
    typed = [_reference(x, "reference") for x in refs]
    if note_el is not None:
        typed += [_reference(x, "assignment_notes") for x in note_el.iter(NS + "xref") if x.get("type") != "person"]
    return [values[f] for f in FIELDS], typed


def _reference(x, where: str) -> dict:
    kind, data = x.get("type"), x.get("data")
    return {"field": where, "type": kind, "data": data, "label": _label(x), "target": _target(kind, data)}


def _target(kind: str | None, data: str | None) -> str | None:
    if not data:
        return None
    if kind == "rfc" and re.fullmatch(r"rfc[0-9]{1,5}", data):
        return RFC_URL.format(data)
    if kind == "draft":
        # IANA names a draft that is becoming an RFC "RFC-ietf-...": the draft's own name is draft-ietf-...
        name = "draft-" + data.removeprefix("RFC-") if data.startswith("RFC-") else data
        return DRAFT_URL.format(name) if re.fullmatch(r"draft-[A-Za-z0-9-]+", name) else None
    if kind == "uri" and _URL_RE.match(data):
        return data
    return None


def _label(x) -> str:
    """What the CSV writes inside the brackets for an <xref>."""
    text = _text(x)
    if text:
        return text
    data = x.get("data") or ""
    return data.upper() if x.get("type") == "rfc" else data


def _text(el) -> str:
    """An element's text as the CSV has it: <xref> as [label], <br/> and <paragraph> as line ends."""
    parts = [el.text or ""]
    children = list(el)
    paragraphs = 0
    for i, ch in enumerate(children):
        tag = ch.tag.removeprefix(NS)
        tail = ch.tail or ""
        if tag == "xref":
            parts.append(f"[{_label(ch)}]")
        elif tag == "br":
            # <br/> before a line end (or before another <br/>) adds none of its own.
            nxt = children[i + 1].tag if i + 1 < len(children) else None
            if not tail.startswith("\n") and not (tail == "" and nxt == NS + "br"):
                parts.append("\n")
        elif tag == "paragraph":
            parts.append((_PARAGRAPH_JOIN if paragraphs else "") + _text(ch))
            paragraphs += 1
            tail = ""  # the XML's indentation between paragraphs
        else:
            parts.append(_text(ch))
        parts.append(tail)
    return _WRAP_RE.sub(" ", "".join(parts)).strip()


def _child_text(el, tag: str) -> str | None:
    child = el.find(NS + tag)
    return None if child is None else (_text(child) or None)


def _people(root) -> dict[str, dict]:
    people = {}
    box = root.find(NS + "people")
    for p in [] if box is None else box.iterfind(NS + "person"):
        pid = p.get("id")
        if pid:
            # Only the name and the organisation: the <uri> is an e-mail address.
            people[pid] = {"name": _child_text(p, "name"), "org": _child_text(p, "org")}
    return people


def _note(el) -> dict:
    links = [
        x.get("data") for x in el.iter(NS + "xref") if x.get("type") == "uri" and _URL_RE.match(x.get("data") or "")
    ]
    return {"title": el.get("title"), "text": _text(el), "links": links}


def _check_controls(row: list[str], n: int, el) -> None:
    """The CSV path's rule: no control character but a line end (the registry has none)."""
    for header, value in zip(CSV_HEADER, row):
        m = _CONTROL_RE.search(value)
        if m:
            raise IngestError(
                f"{_where(n, el)}, column {header!r}: control character U+{ord(m.group()):04X} (the registry has none)"
            )


def _where(n: int, el) -> str:
    port, transport = _child_text(el, "number") or "-", _child_text(el, "protocol") or "-"
    return f"record {n} (port {port}, {transport})"


def _named(message: str, line: int, n: int, el) -> str:
    """A parse.py row error ("line N, ...") reworded to name the XML record."""
    return _where(n, el) + message.removeprefix(f"line {line}")
