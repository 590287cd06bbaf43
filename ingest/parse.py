"""Registry CSV text -> registration records. Pure: no I/O, no database."""

import csv
import io
import re

from iana_ports.facts import CSV_HEADER, FIELDS, MAX_PORT, TRANSPORTS

from .errors import IngestError

# [0-9], not \d: int() would accept other scripts' digits such as "٢٢".
_PORT_RE = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?")
_DATE_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12][0-9]|3[01]))?")


def decode(data: bytes) -> str:
    """Bytes as IANA serves them -> text; a BOM is dropped, invalid UTF-8 is an error."""
    if b"\x00" in data[:65536]:
        raise IngestError("not a registry CSV: the file is binary (NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"not a registry CSV: invalid UTF-8 at byte {exc.start}"
        ) from None


def check_header(first_line: str) -> None:
    """Raise unless `first_line` is exactly the registry's 12-column header."""
    try:
        header = next(csv.reader([first_line]))
    except (csv.Error, StopIteration):
        header = []
    if tuple(header) != CSV_HEADER:
        shown = first_line.strip()[:80] or "(empty)"
        raise IngestError(
            f"not a registry CSV: line 1 must be the 12 registry columns, got {shown!r}"
        )


def port_range(text: str, line: int) -> tuple[int | None, int | None]:
    """'22' -> (22, 22); '6000-6063' -> (6000, 6063); '' -> (None, None)."""
    if text == "":
        return None, None
    if text.isascii() and text.isdigit() and len(text) <= 5:
        low = int(text)  # the common case, without the regex
        if low > MAX_PORT:
            raise IngestError(f"line {line}, column 'Port Number': {text!r} is above {MAX_PORT}")
        return low, low
    m = _PORT_RE.fullmatch(text)
    if not m:
        raise IngestError(f"line {line}, column 'Port Number': not a port or range: {text!r}")
    low = int(m.group(1))
    high = int(m.group(2)) if m.group(2) is not None else low
    if high > MAX_PORT:
        raise IngestError(f"line {line}, column 'Port Number': {text!r} is above {MAX_PORT}")
    if low > high:
        raise IngestError(f"line {line}, column 'Port Number': range {text!r} has low > high")
    return low, high


def parse_date(text: str, line: int, column: str) -> str | None:
    if text == "":
        return None
    if not _DATE_RE.fullmatch(text):
        raise IngestError(f"line {line}, column {column!r}: not a YYYY-MM-DD or YYYY-MM date: {text!r}")
    return text


def parse(text: str) -> list[dict]:
    """Registry CSV text -> one record per data row, in file order.

    Each record has the FIELDS columns (empty strings become None, except
    the raw port text) plus `id` (1-based row number), `line` (the CSV line
    the row starts on), `port_low` and `port_high`.
    """
    # IANA serves CRLF in some copies, LF in others, also inside multi-line
    # fields; both must give the same records.
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    if not text.strip():
        raise IngestError("not a registry CSV: the file is empty")
    check_header(text.split("\n", 1)[0])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next(reader)
    records = []
    line = reader.line_num + 1
    try:
        for row in reader:
            if not row:
                line = reader.line_num + 1
                continue
            if len(row) != len(CSV_HEADER):
                raise IngestError(
                    f"line {line}: expected {len(CSV_HEADER)} columns, got {len(row)}"
                )
            records.append(_record(row, len(records) + 1, line))
            line = reader.line_num + 1
    except csv.Error as exc:
        if str(exc) == "unexpected end of data":
            raise IngestError(
                f"line {line}: truncated inside a quoted field (the file ends before its closing quote)"
            ) from None
        raise IngestError(f"line {line}: malformed CSV ({exc})") from None
    if not records:
        raise IngestError("not a registry CSV: a header but no data rows")
    return records


def _record(row: list[str], row_id: int, line: int) -> dict:
    row[0], port, shown = row[0].strip(), row[1].strip(), row[2].strip()
    transport = row[2] = shown.lower()
    if transport and transport not in TRANSPORTS:
        raise IngestError(
            f"line {line}, column 'Transport Protocol': unknown transport {shown!r}"
        )
    rec = dict(zip(FIELDS, [v or None for v in row]))
    rec["port"] = port
    rec["port_low"], rec["port_high"] = port_range(port, line)
    rec["registration_date"] = parse_date(row[6], line, "Registration Date")
    rec["modification_date"] = parse_date(row[7], line, "Modification Date")
    rec["id"] = row_id
    rec["line"] = line
    return rec
