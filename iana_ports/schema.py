"""Every table of a build: columns with types and descriptions, keys, indexes, facets.

ingest/build.py creates the tables from these definitions; the web front
describes them to Datasette from the same definitions, so a column's type,
its index and its documentation cannot drift apart.
"""

from dataclasses import dataclass

from .facts import FIELDS, OS_EPHEMERAL, TRANSPORTS

# Bumped whenever the layout changes (tables, columns, indexes); part of the build version
# every `ingests` row keeps (ingest/version.py), with a digest of the rules' code.
LAYOUT_VERSION = 8


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: dict  # column -> (Python type, description)
    pk: str | tuple
    indexes: tuple = ()
    foreign_keys: tuple = ()  # (column, other table, other column)
    fts: tuple = ()  # columns of the full-text index, when there is one
    facets: tuple = ()
    sort: str | None = None
    sort_desc: str | None = None

    @property
    def types(self) -> dict:
        return {c: t for c, (t, _) in self.columns.items()}

    @property
    def insert_sql(self) -> str:
        names = ", ".join(f'"{c}"' for c in self.columns)
        return f'INSERT INTO "{self.name}" ({names}) VALUES ({", ".join("?" * len(self.columns))})'


REGISTRATIONS = Table(
    "registrations",
    "One row per row of the registry CSV, as published.",
    {
        "id": (int, "Row number in the registry CSV (1 = first data row)"),
        "service_name": (str, "Service name as written in the registry; empty for Unassigned/Reserved rows"),
        "service_key": (str, "Service name lowercased (service names are case-insensitive)"),
        "port": (str, "Port Number column as written: empty, a number or a range LOW-HIGH"),
        "port_low": (int, "First port the row covers (empty when the row has no port)"),
        "port_high": (int, "Last port the row covers (equal to port_low for a single port)"),
        "transport": (
            str,
            "tcp, udp, sctp or dccp; empty on legacy named rows (meaning tcp and udp) and on state rows (all four)",
        ),
        "description": (str, "Description column"),
        "assignee": (str, "Assignee column (bracketed person or organisation ids)"),
        "contact": (str, "Contact column"),
        "registration_date": (str, "Registration Date (YYYY-MM-DD or YYYY-MM)"),
        "modification_date": (str, "Modification Date (YYYY-MM-DD or YYYY-MM)"),
        "reference": (str, "Reference column as written; parsed into the references table"),
        "service_code": (str, "Service Code column (DCCP service codes)"),
        "unauthorized_use": (str, "Unauthorized Use Reported column"),
        "assignment_notes": (str, "Assignment Notes column"),
        "line": (int, "Line of the CSV file the row starts on"),
    },
    pk="id",
    indexes=(("service_key",), ("port_low", "port_high"), ("transport",)),
    fts=("service_name", "description", "assignment_notes"),
    facets=("transport",),
    sort="id",
)
assert tuple(c for c in REGISTRATIONS.columns if c in FIELDS) == FIELDS

INGESTS = Table(
    "ingests",
    "Each import of the registry into this database.",
    {
        "id": (int, "Ingest number"),
        "source": (str, "URL the registry was read from, or the name of the local file"),
        "final_url": (str, "URL the download ended at after redirects (empty for a local file)"),
        "fetched_at": (str, "When it was read (UTC)"),
        "sha256": (str, "SHA-256 of the CSV bytes"),
        "bytes": (int, "Size of the CSV"),
        "etag": (str, "HTTP ETag of the download, if any"),
        "last_modified": (str, "HTTP Last-Modified of the download, if any"),
        "row_count": (int, "Registry rows read"),
        "newest_registration_date": (str, "Newest Registration Date in the registry"),
        "newest_modification_date": (str, "Newest Modification Date in the registry"),
        "registry_updated": (
            str,
            "The registry's own date (the XML's <updated>); empty for a CSV, which carries none",
        ),
        "registry_date": (
            str,
            "The registry version's date, worked out once at build time: registry_updated when known, "
            "else the newest registration or modification date",
        ),
        "common_uses_sha256": (str, "SHA-256 of the project's common-uses file built alongside (not from IANA)"),
        "build_version": (str, "The layout's version and a digest of the rules' code the build was made with"),
    },
    pk="id",
)

PORTS = Table(
    "ports",
    "All 65,536 ports with their status per transport, worked out from the registrations.",
    {
        "port": (int, "Port number, 0-65535"),
        "status": (str, "assigned if any transport is assigned, else reserved if any is reserved, else unassigned"),
        **{t: (str, f"Status for {t.upper()} (assigned, reserved or unassigned)") for t in TRANSPORTS},
        "services": (str, "JSON list of the service names assigned on this port, any transport"),
        "registry_words": (
            str,
            "What the registry's nameless rows say about the port (e.g. Reserved) when it is not assigned",
        ),
        "range": (str, "RFC 6335 range name (System Ports, User Ports, Dynamic Ports)"),
        "range_common_name": (str, "Everyday name of the range"),
        "listed": (int, "1 if any registry row covers the port"),
        **{
            o["os"]: (int, f"1 if inside {o['label']}'s default ephemeral range ({o['first']}-{o['last']})")
            for o in OS_EPHEMERAL
        },
        "browser_blocked": (int, "1 if browsers refuse to connect to it (the Fetch standard's bad ports)"),
        "verdict": (
            str,
            "Using it for your own tcp/udp service on Linux, Windows and macOS: good, caution or avoid "
            "(the project's reading, not IANA's)",
        ),
    },
    pk="port",
    # Datasette's table page filters on status and range, pages by port and counts the
    # rows: in an index on (range, status) the rows of one pair lie in port order (the
    # rowid), so a page is a range search and the count an index scan, never a table scan.
    indexes=(("status", "range"), ("range", "status"), ("tcp",), ("udp",), ("verdict",)),
    # No facets computed on every page: each counts tens of thousands of rows and
    # mostly restates the filter just applied (the home page shows these counts);
    # Datasette's column menus still facet on any column when asked.
)

RANGES = Table(
    "ranges",
    "The three port ranges of RFC 6335 section 6.",
    {
        "name": (str, "RFC 6335 name"),
        "common_name": (str, "Everyday name"),
        "first": (int, "First port"),
        "last": (int, "Last port"),
        "size": (int, "Number of ports"),
        "assignment": (str, "How IANA assigns ports in the range"),
        "explanation": (str, "What the range means in practice"),
    },
    pk="name",
)

OS_EPHEMERAL_RANGES = Table(
    "os_ephemeral_ranges",
    "Default ephemeral (client source) port ranges of common operating systems.",
    {
        "os": (str, "Short id of the operating system"),
        "label": (str, "Operating system"),
        "first": (int, "First port of the default range"),
        "last": (int, "Last port of the default range"),
        "history": (str, "Earlier defaults"),
        "check": (str, "Command that shows the range in use"),
    },
    pk="os",
)

UNASSIGNED_RANGES = Table(
    "unassigned_ranges",
    "Maximal runs of consecutive unassigned ports, per transport and for all four at once (transport = all).",
    {
        "transport": (str, "tcp, udp, sctp, dccp, or all (unassigned on every transport)"),
        "first": (int, "First port of the run"),
        "last": (int, "Last port of the run"),
        "length": (int, "Number of ports in the run"),
        "range": (str, "Range(s) the run lies in"),
    },
    pk=("transport", "first"),
    indexes=(("transport", "last"), ("length",)),
    facets=("transport", "range"),
    sort_desc="length",
)

SERVICES = Table(
    "services",
    "One row per distinct service name (case-insensitive).",
    {
        "key": (str, "Service name lowercased"),
        "name": (str, "Service name as first written in the registry"),
        "description": (str, "Description of its first registry row"),
        "ports": (str, "JSON list of the ports and port ranges it is registered on"),
        "transports": (str, "JSON list of its transports (a legacy row without one counts as tcp and udp)"),
        "row_count": (int, "Number of registry rows with this name"),
        "has_port": (int, "1 if any row gives a port (0 = name only, e.g. DNS-SD)"),
        "rfc6335_valid": (int, "1 if the name follows RFC 6335 section 5.1 syntax"),
        "alias_of": (str, "Key of the service this name is an alias of (from the Assignment Notes)"),
        "historic": (int, "1 if the Assignment Notes mark the name as historic"),
    },
    pk="key",
    indexes=(("alias_of",),),
    facets=("historic", "rfc6335_valid"),
)

REFERENCES = Table(
    "references",
    "Each reference of each registration, classified and linked.",
    {
        "registration_id": (int, "The registrations row"),
        "position": (int, "Order within the row's Reference column"),
        "reference": (str, "Reference token, e.g. RFC9110 or Jon_Postel"),
        "kind": (str, "rfc, draft, person, url or other"),
        "url": (str, "Link to the document, when there is one (from the registry's XML when it gives one)"),
        "type": (
            str,
            "The registry XML's type of the reference: rfc, draft, uri, note or text (empty without the XML)",
        ),
    },
    pk=("registration_id", "position"),
    indexes=(("kind",), ("reference",)),
    foreign_keys=(("registration_id", "registrations", "id"),),
    facets=("kind",),
)

CHANGES = Table(
    "changes",
    "What changed in the registry between one ingest and the previous one, one row per changed registry row.",
    {
        "id": (int, "Change number"),
        "ingest": (int, "The ingest that saw the change"),
        "previous_ingest": (int, "The ingest it was compared with"),
        "kind": (str, "added, removed, modified, renamed, assigned or released"),
        "port": (str, "Port Number text of the row (old or new side)"),
        "port_low": (int, "First port the row covers"),
        "port_high": (int, "Last port the row covers"),
        "old_port_low": (int, "First port the row before covered (null when added or port-less)"),
        "old_port_high": (int, "Last port the row before covered"),
        "new_port_low": (int, "First port the row after covers (null when removed or port-less)"),
        "new_port_high": (int, "Last port the row after covers"),
        "transport": (str, "Transport of the row"),
        "service_name": (str, "Service name (new side when there is one)"),
        "service_key": (str, "Service name lowercased"),
        "old_service_key": (
            str,
            "Service name the change took off the row, lowercased - the old name of a rename, "
            "the released or removed service; null when the name stayed",
        ),
        "summary": (str, "One-line description of the change"),
        "fields": (str, "JSON list of the registry fields that differ"),
        "old": (str, "JSON of the row before (null when added)"),
        "new": (str, "JSON of the row after (null when removed)"),
    },
    pk="id",
    # The port filter matches a change when either side covers the port.
    indexes=(
        ("ingest",),
        ("kind",),
        ("old_port_low", "old_port_high"),
        ("new_port_low", "new_port_high"),
        ("service_key",),
        ("old_service_key",),
    ),
    foreign_keys=(("ingest", "ingests", "id"), ("previous_ingest", "ingests", "id")),
    facets=("kind", "transport"),
)

COMMON_USES = Table(
    "common_uses",
    "Software known to use a port by default, from the project's own cited dataset (not from IANA).",
    {
        "id": (int, "Entry number, in file order"),
        "first": (int, "First port of the entry"),
        "last": (int, "Last port of the entry (equal to first for a single port)"),
        "transports": (str, "JSON list of the transports the software uses there"),
        "software": (str, "Software or product"),
        "kind": (
            str,
            "default (built in), example (documentation or sample configuration) or range (a block it draws from)",
        ),
        "description": (str, "What it does on the port"),
        "category": (str, "Kind of software"),
        "source": (str, "The software's own documentation stating the port"),
        "checked": (str, "When the project last read that source (YYYY-MM-DD)"),
        "line": (int, "Line of curated/common_uses.csv the entry comes from"),
    },
    pk="id",
    indexes=(("first", "last"), ("category",), ("software",)),
    facets=("category", "kind"),
    sort="first",
)

PEOPLE = Table(
    "people",
    "The people and organisations behind the registry's bracketed ids, from its XML: names only, never an address.",
    {
        "id": (str, "The id the registry brackets, e.g. Jon_Postel"),
        "name": (str, "The person's name as the registry gives it (empty for an organisation)"),
        "org": (str, "The organisation, when the registry gives one"),
    },
    pk="id",
)

FOOTNOTES = Table(
    "footnotes",
    "The registry's footnotes, cited as [1] and so on in the Reference column.",
    {"anchor": (str, "What the Reference column cites, e.g. 1 for [1]"), "text": (str, "The footnote")},
    pk="anchor",
)

REGISTRY_NOTES = Table(
    "registry_notes",
    "The registry's own notes and its designated experts, from its XML.",
    {
        "position": (int, "Order in the registry"),
        "title": (str, "The note's title (Request an Assignment, Experts, or empty)"),
        "text": (str, "The note"),
        "link": (str, "The first link the note gives, when it gives one"),
    },
    pk="position",
)

REGISTRY_XML = Table(
    "registry_xml",
    "The registry XML this build was enriched from (no row when it was built from the CSV alone).",
    {
        "source": (str, "URL the XML was read from, or the name of the local file"),
        "final_url": (str, "URL the download ended at after redirects (empty for a local file)"),
        "fetched_at": (str, "When it was read (UTC)"),
        "sha256": (str, "SHA-256 of the file as read"),
        "bytes": (int, "Size of the file as read"),
        "etag": (str, "ETag the server sent"),
        "last_modified": (str, "Last-Modified the server sent"),
        "updated": (str, "The registry's own date (its <updated>)"),
        "drifted": (str, "JSON list of the registrations whose Reference the CSV has newer than the XML"),
    },
    pk="sha256",
)

TABLES = (
    REGISTRATIONS,
    INGESTS,
    PORTS,
    RANGES,
    OS_EPHEMERAL_RANGES,
    UNASSIGNED_RANGES,
    SERVICES,
    REFERENCES,
    CHANGES,
    COMMON_USES,
    PEOPLE,
    FOOTNOTES,
    REGISTRY_NOTES,
    REGISTRY_XML,
)
