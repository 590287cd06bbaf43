"""Registry CSV text -> registration records. Pure: no I/O, no database.

Every row is validated whole, against what the real registry holds (measured
on the 2025-03-28 and 2026-02-25 snapshots; README "Keeping the data fresh"):
no control character anywhere but the line ends of the three multi-line
fields, no date after the day the file was fetched, service names of the
shapes the registry uses, no field far longer than the registry's longest,
no row twice. A failure names the line.
"""

import csv
import datetime
import io
import re
import sys
from operator import gt, itemgetter

from iana_ports.facts import CSV_HEADER, DATE_RE, FIELDS, MAX_PORT, PORT_RANGE_RE, TRANSPORTS

from .errors import IngestError

# C0 and C1 controls and DEL; LF is checked per field (multi-line fields only).
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
# RFC 6335 5.1 (letters, digits, single inner hyphens, a letter) widened by
# exactly the legacy shapes of the real registry: "_" between letters or
# digits (subntbcst_tftp, 92 names) and ".", "/", "+", "*" (z39.50, cl/1,
# whois++, sql*net, 8 names). Never a blank, a control or a 16th character.
MAX_NAME = 15
# The two names the registry held that are no service names at all (3283 and 3679, tcp and
# udp, until 2024-12; the monthly files in ../shared/data/iana/xml/history/): read as given.
LEGACY_NAMES = frozenset({"Apple Remote Desktop (Net Assistant)", "Escale (Newton Dock)"})
_NAME_RE = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9](?:[-_]?[A-Za-z0-9]|[./+*])*")
# About four times the longest value of each free-text field in the real
# registry (in brackets): room to grow, none for a runaway field.
MAX_CHARS = {
    "description": 1024,  # [255]
    "assignee": 256,  # [53]
    "contact": 256,  # [57]
    "reference": 2048,  # [467]
    "service_code": 64,  # [10]
    "unauthorized_use": 256,  # [63]
    "assignment_notes": 8192,  # [1532]
}
# The only fields whose real values hold line breaks.
MULTILINE = frozenset({"description", "reference", "assignment_notes"})
# Per CSV column; the name, port, transport and dates have rules of their own.
_CAPS = tuple(MAX_CHARS.get(f, sys.maxsize) for f in FIELDS)
_ONE_LINE = tuple(i for i, f in enumerate(FIELDS) if f in MAX_CHARS and f not in MULTILINE)


def decode(data: bytes) -> str:
    """Bytes as IANA serves them -> text; a BOM is dropped, invalid UTF-8 is an error."""
    if b"\x00" in data[:65536]:
        raise IngestError("not a registry CSV: the file is binary (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"not a registry CSV: invalid UTF-8 at byte {exc.start}") from None


def check_header(first_line: str) -> None:
    """Raise unless `first_line` is exactly the registry's 12-column header."""
    try:
        header = next(csv.reader([first_line]))
    except (csv.Error, StopIteration):
        header = []
    if tuple(header) != CSV_HEADER:
        got = first_line.strip()[:80] or "(empty)"
        raise IngestError(f"not a registry CSV: line 1 must be the 12 registry columns, got {got!r}")


def port_range(text: str, line: int) -> tuple[int | None, int | None]:
    """'22' -> (22, 22); '6000-6063' -> (6000, 6063); '' -> (None, None)."""
    if text == "":
        return None, None
    # The common case, without the regex; isdigit() alone would take other scripts' digits ("٢٢").
    if text.isascii() and text.isdigit() and len(text) <= 5 and (text[0] != "0" or text == "0"):
        low = int(text)
        if low > MAX_PORT:
            raise IngestError(f"line {line}, column 'Port Number': {text!r} is above {MAX_PORT}")
        return low, low
    m = PORT_RANGE_RE.fullmatch(text)
    if not m:
        raise IngestError(f"line {line}, column 'Port Number': not a port or range: {text!r}")
    low = int(m.group(1))
    high = int(m.group(2)) if m.group(2) is not None else low
    if high > MAX_PORT:
        raise IngestError(f"line {line}, column 'Port Number': {text!r} is above {MAX_PORT}")
    if low > high:
        raise IngestError(f"line {line}, column 'Port Number': range {text!r} has low > high")
    return low, high


def parse_date(text: str, line: int, column: str, today: str = "9999-12-31") -> str | None:
    """'2007-06-01' or '2007-06' (as given), None for ''; never after `today` (YYYY-MM-DD)."""
    if text == "":
        return None
    if not DATE_RE.fullmatch(text) or not _calendar_date(text):
        raise IngestError(f"line {line}, column {column!r}: not a YYYY-MM-DD or YYYY-MM date: {text!r}")
    # A YYYY-MM prefix sorts before every day of its month.
    if text > today:
        raise IngestError(f"line {line}, column {column!r}: {text} is after the day the file was fetched ({today})")
    return text


def _calendar_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text if len(text) == 10 else text + "-01")
    except ValueError:
        return False
    return True


def shown(text: str, limit: int = 40) -> str:
    """repr() of at most `limit` characters of `text`: an error line stays one short line."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"


def parse(text: str, today: str | None = None) -> list[dict]:
    """Registry CSV text -> one record per data row, in file order.

    Each record has the FIELDS columns (empty strings become None, except
    the raw port text) plus `id` (1-based row number), `line` (the CSV line
    the row starts on), `port_low` and `port_high`. `today` (YYYY-MM-DD,
    default: today in UTC) is the day the file was fetched: no date may be
    after it.
    """
    today = today or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    # IANA serves CRLF in some copies, LF in others, also inside multi-line
    # fields; both must give the same records.
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if not text.strip():
        raise IngestError("not a registry CSV: the file is empty")
    check_header(text.split("\n", 1)[0])
    _check_controls(text)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next(reader)
    records = []
    seen: dict[tuple, int] = {}
    line = reader.line_num + 1
    try:
        for row in reader:
            if not row:
                line = reader.line_num + 1
                continue
            if len(row) != len(CSV_HEADER):
                raise IngestError(f"line {line}: expected {len(CSV_HEADER)} columns, got {len(row)}")
            rec = _record(row, len(records) + 1, line, today)
            key = tuple(row)  # as _record() normalised it: a blank or case in the transport is no difference
            if key in seen:
                raise IngestError(f"line {line}: the same row as line {seen[key]} (an exact duplicate)")
            seen[key] = line
            records.append(rec)
            line = reader.line_num + 1
    except csv.Error as exc:
        if str(exc) == "unexpected end of data":
            raise IngestError(
                f"line {line}: truncated inside a quoted field (the file ends before its closing quote)"
            ) from None
        raise IngestError(f"line {line}: malformed CSV ({exc})") from None
    if not records:
        raise IngestError("not a registry CSV: a header but no data rows")
    if not text.endswith("\n"):
        # Every row of the registry ends with a line end: a body cut inside
        # its last field (an unquoted one) looks complete otherwise.
        raise IngestError(f"line {records[-1]['line']}: the last row has no line end (the file looks cut short)")
    return records


def _check_controls(text: str) -> None:
    """Refuse any control character but LF, anywhere in the file (the registry has none)."""
    m = _CONTROL_RE.search(text)
    if m:
        line = text.count("\n", 0, m.start()) + 1
        raise IngestError(f"line {line}: control character U+{ord(m.group()):04X} (the registry has none)")


def _record(row: list[str], row_id: int, line: int, today: str) -> dict:
    row[0], port, given = row[0].strip(), row[1].strip(), row[2].strip()
    transport = row[2] = given.lower()
    if transport and transport not in TRANSPORTS:
        raise IngestError(f"line {line}, column 'Transport Protocol': unknown transport {shown(given)}")
    rec = dict(zip(FIELDS, [v or None for v in row]))
    rec["port"] = port
    rec["port_low"], rec["port_high"] = port_range(port, line)
    rec["registration_date"] = parse_date(row[6], line, "Registration Date", today)
    rec["modification_date"] = parse_date(row[7], line, "Modification Date", today)
    _check_text(row, rec, line)
    rec["id"] = row_id
    rec["line"] = line
    return rec


def _check_text(row: list[str], rec: dict, line: int) -> None:
    name = rec["service_name"]
    if name and (len(name) > MAX_NAME or not _NAME_RE.fullmatch(name)) and name not in LEGACY_NAMES:
        raise IngestError(
            f"line {line}, column 'Service Name': {shown(name)} is not a service name "
            f"(RFC 6335: up to {MAX_NAME} letters, digits and hyphens; the registry's older names also use _ . / + *)"
        )
    if not name and not rec["description"]:
        # The description is what a nameless row says (Unassigned, Reserved, ...).
        raise IngestError(f"line {line}: a row without a service name must have a description")
    # Whole rows at C speed first: almost every row passes both.
    if any(map(gt, map(len, row), _CAPS)):
        i = next(i for i, (v, cap) in enumerate(zip(row, _CAPS)) if len(v) > cap)
        raise IngestError(
            f"line {line}, column {CSV_HEADER[i]!r}: {len(row[i])} characters, over the {_CAPS[i]}-character limit"
        )
    if "\n" in "".join(itemgetter(*_ONE_LINE)(row)):
        i = next(i for i in _ONE_LINE if "\n" in row[i])
        raise IngestError(f"line {line}, column {CSV_HEADER[i]!r}: a line break in a one-line field")
