"""What the registry's XML adds to a build: people, footnotes, typed and linked references, its notes.

The records themselves always come from the main source (ingest/sources.py);
this writes the tables only the XML can fill, empty when the build had no
XML, so every build has the same layout. Names and organisations only: the
XML's person addresses are never read (ingest/registry_xml.py).
"""

from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

import orjson
import sqlite_utils

from iana_ports import schema

from .fetch import Fetched
from .registry_xml import XmlRegistry

EXPERTS_TITLE = "Experts"
# The served build's XML: the validators of the next conditional GET of it.
LAST_XML_SQL = "select source, final_url, fetched_at, sha256, etag, last_modified from registry_xml"


@dataclass(frozen=True)
class Enrichment:
    xml: XmlRegistry
    fetched: Fetched  # the XML as read: where from, its validators (the next conditional GET's)
    drifted: frozenset[int] = frozenset()  # records whose Reference the CSV has newer than the XML


def references(refs: list[dict], enrichment: Enrichment | None) -> list[dict]:
    """The CSV's parsed references (ingest/model.py) with the XML's type, and its target where the rule has none.

    Only where the XML's references of a record are the same tokens in the
    same order: anything else would pin a target on the wrong reference.
    """
    for ref in refs:
        ref["type"] = None
    if enrichment is None:
        return refs
    typed_by_id = enrichment.xml.references
    for rid, group in groupby(refs, itemgetter("registration_id")):
        rows = list(group)
        if rid in enrichment.drifted:
            continue
        typed = [t for t in typed_by_id.get(rid, ()) if t["field"] == "reference"]
        if [t["label"].strip() for t in typed] != [r["reference"] for r in rows]:
            continue
        for row, t in zip(rows, typed):
            row["type"] = t["type"]
            row["url"] = row["url"] or t["target"]
    return refs


def write(db: sqlite_utils.Database, enrichment: Enrichment | None, create_table) -> None:
    """Create the XML's tables (empty without an XML) and fill them."""
    xml = enrichment.xml if enrichment else None
    people = [] if xml is None else [(pid, p["name"], p["org"]) for pid, p in xml.people.items()]
    create_table(db, schema.PEOPLE, people)
    create_table(db, schema.FOOTNOTES, [] if xml is None else list(xml.footnotes.items()))
    create_table(db, schema.REGISTRY_NOTES, [] if xml is None else notes(xml))
    row = []
    if enrichment is not None:
        f = enrichment.fetched
        drifted = orjson.dumps(sorted(enrichment.drifted)).decode()
        row = [
            (f.source, f.final_url, f.fetched_at, f.sha256, len(f.data), f.etag, f.last_modified, xml.updated, drifted)
        ]
    create_table(db, schema.REGISTRY_XML, row)


def notes(xml: XmlRegistry) -> list[tuple]:
    rows = [(i, n["title"], n["text"], n["links"][0] if n["links"] else None) for i, n in enumerate(xml.notes, 1)]
    if xml.experts:
        rows.append((len(rows) + 1, EXPERTS_TITLE, xml.experts, None))
    return rows
