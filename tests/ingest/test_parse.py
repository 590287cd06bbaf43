"""ingest.parse on tests/fixtures/quirks.csv: every registry quirk, and every bad input class."""

import csv
import datetime
import io
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.errors import IngestError
from iana_ports.facts import CSV_HEADER as HEADER, FIELDS
from ingest import model
from ingest.parse import decode, parse

QUIRKS = Path(__file__).parent / "fixtures" / "quirks.csv"
HEADER_LINE = ",".join(HEADER)


@pytest.fixture(scope="module")
def quirks_bytes() -> bytes:
    return QUIRKS.read_bytes()


@pytest.fixture(scope="module")
def records(quirks_bytes) -> list[dict]:
    return parse(decode(quirks_bytes))


def by_line(records, line):
    [rec] = [r for r in records if r["line"] == line]
    return rec


def record(id, line, **values):
    """A whole record: every column None unless given."""
    rec = dict.fromkeys(FIELDS)
    rec.update(port="", port_low=None, port_high=None, id=id, line=line)
    rec.update(values)
    return rec


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the fixture on which `needle` starts."""
    return text[: text.index(needle)].count("\n") + 1


def test_fixture_is_lf_without_bom(quirks_bytes):
    # The variants below are derived from it, so it must be the plain form.
    assert not quirks_bytes.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in quirks_bytes


def test_every_row_is_one_record_in_file_order(records):
    # (id, line, name, raw port, low, high, transport): none dropped, none merged.
    assert [
        (r["id"], r["line"], r["service_name"], r["port"], r["port_low"], r["port_high"], r["transport"])
        for r in records
    ] == [
        (1, 2, None, "0", 0, 0, "tcp"),
        (2, 3, None, "0", 0, 0, "udp"),
        (3, 4, "discard", "9", 9, 9, "dccp"),
        (4, 5, None, "15", 15, 15, "tcp"),
        (5, 6, "ssh", "22", 22, 22, "tcp"),
        (6, 7, "ssh", "22", 22, 22, "sctp"),
        (7, 8, None, "24", 24, 24, "tcp"),
        (8, 9, "smtp", "25", 25, 25, "tcp"),
        (9, 10, "whoispp", "63", 63, 63, "tcp"),
        (10, 12, "whois++", "63", 63, 63, "tcp"),
        (11, 15, "sql*net", "66", 66, 66, "tcp"),
        (12, 16, "http", "80", 80, 80, "tcp"),
        (13, 17, "www", "80", 80, 80, "tcp"),
        (14, 18, "www-http", "80", 80, 80, "tcp"),
        (15, 21, "http", "80", 80, 80, "sctp"),
        (16, 22, None, "114", 114, 114, None),
        (17, 23, "imap", "143", 143, 143, "tcp"),
        (18, 24, "cl/1", "172", 172, 172, "udp"),
        (19, 25, "z39.50", "210", 210, 210, "tcp"),
        (20, 26, "CAIlic", "216", 216, 216, "tcp"),
        (21, 27, "subntbcst_tftp", "247", 247, 247, "tcp"),
        (22, 28, None, "272-279", 272, 279, None),
        (23, 29, None, "585", 585, 585, None),
        (24, 30, "oob-ws-http", "623", 623, 623, "tcp"),
        (25, 31, None, "659", 659, 659, None),
        (26, 32, None, "1028", 1028, 1028, None),
        (27, 33, None, "1109", 1109, 1109, None),
        (28, 34, None, "4748-4748", 4748, 4748, None),
        (29, 35, "x11", "6000-6063", 6000, 6063, "tcp"),
        (30, 36, "xahaud", "21337", 21337, 21337, "tcp"),
        (31, 37, "arp", "", None, None, None),
        (32, 38, "ssh", "", None, None, "tcp"),
    ]


def test_single_port_row(records):
    assert by_line(records, 6) == record(
        5,
        6,
        service_name="ssh",
        port="22",
        port_low=22,
        port_high=22,
        transport="tcp",
        description="The Secure Shell (SSH) Protocol",
        reference="[RFC4251]",
        assignment_notes="Defined TXT keys: u=<username> p=<password>",
    )


def test_multiline_field_with_doubled_quotes(records):
    assert by_line(records, 10) == record(
        9,
        10,
        service_name="whoispp",
        port="63",
        port_low=63,
        port_high=63,
        transport="tcp",
        description='whois++\nIANA assigned this well-formed service name as a replacement for "whois++".',
        assignee="[Rickard_Schoultz]",
        contact="[Rickard_Schoultz]",
    )


def test_name_outside_rfc6335_with_multiline_notes(records):
    assert by_line(records, 12) == record(
        10,
        12,
        service_name="whois++",
        port="63",
        port_low=63,
        port_high=63,
        transport="tcp",
        description="whois++",
        assignee="[Rickard_Schoultz]",
        contact="[Rickard_Schoultz]",
        assignment_notes=(
            'This entry is an alias to "whoispp".\n'
            "This entry is now historic, not usable for use with many\n"
            "common service discovery mechanisms."
        ),
    )


def test_blank_line_inside_quoted_field_is_kept(records):
    assert by_line(records, 18)["assignment_notes"] == (
        'This is a duplicate of the "http" service and should not be used for discovery purposes.\n'
        "\n"
        "Defined TXT keys: u=<username> p=<password> path=<path to document>"
    )
    # The row after it still starts on the right line.
    assert by_line(records, 21)["id"] == 15


def test_range_with_empty_transport(records):
    assert by_line(records, 28) == record(22, 28, port="272-279", port_low=272, port_high=279, description="Unassigned")


def test_single_port_written_as_range(records):
    assert by_line(records, 34) == record(
        28, 34, port="4748-4748", port_low=4748, port_high=4748, description="Unassigned"
    )


def test_range_with_transport_and_unauthorized_use(records):
    assert by_line(records, 35) == record(
        29,
        35,
        service_name="x11",
        port="6000-6063",
        port_low=6000,
        port_high=6063,
        transport="tcp",
        description="X Window System",
        assignee="[Stephen_Gildea]",
        contact="[Stephen_Gildea]",
        unauthorized_use="Known Unauthorized Use on port 6003",
    )


def test_name_without_port_or_transport(records):
    assert by_line(records, 37) == record(31, 37, service_name="arp", description="Address Resolution Protocol")


def test_name_without_port_with_transport(records):
    assert by_line(records, 38) == record(
        32,
        38,
        service_name="ssh",
        transport="tcp",
        description="SSH Remote Login Protocol",
        assignee="[Tatu_Ylonen]",
        contact="[Tatu_Ylonen]",
        assignment_notes="Defined TXT keys:  u=<username> p=<password>",
    )


def test_year_month_date(records):
    assert by_line(records, 30) == record(
        24,
        30,
        service_name="oob-ws-http",
        port="623",
        port_low=623,
        port_high=623,
        transport="tcp",
        description="DMTF out-of-band web services management protocol",
        assignee="[Jim_Davis]",
        contact="[Jim_Davis]",
        registration_date="2007-06",
    )
    assert by_line(records, 32)["modification_date"] == "2004-02"


def test_nameless_state_rows(records):
    assert by_line(records, 29) == record(
        23,
        29,
        port="585",
        port_low=585,
        port_high=585,
        description="De-registered",
        modification_date="2006-04-25",
        assignment_notes="Use of 585 is not recommended, use 993 instead",
    )
    assert by_line(records, 2) == record(
        1,
        2,
        port="0",
        port_low=0,
        port_high=0,
        transport="tcp",
        description="Reserved",
        modification_date="2024-12-20",
        reference="[RFC6335]",
    )
    assert [r["description"] for r in records if r["service_name"] is None] == [
        "Reserved",
        "Reserved",
        "Unassigned [was netstat]",
        "any private mail system",
        "unassigned",
        "Unassigned",
        "De-registered",
        "Removed",
        "Deprecated",
        "Reserved - IANA",
        "Unassigned",
    ]


def test_service_code_and_draft_and_url_references(records):
    assert by_line(records, 4) == record(
        3,
        4,
        service_name="discard",
        port="9",
        port_low=9,
        port_high=9,
        transport="dccp",
        description="Discard",
        assignee="[Eddie_Kohler]",
        contact="[Eddie_Kohler]",
        reference="[RFC4340]",
        service_code="1145656131",
    )
    assert by_line(records, 9)["reference"] == "[RFC-ietf-emailcore-rfc5321bis-43]"
    assert by_line(records, 23)["reference"] == "[RFC3501][RFC9051]"
    assert by_line(records, 36)["reference"] == "[https://xahau.network]"


def test_names_kept_as_written(records):
    # Case and RFC 6335-breaking characters survive; matching is the model's job.
    assert [r["service_name"] for r in records if r["line"] in (15, 24, 25, 26, 27)] == [
        "sql*net",
        "cl/1",
        "z39.50",
        "CAIlic",
        "subntbcst_tftp",
    ]


def test_several_rows_per_port(records):
    assert [(r["service_name"], r["transport"]) for r in records if r["port"] == "80"] == [
        ("http", "tcp"),
        ("www", "tcp"),
        ("www-http", "tcp"),
        ("http", "sctp"),
    ]


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param(lambda b: b"\xef\xbb\xbf" + b, id="bom"),
        pytest.param(lambda b: b.replace(b"\n", b"\r\n"), id="crlf"),
        pytest.param(lambda b: b"\xef\xbb\xbf" + b.replace(b"\n", b"\r\n"), id="bom+crlf"),
    ],
)
def test_encoding_variants_give_identical_records(quirks_bytes, records, variant):
    assert parse(decode(variant(quirks_bytes))) == records


def test_bom_left_in_text_is_ignored(quirks_bytes, records):
    assert parse("\ufeff" + quirks_bytes.decode()) == records


def test_full_snapshot_crlf_bom_matches_lf(snapshot_2026):
    data = snapshot_2026.read_bytes()
    lf = parse(decode(data))
    assert len(lf) == 14500
    assert parse(decode(b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"))) == lf


# --- bad input: one IngestError per class, with a message naming the problem.


def fails(text_or_bytes) -> str:
    with pytest.raises(IngestError) as exc:
        if isinstance(text_or_bytes, bytes):
            parse(decode(text_or_bytes))
        else:
            parse(text_or_bytes)
    return str(exc.value)


def quirks_with(old: str, new: str) -> tuple[str, int]:
    text = QUIRKS.read_text()
    assert text.count(old) == 1
    return text.replace(old, new), line_of(text, old)


@pytest.mark.parametrize("text", ["", "\n\n", "   \r\n"])
def test_empty(text):
    assert fails(text) == "not a registry CSV: the file is empty"


def test_header_only():
    assert fails(HEADER_LINE + "\n") == "not a registry CSV: a header but no data rows"


def test_wrong_header():
    text = QUIRKS.read_text().replace("Transport Protocol", "Protocol", 1)
    assert fails(text) == (
        "not a registry CSV: line 1 must be the 12 registry columns, got "
        "'Service Name,Port Number,Protocol,Description,Assignee,Contact,Registration Date'"
    )


def test_header_missing_a_column():
    text = QUIRKS.read_text().replace(",Assignment Notes", "", 1)
    assert fails(text).startswith("not a registry CSV: line 1 must be the 12 registry columns")


def test_html_instead_of_csv():
    assert fails(b"<!DOCTYPE html>\n<html><body>Not here</body></html>\n") == (
        "not a registry CSV: line 1 must be the 12 registry columns, got '<!DOCTYPE html>'"
    )


def test_binary_with_nul_bytes():
    assert fails(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == ("not a registry CSV: the file is binary (NUL bytes)")


def test_invalid_utf8():
    data = QUIRKS.read_bytes().replace(b"Int'l", b"Int\xe9l")
    at = data.index(b"\xe9")
    assert fails(data) == f"not a registry CSV: invalid UTF-8 at byte {at}"


def test_wrong_column_count():
    text, line = quirks_with("arp,,,Address", "arp,,Address")
    assert fails(text) == f"line {line}: expected 12 columns, got 11"


def test_truncated_inside_quoted_field():
    text = QUIRKS.read_text()
    start = text.index("whois++,63,tcp,whois++")
    cut = text[: text.index("now historic", start)]
    assert fails(cut) == (
        f"line {line_of(text, 'whois++,63,tcp,whois++')}: truncated inside a quoted field "
        "(the file ends before its closing quote)"
    )


def test_text_after_closing_quote():
    text, line = quirks_with('"This entry is an alias to ""sql-net""."', '"alias"x')
    assert fails(text) == f"line {line}: malformed CSV (',' expected after '\"')"


@pytest.mark.parametrize(
    "port, problem",
    [
        ("twenty-two", "not a port or range: 'twenty-two'"),
        ("22x", "not a port or range: '22x'"),
        ("-22", "not a port or range: '-22'"),
        ("1-2-3", "not a port or range: '1-2-3'"),
        ("٢٢", "not a port or range: '٢٢'"),
        ("123456", "not a port or range: '123456'"),
        ("65536", "'65536' is above 65535"),
        ("6000-70000", "'6000-70000' is above 65535"),
        ("6063-6000", "range '6063-6000' has low > high"),
    ],
)
def test_bad_port(port, problem):
    text, line = quirks_with("x11,6000-6063,tcp", f"x11,{port},tcp")
    assert fails(text) == f"line {line}, column 'Port Number': {problem}"


def test_unknown_transport():
    text, line = quirks_with("imap,143,tcp", "imap,143,tcpip")
    assert fails(text) == f"line {line}, column 'Transport Protocol': unknown transport 'tcpip'"


@pytest.mark.parametrize("date", ["2007-13", "2007/06/01", "07-06-01", "2007-06-32", "June 2007"])
def test_bad_date(date):
    text, line = quirks_with("[Jim_Davis],2007-06,", f"[Jim_Davis],{date},")
    assert fails(text) == (f"line {line}, column 'Registration Date': not a YYYY-MM-DD or YYYY-MM date: {date!r}")


# --- every row validated whole: what the real registry never holds is refused with its line.


def test_no_final_line_end_is_a_cut():
    # A body cut inside its last (unquoted) field: "...ZigBeeNetworkDevices" 11 bytes short.
    text = QUIRKS.read_text()
    cut = text[:-11]
    assert not cut.endswith("\n")
    line = text.count("\n")
    assert fails(cut) == f"line {line}: the last row has no line end (the file looks cut short)"


def test_nul_past_the_first_64_kib(snapshot_2026):
    data = snapshot_2026.read_bytes()
    at = data.index(b"\n", 200_000) + 1  # a row well past 64 KiB
    bad = data[: at + 5] + b"\x00" + data[at + 5 :]
    line = data[:at].count(b"\n") + 1
    assert fails(bad) == f"line {line}: control character U+0000 (the registry has none)"


@pytest.mark.parametrize("char", ["\t", "\r", "\x1b", "\x7f", "\x85"])
def test_control_characters_anywhere(char):
    text, line = quirks_with("imap,143,tcp,Internet Message", f"imap,143,tcp,Internet{char}Message")
    assert fails(text) == f"line {line}: control character U+{ord(char):04X} (the registry has none)"


def test_a_control_character_in_a_name():
    text, line = quirks_with("\nimap,143,tcp", "\nim\tap,143,tcp")
    assert fails(text) == f"line {line + 1}: control character U+0009 (the registry has none)"


def test_a_date_after_the_fetch_is_refused():
    text, line = quirks_with("[Jim_Davis],2007-06,", "[Jim_Davis],2099-12-31,")
    before = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    message = fails(text)
    after = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    assert message in {
        f"line {line}, column 'Registration Date': 2099-12-31 is after the day the file was fetched ({d})"
        for d in (before, after)
    }
    with pytest.raises(IngestError) as exc:
        parse(text, today="2026-02-25")
    assert str(exc.value) == (
        f"line {line}, column 'Registration Date': 2099-12-31 is after the day the file was fetched (2026-02-25)"
    )


def test_dates_up_to_the_fetch_day_pass(snapshot_2026):
    # The snapshot's newest date is the day it was fetched, and a month is not after its own days.
    assert len(parse(decode(snapshot_2026.read_bytes()), today="2026-02-25")) == 14500
    text, _ = quirks_with("[Jim_Davis],2007-06,", "[Jim_Davis],2026-02,")
    assert len(parse(text, today="2026-02-01")) == 32


def test_a_day_that_is_not_in_the_calendar():
    text, line = quirks_with("[Jim_Davis],2007-06,", "[Jim_Davis],2025-02-30,")
    assert fails(text) == f"line {line}, column 'Registration Date': not a YYYY-MM-DD or YYYY-MM date: '2025-02-30'"


def test_every_real_name_fits_the_name_rule(snapshot_2025, snapshot_2026):
    # The legacy shapes allowed are exactly those of the real registry: _ . / + *.
    for snapshot in (snapshot_2025, snapshot_2026):
        names = {r["service_name"] for r in parse(decode(snapshot.read_bytes())) if r["service_name"]}
        assert {c for n in names for c in n if not c.isalnum()} == {"-", "_", ".", "/", "+", "*"}


@pytest.mark.parametrize(
    "name, given",
    [
        ("x" * 10_000, "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'... (10000 characters)"),
        ("sixteen-letters1", "'sixteen-letters1'"),
        ("bad name", "'bad name'"),
        ("-imap", "'-imap'"),
        ("imap-", "'imap-'"),
        ("im--ap", "'im--ap'"),
        ("_imap", "'_imap'"),
        ("1234", "'1234'"),
        ("im#ap", "'im#ap'"),
        ("imäp", "'imäp'"),
    ],
)
def test_names_outside_rfc6335_and_the_legacy_shapes(name, given):
    text, line = quirks_with("\nimap,143,tcp", f"\n{name},143,tcp")
    assert fails(text) == (
        f"line {line + 1}, column 'Service Name': {given} is not a service name "
        "(RFC 6335: up to 15 letters, digits and hyphens; the registry's older names also use _ . / + *)"
    )


def test_a_nameless_row_without_description():
    text, line = quirks_with(",1109,,Reserved - IANA,", ",1109,,,")
    assert fails(text) == f"line {line}: a row without a service name must have a description"


@pytest.mark.parametrize(
    "field, column, cap", [("Description", 3, 1024), ("Assignee", 4, 256), ("Assignment Notes", 11, 8192)]
)
def test_over_long_fields(field, column, cap):
    cells = ["imap", "143", "tcp", "IMAP", "", "", "", "", "", "", "", ""]
    cells[column] = "y" * (cap + 1)
    text = HEADER_LINE + "\n" + ",".join(cells) + "\n"
    assert fails(text) == f"line 2, column {field!r}: {cap + 1} characters, over the {cap}-character limit"
    cells[column] = "y" * cap
    assert len(parse(HEADER_LINE + "\n" + ",".join(cells) + "\n")) == 1


def test_a_line_break_in_a_one_line_field():
    text, line = quirks_with("[Kevin_DeVault],[Kevin_DeVault]", '"[Kevin\nDeVault]",[Kevin_DeVault]')
    assert fails(text) == f"line {line}, column 'Assignee': a line break in a one-line field"


def test_exact_duplicate_rows():
    text = QUIRKS.read_text()
    row = "cl/1,172,udp,Network Innovations CL/1,[Kevin_DeVault],[Kevin_DeVault],,,,,,\n"
    first = line_of(text, row)
    doubled = text + row * 100
    line = text.count("\n") + 1
    assert fails(doubled) == f"line {line}: the same row as line {first} (an exact duplicate)"


# --- fuzzed rows: whatever a field holds, parse() accepts the row or raises IngestError
# with a line, and what it accepts the model builds without an exception.

FIELD_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list('abcXYZ019-_./+*# ,"\n\t\r\x00\x1b\x85é')),
        st.characters(codec="utf-8"),
    ),
    max_size=24,
)
PORT_TEXT = st.one_of(st.sampled_from(["", "22", "1-2", "65535", "65536", "9-3", " 80 "]), FIELD_TEXT)
DATE_TEXT = st.one_of(st.sampled_from(["", "2007-06", "2025-02-30", "2099-12-31", "2026-02-25"]), FIELD_TEXT)


# Each column's real shapes; a row fuzzes at most one column, so most rows are accepted.
REAL_CELLS = [
    ["ssh", "whois++", "sql*net", "subntbcst_tftp", "x11", ""],
    ["22", "6000-6063", "", "0", "65535"],
    ["tcp", "udp", "sctp", "dccp", ""],
    ["Reserved", "Unassigned", "The Secure Shell", "whois++\nIANA assigned this name"],
    ["", "[IESG]"],
    ["", "[IETF_Chair]"],
    ["", "2007-06", "2026-02-25"],
    ["", "2021-10-01"],
    ["", "[RFC9110]", "[RFC1]\n[RFC2]"],
    ["", "1145656131"],
    ["", "Known Unauthorized Use on port 6003"],
    ["", "Defined TXT keys: u=<username>", "two\nlines"],
]


@st.composite
def rows(draw):
    cells = [draw(st.sampled_from(real)) for real in REAL_CELLS]
    fuzzed = draw(st.one_of(st.none(), st.integers(0, len(FIELDS) - 1)))
    if fuzzed is not None:
        cells[fuzzed] = draw({1: PORT_TEXT, 6: DATE_TEXT, 7: DATE_TEXT}.get(fuzzed, FIELD_TEXT))
    return cells


# Few examples: each accepted one builds the whole 65,536-port space.
@settings(max_examples=120, deadline=None)
@given(body=st.lists(rows(), min_size=1, max_size=6))
@pytest.mark.slow
def test_fuzzed_rows_are_accepted_whole_or_refused_with_a_line(body):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([list(HEADER), *body])
    try:
        records = parse(out.getvalue(), today="2026-02-25")
    except IngestError as exc:
        message = str(exc)
        assert message.startswith(("line ", "not a registry CSV: ")) and "\n" not in message
        return
    model.port_space(records)
    model.services(records)
    model.references(records)
    for rec in records:
        for field in FIELDS:
            assert rec[field] is None or not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]", rec[field])
        assert max(rec["registration_date"] or "", rec["modification_date"] or "") <= "2026-02-25"
