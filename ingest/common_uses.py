"""curated/common_uses.csv -> validated common-use entries. Pure apart from reading the file.

The file is the project's own dataset (not IANA's): which software uses
which port by default, each row citing that software's documentation. A bad
row fails the whole build with the file's line number, like a bad registry
row does.
"""

import csv
import hashlib
import io
from pathlib import Path
from urllib.parse import urlsplit

from iana_ports.facts import CATEGORIES, COMMON_USES_HEADER, DAY_RE, TRANSPORTS, USE_KINDS

from .errors import IngestError
from .parse import port_range


def read(path: Path) -> tuple[list[dict], str]:
    """(entries, sha256 of the file) for `path`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{path}: invalid UTF-8 at byte {exc.start}") from None
    return parse(text, str(path)), hashlib.sha256(data).hexdigest()


def parse(text: str, name: str = "common_uses.csv") -> list[dict]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or tuple(header) != COMMON_USES_HEADER:
            raise IngestError(f"{name}: line 1 must be the header {','.join(COMMON_USES_HEADER)}")
        entries, seen, previous = [], {}, None
        line = reader.line_num + 1
        for row in reader:
            if row:
                entry = _entry(row, line, name)
                key = (entry["first"], entry["last"], entry["software"].lower(), entry["description"].lower())
                if key in seen:
                    raise IngestError(f"{name}: line {line}: duplicates line {seen[key]}")
                # Sorted by port, then software, so a reader (and a diff) finds a port's rows together.
                if previous is not None and (key[0], key[2]) < (previous[0], previous[2]):
                    raise IngestError(f"{name}: line {line}: out of order (the file is sorted by port, then software)")
                seen[key], previous = line, key
                entry["id"] = len(entries) + 1
                entries.append(entry)
            line = reader.line_num + 1
    except csv.Error as exc:
        raise IngestError(f"{name}: line {line}: malformed CSV ({exc})") from None
    return entries


def _entry(row: list[str], line: int, name: str) -> dict:
    where = f"{name}: line {line}"
    if len(row) != len(COMMON_USES_HEADER):
        raise IngestError(f"{where}: expected {len(COMMON_USES_HEADER)} columns, got {len(row)}")
    port, transports, software, kind, description, category, source, checked = (v.strip() for v in row)
    try:
        first, last = port_range(port, line)
    except IngestError:
        raise IngestError(f"{where}: port must be a number or LOW-HIGH within 0-65535, got {port!r}") from None
    if first is None:
        raise IngestError(f"{where}: the port is empty")
    listed = transports.split()
    if not listed or any(t not in TRANSPORTS for t in listed) or len(set(listed)) != len(listed):
        raise IngestError(f"{where}: transports must be some of {', '.join(TRANSPORTS)}, got {transports!r}")
    if not software or not description:
        raise IngestError(f"{where}: software and description must not be empty")
    if kind not in USE_KINDS:
        raise IngestError(f"{where}: kind must be one of {', '.join(USE_KINDS)}, got {kind!r}")
    if not DAY_RE.fullmatch(checked):
        raise IngestError(f"{where}: checked must be the date the source was read, YYYY-MM-DD, got {checked!r}")
    if category not in CATEGORIES:
        raise IngestError(f"{where}: unknown category {category!r}")
    parts = urlsplit(source)
    if parts.scheme != "https" or not parts.netloc:
        raise IngestError(f"{where}: source must be an https URL, got {source!r}")
    return {
        "first": first,
        "last": last,
        "transports": [t for t in TRANSPORTS if t in listed],
        "software": software,
        "kind": kind,
        "description": description,
        "category": category,
        "source": source,
        "checked": checked,
        "line": line,
    }


def sources(entries: list[dict]) -> list[str]:
    """One line per source URL, oldest reading first, for the yearly recheck (make check-sources):
    when it was read, the URL, and what the project took from it."""
    by_url: dict[str, dict] = {}
    for e in entries:
        seen = by_url.setdefault(e["source"], {"checked": e["checked"], "what": []})
        seen["checked"] = min(seen["checked"], e["checked"])
        where = str(e["first"]) if e["first"] == e["last"] else f"{e['first']}-{e['last']}"
        label = f"{e['software']} {where}"
        if label not in seen["what"]:
            seen["what"].append(label)
    rows = sorted(by_url.items(), key=lambda item: (item[1]["checked"], item[0]))
    return [f"{v['checked']}  {url}  ({', '.join(v['what'])})" for url, v in rows]


if __name__ == "__main__":
    import sys

    from iana_ports.facts import COMMON_USES_CSV

    try:
        found, _ = read(COMMON_USES_CSV)
    except IngestError as exc:
        sys.exit(f"error: {exc}")
    print("\n".join(sources(found)))
