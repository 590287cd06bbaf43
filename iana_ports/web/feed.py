"""Registry changes as an Atom 1.0 feed (RFC 4287), paged with rel="next" (RFC 5005).

Entry ids are tag: URIs from the ingest's sha256 and the change id, so they
never depend on the host a request came in with, and stay stable across
rebuilds of the same history.
"""

import datetime
import re
import xml.etree.ElementTree as ET

ATOM_NS = "http://www.w3.org/2005/Atom"
CONTENT_TYPE = "application/atom+xml; charset=utf-8"
TAG_PREFIX = "tag:iana-ports,2026:"

# Characters XML 1.0 cannot carry at all; registry text has no business holding them.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def atom(rows, *, feed_id, feed_url, page_url, changes_url, updated, subtitle="", next_url=None) -> bytes:
    feed = ET.Element("feed", xmlns=ATOM_NS)
    _text(feed, "title", "IANA port registry changes" + (f": {subtitle}" if subtitle else ""))
    _text(feed, "id", feed_id)
    _text(feed, "updated", rfc3339(updated))
    ET.SubElement(feed, "link", rel="self", type="application/atom+xml", href=feed_url)
    ET.SubElement(feed, "link", rel="alternate", type="text/html", href=page_url)
    if next_url:
        ET.SubElement(feed, "link", rel="next", type="application/atom+xml", href=next_url)
    author = ET.SubElement(feed, "author")
    _text(author, "name", "iana-ports")
    for row in rows:
        entry = ET.SubElement(feed, "entry")
        _text(entry, "id", entry_id(row))
        _text(entry, "title", row["summary"])
        _text(entry, "updated", rfc3339(row["fetched_at"]))
        link = f"{changes_url}?ingest={row['ingest']}#change-{row['id']}"
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


def rfc3339(stamp: str | None) -> str:
    if not stamp:
        return "1970-01-01T00:00:00Z"
    moment = datetime.datetime.fromisoformat(stamp)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
