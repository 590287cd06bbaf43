"""Facts about ports and the IANA registry, defined once for every part of iana-ports.

The ingest pipeline, the read side, the web pages, the command line and the
MCP tools all import these; nothing here does I/O or imports a framework.
Sources: RFC 6335 (ranges, naming), the registry itself (CSV layout) and
the operating systems' documentation (ephemeral ranges, listening commands),
as summarised in ../shared/docs/registry-notes.md.
"""

import re
from bisect import bisect_right
from pathlib import Path

from .text import PORT_STAND_IN, Lines

IANA_REGISTRY_URL = "https://www.iana.org/assignments/service-names-port-numbers/"
IANA_CSV_URL = IANA_REGISTRY_URL + "service-names-port-numbers.csv"
IANA_LICENSE_URL = "https://www.iana.org/help/licensing-terms"
RFC6335_URL = "https://www.rfc-editor.org/rfc/rfc6335"

# Where a database is built and read when nothing else is said.
DEFAULT_DB = Path("data/iana.db")
DB_ENV = "IANA_PORTS_DB"
# The project's own dataset of software that uses ports by default (not from IANA).
COMMON_USES_CSV = Path(__file__).resolve().parent / "curated" / "common_uses.csv"
COMMON_USES_HEADER = ("port", "transports", "software", "kind", "description", "category", "source", "checked")
# How a common use holds its port, strongest first: the verdict weighs and words each
# differently (iana_ports/verdict.py).
USE_KINDS = {
    "default": "a built-in default: the software listens there unless told otherwise",
    "example": "the port the software's documentation or sample configuration uses; the user picks it",
    "range": "a block the software draws ports from, usually configurable",
}

# The registry CSV: its exact header, and the `registrations` column each becomes.
CSV_HEADER = (
    "Service Name",
    "Port Number",
    "Transport Protocol",
    "Description",
    "Assignee",
    "Contact",
    "Registration Date",
    "Modification Date",
    "Reference",
    "Service Code",
    "Unauthorized Use Reported",
    "Assignment Notes",
)
FIELDS = (
    "service_name",
    "port",
    "transport",
    "description",
    "assignee",
    "contact",
    "registration_date",
    "modification_date",
    "reference",
    "service_code",
    "unauthorized_use",
    "assignment_notes",
)

TRANSPORTS = ("tcp", "udp", "sctp", "dccp")
# What most people run a service on; the verdict and the free-port finder default to it.
EVERYDAY_TRANSPORTS = ("tcp", "udp")
MAX_PORT = 65535
PORT_COUNT = MAX_PORT + 1

# RFC 6335 port states, weakest first: when registry rows disagree, the stronger wins.
UNASSIGNED, RESERVED, ASSIGNED = "unassigned", "reserved", "assigned"
STATUSES = (UNASSIGNED, RESERVED, ASSIGNED)
# What the history records between two ingests (ingest/diff.py), in its order.
CHANGE_KINDS = ("added", "removed", "modified", "renamed", "assigned", "released")

# RFC 6335 section 6; each range's size is derived from its bounds.
RANGES = tuple(
    dict(r, size=r["last"] - r["first"] + 1)
    for r in (
        {
            "name": "System Ports",
            "common_name": "Well-known ports",
            "first": 0,
            "last": 1023,
            "assignment": "IETF Review or IESG Approval",
            "explanation": (
                "The oldest and most tightly controlled block. IANA assigns these only "
                "for protocols the IETF has reviewed, and on most Unix-like systems a "
                "program needs root (or CAP_NET_BIND_SERVICE) to listen on one."
            ),
        },
        {
            "name": "User Ports",
            "common_name": "Registered ports",
            "first": 1024,
            "last": 49151,
            "assignment": "IETF Review, IESG Approval or Expert Review",
            "explanation": (
                "Ports IANA assigns to applications on request, after review by a "
                "designated expert. Any program may listen on them; an assignment "
                "says which service is expected there, not that nothing else may use it."
            ),
        },
        {
            "name": "Dynamic Ports",
            "common_name": "Dynamic, private or ephemeral ports",
            "first": 49152,
            "last": 65535,
            "assignment": "Never assigned (RFC 6335 section 8.1.2)",
            "explanation": (
                "IANA never assigns these. Operating systems hand them out as temporary "
                "source ports for outgoing connections, and they are free for private "
                "or short-lived use; a service listening here can collide with a client "
                "connection that was given the same number."
            ),
        },
    )
)
SYSTEM_RANGE, USER_RANGE, DYNAMIC_RANGE = RANGES

OS_LABELS = {
    "linux": "Linux",
    "windows": "Windows",
    "macos": "macOS",
    "freebsd": "FreeBSD",
    "windows_legacy": "Windows XP and Server 2003",
}
# The platforms the verdict is judged for unless asked otherwise: what most
# services are run on or developed on. Another platform's ephemeral range is a
# note, not a lower level (`os=` on pages and JSON, --os, the MCP tools).
DEFAULT_TARGETS = ("linux", "windows", "macos")

# Default ephemeral (client source) port ranges.
OS_EPHEMERAL = (
    {
        "os": "linux",
        "label": OS_LABELS["linux"],
        "first": 32768,
        "last": 60999,
        "history": "since Linux 4.2 (2015); before: 32768-61000",
        "check": "sysctl net.ipv4.ip_local_port_range",
    },
    {
        "os": "windows",
        "label": OS_LABELS["windows"],
        "first": 49152,
        "last": 65535,
        "history": "since Windows Vista / Server 2008; before: 1025-5000",
        "check": "netsh int ipv4 show dynamicport tcp",
    },
    {
        "os": "macos",
        "label": OS_LABELS["macos"],
        "first": 49152,
        "last": 65535,
        "history": "",
        "check": "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
    },
    {
        "os": "freebsd",
        "label": OS_LABELS["freebsd"],
        "first": 10000,
        "last": 65535,
        "history": "",
        "check": "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
    },
    {
        "os": "windows_legacy",
        "label": OS_LABELS["windows_legacy"],
        "first": 1025,
        "last": 5000,
        "history": "Windows before Vista and Server 2008",
        "check": "reg query HKLM\\SYSTEM\\CurrentControlSet\\Services\\Tcpip\\Parameters /v MaxUserPort",
    },
)

# Ports browsers refuse to fetch from (the Fetch standard's "bad port" list, which
# Chromium, Firefox and Safari follow; Chrome shows ERR_UNSAFE_PORT): a web UI or
# API a browser must reach cannot live there. As of fetch.bs 2026-07-02.
BROWSER_BLOCKED_URL = "https://fetch.spec.whatwg.org/#bad-port"
BROWSER_BLOCKED_PORTS = frozenset(
    (
        0,
        1,
        7,
        9,
        11,
        13,
        15,
        17,
        19,
        20,
        21,
        22,
        23,
        25,
        37,
        42,
        43,
        53,
        69,
        77,
        79,
        87,
        95,
        101,
        102,
        103,
        104,
        109,
        110,
        111,
        113,
        115,
        117,
        119,
        123,
        135,
        137,
        139,
        143,
        161,
        179,
        389,
        427,
        465,
        512,
        513,
        514,
        515,
        526,
        530,
        531,
        532,
        540,
        548,
        554,
        556,
        563,
        587,
        601,
        636,
        989,
        990,
        993,
        995,
        1719,
        1720,
        1723,
        2049,
        3659,
        4045,
        4190,
        5060,
        5061,
        6000,
        6566,
        6665,
        6666,
        6667,
        6668,
        6669,
        6679,
        6697,
        10080,
    )
)

# What is listening on a port, per OS; {port} is filled in. Anchored on the
# ":" (Linux, Windows) or "." (macOS prints *.22) before the number and the
# space after it, so 22 does not also match 220 or 10.0.0.22.
LISTENING_COMMANDS = {
    "linux": ("ss -tulpn 'sport = :{port}'", "netstat -tuln | grep ':{port} '", "lsof -i :{port}"),
    "macos": ("lsof -nP -i :{port}", "netstat -an | grep '\\.{port} '"),
    "windows": (
        # findstr reads spaces in a plain search string as OR; /C: makes it one string.
        'netstat -ano | findstr /R /C:":{port} "',
        "Get-NetTCPConnection -LocalPort {port}",
        "Get-NetUDPEndpoint -LocalPort {port}",
    ),
}

# Categories of the project's own common-uses dataset (curated/common_uses.csv).
CATEGORIES = {
    "web-dev-server": "web and dev servers",
    "database": "databases",
    "search-engine": "search engines",
    "cache": "caches",
    "message-broker": "message brokers",
    "observability": "monitoring and tracing",
    "orchestration": "orchestration",
    "containers": "containers",
    "devops": "CI and developer tools",
    "remote-access": "remote access",
    "vpn": "VPNs",
    "game": "game servers",
    "media": "media servers",
    "home-iot": "home automation and IoT",
    "printing": "printing",
    "file-sharing": "file sharing",
    "mail": "mail",
    "directory-auth": "directory and authentication",
    "networking": "network services",
    "voip-chat": "voice and chat",
    "security": "security tools",
    "ai-ml": "AI and machine learning",
    "os-service": "operating system services",
    "virtualization": "hypervisors and virtualization",
    "debugging": "debuggers and mobile dev tools",
    "cloud-emulator": "cloud service emulators",
    "nas-homelab": "NAS and home-lab apps",
    "data-platform": "data processing and analytics",
    "coordination": "coordination and service discovery",
}

# A port as people write it in a URL: canonical decimal only ("0001" and "+1"
# are other spellings, not ports). [0-9], not \d: other scripts' digits are not ports.
_PORT = r"0|[1-9][0-9]{0,4}"
PORT_TEXT_RE = re.compile(_PORT)
# A port or a range as the registry writes it: "22", "6000-6063".
PORT_RANGE_RE = re.compile(rf"({_PORT})(?:-({_PORT}))?")

# Dates, from one set of parts. The registry writes YYYY-MM-DD, and YYYY-MM in old rows;
# the curated data's `checked` is a whole day; a `since` filter may be a year, a month or a day.
_YEAR, _MONTH, _DAY = r"[0-9]{4}", r"(?:0[1-9]|1[0-2])", r"(?:0[1-9]|[12][0-9]|3[01])"
DATE_RE = re.compile(rf"{_YEAR}-{_MONTH}(?:-{_DAY})?")
DAY_RE = re.compile(rf"{_YEAR}-{_MONTH}-{_DAY}")
DATE_PREFIX_RE = re.compile(rf"{_YEAR}(?:-{_MONTH}(?:-{_DAY})?)?")


def port_number(text: str) -> int | None:
    """'22' -> 22; anything that is not a canonical port number 0-65535 -> None."""
    if not PORT_TEXT_RE.fullmatch(text):
        return None
    port = int(text)
    return port if port <= MAX_PORT else None


def range_of(port: int) -> dict:
    """The RFC 6335 range holding `port`."""
    if port <= SYSTEM_RANGE["last"]:
        return SYSTEM_RANGE
    return USER_RANGE if port <= USER_RANGE["last"] else DYNAMIC_RANGE


def ephemeral_of(port: int) -> list[dict]:
    """The operating systems whose default ephemeral range holds `port`, in OS_EPHEMERAL order."""
    return list(_HOLDING[bisect_right(_EDGES, port) - 1])


def ephemeral_ids(port: int) -> tuple[str, ...]:
    """ephemeral_of() as the systems' ids: ("linux", "windows", "macos", "freebsd") for 50000."""
    return _HOLDING_IDS[bisect_right(_EDGES, port) - 1]


# The ranges' edges cut the port space into stretches that each range holds whole or not at
# all: a port's systems are its stretch's, found by bisection (on every port page).
_EDGES = sorted({0} | {o["first"] for o in OS_EPHEMERAL} | {o["last"] + 1 for o in OS_EPHEMERAL})
_HOLDING = [tuple(o for o in OS_EPHEMERAL if o["first"] <= edge <= o["last"]) for edge in _EDGES]
_HOLDING_IDS = [tuple(o["os"] for o in holding) for holding in _HOLDING]


def listening_commands(port: int) -> dict[str, list[str]]:
    return _LISTENING.filled(port)


_LISTENING = Lines(
    {os_id: [c.replace("{port}", PORT_STAND_IN) for c in cs] for os_id, cs in LISTENING_COMMANDS.items()}
)


def registry_date(ingest: dict | None) -> str | None:
    """An ingest's registry date: the registry's own (the XML's <updated>) when known, else the
    newest registration or modification date in it."""
    if not ingest:
        return None
    if ingest.get("registry_date"):  # stored at build time (layout 8 on)
        return ingest["registry_date"]
    if ingest.get("registry_updated"):
        return ingest["registry_updated"]
    dates = (ingest["newest_registration_date"], ingest["newest_modification_date"])
    return max(filter(None, dates), default=None)


def row_transports(service_name: str | None, transport: str | None) -> tuple[str, ...]:
    """The transports a registry row speaks for.

    A row with a transport speaks for that one. A nameless row (Unassigned,
    Reserved, ...) with none speaks for all four. A named row with none is a
    legacy assignment made before SCTP and DCCP existed (flex-lm 27000-27009,
    x11's neighbours vrml-multi-use, swx, ...): tcp and udp only, as IANA's
    XML (no <protocol>) and nmap read them.
    """
    if transport:
        return (transport,)
    return EVERYDAY_TRANSPORTS if service_name else TRANSPORTS
