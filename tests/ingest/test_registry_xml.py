"""ingest.registry_xml on the real XML files: the CSV's records exactly, plus what only the XML holds."""

import gzip
import re
from pathlib import Path

import pytest

from bench.support import SHARED
from ingest.errors import IngestError
from ingest.parse import parse
from ingest.registry_xml import XmlRegistry, is_xml, parse_xml

XML_2025 = SHARED / "xml" / "service-names-port-numbers-2025-03-28.xml"
XML_2026 = SHARED / "xml" / "service-names-port-numbers-2026-02-25.xml"
TODAY = "2026-12-01"
FOOTNOTE_1 = (
    "It is only appropriate to use these values in explicitly-\n"
    "configured experiments; they MUST NOT be shipped as defaults in\n"
    "implementations.  See RFC 3692 for details."
)


def real(path: Path) -> bytes:
    assert path.is_file(), f"registry XML missing: {path} (see ../shared/data/iana/README.md)"
    return path.read_bytes()


@pytest.fixture(scope="module")
def xml_2026() -> XmlRegistry:
    return parse_xml(real(XML_2026), TODAY)


def differences(xml_records, csv_records):
    return [
        (x["id"], {k: (x[k], c[k]) for k in x if x[k] != c[k]})
        for x, c in zip(xml_records, csv_records, strict=True)
        if x != c
    ]


# IANA's two files of one version are not always written at the same moment: in each real pair
# exactly these references differ (read by hand in both files); every other value of every record,
# its keys and its order are the same.
@pytest.mark.parametrize(
    "xml_path, csv_name, expected",
    [
        (
            XML_2025,
            "service-names-port-numbers-2025-03-28.csv",
            [
                (1492, {"reference": ("[RFC-ietf-rift-rift-24]", "[RFC9692]")}),
                (1494, {"reference": ("[RFC-ietf-rift-rift-24]", "[RFC9692]")}),
            ],
        ),
        (
            XML_2026,
            "service-names-port-numbers-2026-02-25.csv",
            [(9137, {"reference": ("[RFC-ietf-lamps-rfc5273bis-10]", "[RFC-ietf-lamps-rfc5273bis-11]")})],
        ),
    ],
)
def test_records_are_the_csv_records(xml_path, csv_name, expected):
    xml = parse_xml(real(xml_path), TODAY)
    csv_records = parse((SHARED / csv_name).read_text(encoding="utf-8"), TODAY)
    assert len(xml.records) == len(csv_records)
    assert [list(r) for r in xml.records] == [list(r) for r in csv_records]  # same keys, same key order
    assert differences(xml.records, csv_records) == expected


def test_multi_line_and_wrapped_fields_as_the_csv_writes_them(xml_2026):
    by_line = {r["line"]: r for r in xml_2026.records}
    # <br/><br/> before a line end: one line end
    assert by_line[134]["description"] == (
        'whois++\nIANA assigned this well-formed service name as a replacement for "whois++".'
    )
    # <paragraph>s, and the XML's own wrapping (a blank, a line end, an indent) as one blank
    assert by_line[15318]["assignment_notes"].startswith(
        "Defined TXT keys:\n              td: Absolute pathname of the Thing Description of the Thing"
        " or Thing Description of the Thing\n      Description Directory.\n              type: "
    )
    assert by_line[3934]["assignment_notes"] == (
        'The UDP port 2083 was already previously assigned by IANA for "RadSec", an early implementation'
        " of RADIUS/TLS, prior to issuance of this RFC."
    )


def test_registry_date_notes_experts_footnotes(xml_2026):
    assert xml_2026.updated == "2026-02-25"
    assert xml_2026.footnotes == {"1": FOOTNOTE_1}
    assert xml_2026.experts == (
        "TCP/UDP: Joe Touch; Eliot Lear, Kumiko Ono, Wes Eddy, Brian Trammell, \n"
        "Jana Iyengar, and Michael Scharf\nSCTP: Michael Tuexen\nDCCP: Eddie Kohler and Yoshifumi Nishida"
    )
    assert [n["title"] for n in xml_2026.notes] == [None, "Request an Assignment"]
    assert xml_2026.notes[1] == {
        "title": "Request an Assignment",
        "text": "[https://www.iana.org/protocols/apply]",
        "links": ["https://www.iana.org/protocols/apply"],
    }
    assert xml_2026.notes[0]["text"].startswith("Service names and port numbers are used to distinguish")
    assert (
        "Service names are assigned on a first-come, first-served process, as\ndocumented in [RFC6335]."
        in (xml_2026.notes[0]["text"])
    )


def test_people_are_names_and_organisations_only(xml_2026):
    people = xml_2026.people
    assert len(people) == 5590
    assert people["Kurt_Haubner"] == {"name": "Kurt Haubner", "org": None}
    # ids the name rule gets wrong: cut at 20 characters, or not a name at all
    assert people["American_Power_Conve"] == {"name": None, "org": "American Power Conversion"}
    assert people["APCO_Project"] == {"name": "Steve Glass", "org": "APCO Project 25"}
    assert people["Around_Sound"] == {"name": None, "org": "Winzig LLC"}
    assert people["Zaid_Al-Timimi"] == {"name": "Zaid Al-Timimi", "org": "altmobile.ai"}
    assert people["brockman"] == {"name": None, "org": None}  # only a <uri>, which is never read
    assert {tuple(p) for p in people.values()} == {("name", "org")}
    # The obfuscated addresses as the file writes them ("zan&accessone.com"): none is kept anywhere.
    uris = {u.replace("&amp;", "&") for u in re.findall(r"<uri>([^<]+)</uri>", real(XML_2026).decode())}
    assert len(uris) > 5000
    addresses = {u.removeprefix("mailto:") for u in uris if "&" in u}
    assert len(addresses) > 5000
    # Every address has its "&": the words around each "&" the parse kept are all there is to compare.
    kept = set(re.findall(r"[^\s\[\]'\"]*&[^\s\[\]'\"]*", repr(xml_2026)))
    assert kept & (addresses | uris) == set()


def test_typed_references_with_targets(xml_2026):
    [exp1_tcp] = [r for r in xml_2026.records if r["service_name"] == "exp1" and r["transport"] == "tcp"]
    assert exp1_tcp["reference"] == "[1][RFC4727][RFC6335]"
    assert xml_2026.references[exp1_tcp["id"]] == [
        {"field": "reference", "type": "note", "data": "1", "label": "1", "target": None},
        {
            "field": "reference",
            "type": "rfc",
            "data": "rfc4727",
            "label": "RFC4727",
            "target": "https://www.rfc-editor.org/rfc/rfc4727",
        },
        {
            "field": "reference",
            "type": "rfc",
            "data": "rfc6335",
            "label": "RFC6335",
            "target": "https://www.rfc-editor.org/rfc/rfc6335",
        },
    ]
    [ictp] = [r for r in xml_2026.records if r["service_name"] == "pon-ictp"]
    refs = xml_2026.references[ictp["id"]]
    assert [(r["type"], r["label"][:20], r["target"]) for r in refs] == [
        ("uri", "TR-352", "https://www.broadband-forum.org/technical/download/TR-352.pdf"),
        ("text", "Inter-Channel-Termin", None),
    ]
    [smtp] = [r for r in xml_2026.records if r["service_name"] == "smtp" and r["transport"] == "tcp"]
    assert xml_2026.references[smtp["id"]] == [
        {
            "field": "reference",
            "type": "draft",
            "data": "RFC-ietf-emailcore-rfc5321bis-43",
            "label": "RFC-ietf-emailcore-rfc5321bis-43",
            "target": "https://datatracker.ietf.org/doc/draft-ietf-emailcore-rfc5321bis-43",
        }
    ]
    [recipe] = [r for r in xml_2026.records if r["service_name"] == "recipe-sharing"]
    assert xml_2026.references[recipe["id"]] == [
        {
            "field": "assignment_notes",
            "type": "uri",
            "data": "http://www.recipemanager.org/rsp/rsp10draft.html#dnssd",
            "label": "http://www.recipemanager.org/rsp/rsp10draft.html#dnssd",
            "target": "http://www.recipemanager.org/rsp/rsp10draft.html#dnssd",
        }
    ]
    assert {r["type"] for refs in xml_2026.references.values() for r in refs} == {
        "rfc",
        "draft",
        "uri",
        "note",
        "text",
    }


def test_gzip_gives_the_same_registry(xml_2026):
    data = real(XML_2026)
    assert parse_xml(gzip.compress(data), TODAY) == xml_2026
    assert is_xml(data) and is_xml(gzip.compress(data))
    assert not is_xml((SHARED / "service-names-port-numbers-2026-02-25.csv").read_bytes())


def doc(*records: str, head: str = "") -> bytes:
    body = "".join(f"<record>{r}</record>" for r in records)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{head}'
        f'<registry xmlns="http://www.iana.org/assignments" id="service-names-port-numbers">'
        f"<updated>2026-02-25</updated>{body}</registry>"
    ).encode()


ECHO = "<name>echo</name><protocol>tcp</protocol><description>Echo</description><number>7</number>"


def test_a_small_document():
    reg = parse_xml(doc(ECHO, "<description>Unassigned</description><number>8-9</number>"), TODAY)
    assert reg.records == [
        {
            "service_name": "echo",
            "port": "7",
            "transport": "tcp",
            "description": "Echo",
            "assignee": None,
            "contact": None,
            "registration_date": None,
            "modification_date": None,
            "reference": None,
            "service_code": None,
            "unauthorized_use": None,
            "assignment_notes": None,
            "port_low": 7,
            "port_high": 7,
            "id": 1,
            "line": 2,
        },
        {
            "service_name": None,
            "port": "8-9",
            "transport": None,
            "description": "Unassigned",
            "assignee": None,
            "contact": None,
            "registration_date": None,
            "modification_date": None,
            "reference": None,
            "service_code": None,
            "unauthorized_use": None,
            "assignment_notes": None,
            "port_low": 8,
            "port_high": 9,
            "id": 2,
            "line": 3,
        },
    ]
    assert (reg.updated, reg.people, reg.footnotes, reg.references, reg.notes, reg.experts) == (
        "2026-02-25",
        {},
        {},
        {},
        [],
        None,
    )


BOMB = '<!DOCTYPE registry [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
EXTERNAL = '<!DOCTYPE registry [<!ENTITY x SYSTEM "file:///etc/passwd">]>'


@pytest.mark.parametrize(
    "data, message",
    [
        (doc(ECHO, head=BOMB), "not a registry XML: refused DTDForbidden (no DTD or entities allowed)"),
        (doc(ECHO, head=EXTERNAL), "not a registry XML: refused DTDForbidden (no DTD or entities allowed)"),
        (b"<registry", "not a registry XML: malformed XML (unclosed token: line 1, column 0)"),
        (b"", "not a registry XML: malformed XML (no element found: line 1, column 0)"),
        (
            b"<html><body>Service Unavailable</body></html>",
            "not a registry XML: the root is 'html', not IANA's service-names-port-numbers registry",
        ),
        (doc(), "not a registry XML: no <record> elements"),
        (gzip.compress(doc(ECHO))[:-12], "not a registry XML: the gzip body is cut short"),
        (
            doc(ECHO.replace("<number>7<", "<number>70000<")),
            "record 1 (port 70000, tcp), column 'Port Number': '70000' is above 65535",
        ),
        (
            doc(ECHO.replace("<protocol>tcp<", "<protocol>quic<")),
            "record 1 (port 7, quic), column 'Transport Protocol': unknown transport 'quic'",
        ),
        (
            doc(ECHO.replace("<name>echo<", "<name>echo server<")),
            "record 1 (port 7, tcp), column 'Service Name': 'echo server' is not a service name (RFC 6335: up to 15"
            " letters, digits and hyphens; the registry's older names also use _ . / + *)",
        ),
        (
            doc(ECHO, ECHO),
            "record 2 (port 7, tcp): the same row as record 1 (an exact duplicate)",
        ),
        (
            doc("<number>9</number>"),
            "record 1 (port 9, -): a row without a service name must have a description",
        ),
        (
            doc(ECHO.replace("Echo", "Ec&#x9f;ho")),
            "record 1 (port 7, tcp), column 'Description': control character U+009F (the registry has none)",
        ),
    ],
)
def test_bad_documents_are_one_line_errors(data, message):
    with pytest.raises(IngestError) as caught:
        parse_xml(data, TODAY)
    assert str(caught.value) == message


def test_no_date_after_the_fetch_day():
    with pytest.raises(IngestError) as caught:
        parse_xml(doc(ECHO).replace(b"<record>", b'<record date="2026-12-02">'), TODAY)
    assert str(caught.value) == (
        "record 1 (port 7, tcp), column 'Registration Date': 2026-12-02 is after the day the file was fetched"
        " (2026-12-01)"
    )
