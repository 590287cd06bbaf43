"""The registry's two forms: which one a body is, where the XML sits beside the CSV, and their cross-check.

IANA serves the same registry as CSV and as XML from one folder. The CSV is
what the build has always been made from; when the XML of the same version
is there too and agrees with it, the XML enriches the build (ingest/enrich.py).
When the XML is missing or disagrees, the CSV alone builds and the reason is
one warning line. A source given alone may be either form, or the gzip of
either. Pure: no I/O.
"""

from dataclasses import dataclass

from iana_ports.facts import CSV_HEADER, FIELDS

from .errors import IngestError
from .parse import decode, parse
from .registry_xml import XmlRegistry, gunzip, is_xml, parse_xml

# IANA writes its two files at different moments, and the CSV has been seen a
# reference update ahead of the XML (a draft that became RFC 9692; a draft's
# next revision): in both real pairs only the Reference column of one or two
# records differed. So many differing references are no lag but another version.
MAX_REFERENCE_DRIFT = 8
_COLUMN = dict(zip(FIELDS, CSV_HEADER))
_COMPARED = (*FIELDS, "port_low", "port_high")


@dataclass(frozen=True)
class Registry:
    """The records to build from and what enriches them."""

    records: list[dict]
    xml: XmlRegistry | None  # None: the CSV builds alone
    form: str  # what the main source was: "csv" or "xml"
    warning: str | None = None  # the one line saying why the XML does not enrich (or only partly)
    drifted: frozenset[int] = frozenset()  # records whose Reference the CSV has newer than the XML


def unpack(data: bytes, max_bytes: int) -> bytes:
    """A body, or the inflated body of a gzip file (capped at `max_bytes`)."""
    return gunzip(data, max_bytes, "registry file")


def beside(url: str) -> str | None:
    """The XML's URL in the folder of a CSV's URL (None when `url` does not name a .csv file)."""
    path, sep, rest = url.partition("?")
    if not path.endswith(".csv"):
        return None
    return path.removesuffix(".csv") + ".xml" + sep + rest


def read(data: bytes, today: str, max_bytes: int) -> tuple[list[dict], XmlRegistry | None, str]:
    """One source's bytes, either form -> (records, its XmlRegistry or None, "csv" or "xml")."""
    body = unpack(data, max_bytes)
    if is_xml(body):
        xml = parse_xml(body, today)
        return xml.records, xml, "xml"
    return parse(decode(body), today=today), None, "csv"


def combine(
    data: bytes, today: str, max_bytes: int, xml_data: bytes | None = None, xml_missing: str | None = None
) -> Registry:
    """The main source, and the XML beside it (or why there is none) -> what to build.

    A bad main source raises; a bad XML beside it is only a warning.
    """
    records, own_xml, form = read(data, today, max_bytes)
    if own_xml is not None or (xml_data is None and xml_missing is None):
        return Registry(records, own_xml, form)

    def alone(reason: str) -> Registry:
        return Registry(records, None, form, f"warning: {reason}; built from the CSV alone")

    if xml_data is None:
        return alone(f"no XML beside the CSV ({xml_missing})")
    try:
        xml = parse_xml(unpack(xml_data, max_bytes), today)
    except IngestError as exc:
        return alone(f"the XML beside the CSV is unusable ({exc})")
    problem, drifted = cross_check(records, xml.records)
    if problem:
        return alone(f"the XML disagrees with the CSV: {problem}")
    if drifted:
        ids = ", ".join(str(i) for i in drifted)
        warning = (
            f"warning: the CSV's Reference differs from the XML's on record{'s' if len(drifted) > 1 else ''} {ids}"
            " (the CSV's kept; the XML enriches the rest)"
        )
        return Registry(records, xml, form, warning, frozenset(drifted))
    return Registry(records, xml, form)


def cross_check(csv_records: list[dict], xml_records: list[dict]) -> tuple[str | None, list[int]]:
    """Compare the two forms record by record: (why they disagree or None, ids whose Reference alone differs).

    They agree when they hold the same records in the same order with the
    same values, except the Reference of at most MAX_REFERENCE_DRIFT records.
    """
    if len(csv_records) != len(xml_records):
        return f"{len(csv_records)} records in the CSV, {len(xml_records)} in the XML", []
    drifted = []
    for c, x in zip(csv_records, xml_records):
        if c == x:
            continue
        differ = [f for f in _COMPARED if c[f] != x[f]]
        if differ == ["reference"]:
            drifted.append(c["id"])
            continue
        if differ:
            column = _COLUMN.get(differ[0], "Port Number")
            return f"record {c['id']} (CSV line {c['line']}) differs in column {column!r}", []
        return f"record {c['id']} starts on CSV line {c['line']}, the XML's on {x['line']}", []
    if len(drifted) > MAX_REFERENCE_DRIFT:
        return f"{len(drifted)} records differ in column 'Reference' (more than {MAX_REFERENCE_DRIFT})", []
    return None, drifted
