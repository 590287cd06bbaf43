"""iana_ports/exports.py and `iana-ports export`: the services file, ports.json, ports.csv.

The services file is read by a strict services(5) reader written here and by
glibc itself (getent, with the file bind-mounted over /etc/services in a
mount namespace of its own); expected entries come from the snapshot CSV
(tests/core/registry.py) and from the database with SQL.
"""

import csv
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.harness import SNAPSHOT_2026
from core import registry
from iana_ports import exports
from iana_ports.facts import COMMON_USES_CSV
from iana_ports.memory import MemoryStore
from iana_ports.store import Store

SCRIPT = Path(sys.executable).parent / "iana-ports"
MUSL_LINE = 127  # bytes with the newline: musl's fgets() into char line[128]
PORT_PROTO = re.compile(r"(0|[1-9][0-9]{0,4})/(tcp|udp|sctp|dccp)")


@pytest.fixture(scope="module")
def store(db_2026):
    s = Store.open(db_2026)
    yield s
    s.close()


@pytest.fixture(scope="module")
def services_text(store) -> str:
    return exports.services_file(store)


def read_services(text: str) -> list[tuple]:
    """A strict services(5) reader: [(name, port, protocol, aliases, comment)].

    Beyond what services(5) asks (blank-separated fields, "#" to the end of a
    line is a comment, `port/protocol` a decimal port and a protocol), it
    refuses what a tolerant reader might misread: a port above 65535 or with
    a leading zero, a protocol other than tcp, udp, sctp or dccp, a line
    longer than musl reads at once, trailing blanks, a missing final newline.
    """
    assert text.endswith("\n"), "the last line has no newline"
    found = []
    for number, line in enumerate(text[:-1].split("\n"), 1):
        where = f"line {number}: {line!r}"
        assert len(line.encode()) + 1 <= MUSL_LINE, where
        assert line == line.rstrip(), where
        data, _, comment = line.partition("#")
        fields = data.split()
        if not fields:
            continue
        assert len(fields) >= 2, where
        name, port_proto, *aliases = fields
        m = PORT_PROTO.fullmatch(port_proto)
        assert m and int(m[1]) <= 65535, where
        found.append((name, int(m[1]), m[2], aliases, comment.strip()))
    return found


@pytest.fixture(scope="module")
def entries(services_text) -> list[tuple]:
    return read_services(services_text)


def line_of(services_text: str, name: str, place: str) -> str:
    """The line of `name` on `place` (80/tcp), found by plain text: name then blanks then place."""
    found = [line for line in services_text.split("\n") if re.match(rf"{re.escape(name)} +{place}( |$)", line)]
    assert len(found) == 1, (name, place, found)
    return found[0]


# services: entries


def test_one_line_per_name_port_and_transport(entries):
    assert [(name, port, proto) for name, port, proto, _, _ in entries] == [
        (name, port, t) for port, t, name, _, _ in registry.named_places()
    ]


def test_line_count_against_the_database(entries, db_2026):
    conn = sqlite3.connect(db_2026)
    try:
        places = conn.execute(
            """
            with recursive named(key, p, high, t) as (
              select service_key, port_low, port_high, coalesce(transport, 'tcp') from registrations
              where service_name is not null and port_low is not null
              union all
              select service_key, port_low, port_high, 'udp' from registrations
              where service_name is not null and port_low is not null and transport is null
              union all
              select key, p + 1, high, t from named where p < high
            )
            select count(*) from (select distinct key, p, t from named)
            """
        ).fetchone()[0]
        assigned = {
            (port, t)
            for t in ("tcp", "udp", "sctp", "dccp")
            for (port,) in conn.execute(f"select port from ports where {t} = 'assigned'")
        }
    finally:
        conn.close()
    assert len(entries) == places
    # Every assigned port and transport has a line, and nothing else does.
    assert {(port, proto) for _, port, proto, _, _ in entries} == assigned


def test_ranges_are_written_port_by_port(entries):
    def places(name):
        return [(port, proto) for n, port, proto, _, _ in entries if n == name]

    assert places("x11") == [(p, t) for p in range(6000, 6064) for t in ("tcp", "udp")]
    # A legacy named row without a transport is tcp and udp, never sctp or dccp.
    assert places("vrml-multi-use") == [(p, t) for p in range(4200, 4300) for t in ("tcp", "udp")]
    assert places("flex-lm") == [(p, t) for p in range(27000, 27010) for t in ("tcp", "udp")]


def test_aliases_are_the_registry_links(entries):
    links = registry.links()

    def service(key):
        return links.get(key, key)

    at = {}
    for port, t, name, key, _ in registry.named_places():
        at.setdefault((port, t), []).append((name, key))
    expected = [
        [other for other, other_key in at[(port, t)] if other_key != key and service(other_key) == service(key)]
        for port, t, name, key, _ in registry.named_places()
    ]
    assert [aliases for _, _, _, aliases, _ in entries] == expected
    assert sum(1 for a in expected if a) > 150


def test_alias_lines(services_text):
    assert [line_of(services_text, n, "80/tcp") for n in ("http", "www", "www-http")] == [
        "http            80/tcp     www www-http # World Wide Web HTTP",
        "www             80/tcp     http www-http # World Wide Web HTTP",
        "www-http        80/tcp     http www # World Wide Web HTTP",
    ]
    assert line_of(services_text, "http", "80/sctp") == "http            80/sctp    # HTTP"
    assert line_of(services_text, "ssh", "22/tcp") == "ssh             22/tcp     # The Secure Shell (SSH) Protocol"


def test_historic_names_are_marked(entries, services_text):
    historic = registry.historic()
    marked = [(name, port, proto) for name, port, proto, _, comment in entries if comment.startswith("[historic]")]
    assert marked == [(name, port, proto) for name, port, proto, _, _ in entries if name.lower() in historic]
    assert len({name for name, _, _ in marked}) == len(historic) == 96
    assert line_of(services_text, "whois++", "63/udp") == "whois++         63/udp     whoispp # [historic] whois++"
    assert line_of(services_text, "whoispp", "63/udp") == (
        "whoispp         63/udp     whois++ # whois++ IANA assigned this well-formed service name as a replacement "
        'for "whois++".'
    )


def test_descriptions_are_whole_unless_a_line_would_be_too_long(services_text, entries):
    lines = [line for line in services_text.split("\n") if line and not line.startswith("#")]
    cut = 0
    for line, (port, t, name, key, description), (_, _, _, _, comment) in zip(lines, registry.named_places(), entries):
        full = " ".join(description.split())
        if key in registry.historic():
            full = f"[historic] {full}".strip()
        if comment == full:
            continue
        # Cut: a prefix of the whole text and "...", because the whole would not fit.
        cut += 1
        assert comment.endswith("...") and full.startswith(comment[:-3].rstrip()), line
        assert len(line.encode()) + len(full) - len(comment) + 1 > MUSL_LINE, line
        assert len(line.encode()) + 1 >= MUSL_LINE - 4, line  # cut no shorter than it had to be
    assert 100 < cut < 300


def test_header(services_text, entries):
    sha256 = hashlib.sha256(SNAPSHOT_2026.read_bytes()).hexdigest()
    names = {name.lower() for name, _, _, _, _ in entries}
    assert services_text.split("\n")[:13] == [
        "# /etc/services: IANA's Service Name and Transport Protocol Port Number Registry",
        "# Registry date: 2026-02-25 (its newest registration or modification date)",
        "# Source: https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.csv",
        f"# Registry CSV sha256: {sha256}",
        "# IANA's terms of use: https://www.iana.org/help/licensing-terms",
        "# Written by iana-ports (iana-ports export, or /exports/services of the site).",
        "#",
        "# services(5): name port/protocol [aliases ...] # description",
        "# One line per service name, port and transport; ranges are written port by port.",
        "# Aliases are the names the registry links to the same service (alias, duplicate).",
        "# [historic] marks names IANA calls historic, replaced by a well-formed name.",
        "# Descriptions are cut so each line fits in 127 bytes (musl reads 128-byte lines).",
        f"# {len(entries)} lines, {len(names)} names.",
    ]
    assert services_text.split("\n")[13] == "tcpmux          1/tcp      # TCP Port Service Multiplexer"


@pytest.mark.slow
def test_store_and_snapshot_write_the_same(store, services_text):
    snapshot = MemoryStore(store.uri)
    try:
        assert exports.services_file(snapshot) == services_text
        assert exports.ports_json(snapshot) == exports.ports_json(store)
        assert "".join(exports.ports_csv(snapshot)) == "".join(exports.ports_csv(store))
    finally:
        snapshot.close()


# services: glibc reads it


def getent(services: Path, *keys: str) -> subprocess.CompletedProcess:
    """`getent services KEY...` with `services` bind-mounted over /etc/services in a private
    mount namespace (unshare makes its mounts private), so the machine's file is untouched."""
    for tool in ("unshare", "getent", "mount"):
        assert shutil.which(tool), f"{tool} is missing: the glibc test needs util-linux and libc-bin"
    result = subprocess.run(
        [
            "unshare",
            "--mount",
            "sh",
            "-c",
            'mount --bind "$0" /etc/services && exec getent services "$@"',
            str(services),
            *keys,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode not in (0, 2) or result.stderr:
        pytest.fail(
            "could not bind-mount a services file over /etc/services in a new mount namespace "
            f"(needs root or CAP_SYS_ADMIN and unshare(CLONE_NEWNS)): exit {result.returncode}, {result.stderr.strip()}"
        )
    return result


def glibc(name: str, port: int, proto: str, aliases=()) -> str:
    # getent's format: "%-21s %d/%s" and each alias after a space.
    return " ".join([f"{name:<21} {port}/{proto}", *aliases])


@pytest.fixture(scope="module")
def services_file(services_text, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("etc") / "services"
    path.write_text(services_text, encoding="utf-8")
    return path


def test_glibc_finds_by_name_and_by_port(services_file):
    # The machine's own /etc/services has no 6010: an answer for it comes from ours.
    assert subprocess.run(["getent", "services", "6010/tcp"], capture_output=True).returncode == 2
    result = getent(
        services_file, "ssh/tcp", "6010/tcp", "www/tcp", "whois++/udp", "9/dccp", "4250/udp", "27009/tcp", "80/sctp"
    )
    assert (result.returncode, result.stdout.split("\n")) == (
        0,
        [
            glibc("ssh", 22, "tcp"),
            glibc("x11", 6010, "tcp"),
            glibc("http", 80, "tcp", ["www", "www-http"]),
            glibc("whoispp", 63, "udp", ["whois++"]),
            glibc("discard", 9, "dccp"),
            glibc("vrml-multi-use", 4250, "udp"),
            glibc("flex-lm", 27009, "tcp"),
            glibc("http", 80, "sctp"),
            "",
        ],
    )


def test_glibc_says_what_is_not_there(services_file):
    assert getent(services_file, "4250/sctp").returncode == 2
    assert getent(services_file, "no-such-service").returncode == 2


def test_glibc_reads_every_line_as_the_strict_reader_does(services_file, entries):
    result = getent(services_file)  # no key: every entry, in file order
    assert result.returncode == 0
    assert result.stdout.split("\n")[:-1] == [
        glibc(name, port, proto, aliases) for name, port, proto, aliases, _ in entries
    ]


# ports.json


def test_ports_json_against_the_registry(store):
    data = json.loads(exports.ports_json(store))
    links = registry.links()
    at = {}
    for port, t, name, key, description in registry.named_places():
        at.setdefault(f"{port}/{t}", []).append((name, key, description))
    expected = {}
    for place, names in at.items():
        keys = {key for _, key, _ in names}
        # The first name listed that is not an alias or duplicate of another name there.
        name, _, description = next((n for n in names if links.get(n[1]) not in keys), names[0])
        expected[place] = [name, description]
    assert list(data.items()) == list(expected.items())


def test_ports_json_examples_and_keys(store, db_2026):
    data = json.loads(exports.ports_json(store))
    assert data["22/tcp"] == ["ssh", "The Secure Shell (SSH) Protocol"]
    assert data["80/tcp"] == data["80/udp"] == ["http", "World Wide Web HTTP"]
    assert data["80/sctp"] == ["http", "HTTP"]
    assert data["63/tcp"] == [
        "whoispp",
        'whois++\nIANA assigned this well-formed service name as a replacement for "whois++".',
    ]
    assert data["6063/udp"] == ["x11", "X Window System"]
    assert data["27000/tcp"][0] == "flex-lm" and "27000/sctp" not in data
    conn = sqlite3.connect(db_2026)
    try:
        assigned = [
            f"{port}/{t}"
            for port, *statuses in conn.execute("select port, tcp, udp, sctp, dccp from ports order by port")
            for t, status in zip(("tcp", "udp", "sctp", "dccp"), statuses)
            if status == "assigned"
        ]
    finally:
        conn.close()
    assert list(data) == assigned


# ports.csv


def test_ports_csv_is_the_ports_table(store, db_2026):
    chunks = list(exports.ports_csv(store))
    assert len(chunks) == 65536 // exports.CSV_CHUNK
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    conn = sqlite3.connect(db_2026)
    try:
        cursor = conn.execute("select * from ports order by port")
        columns = [d[0] for d in cursor.description]
        table = cursor.fetchall()
    finally:
        conn.close()
    assert rows[0] == columns
    assert len(rows) == 65537
    services = columns.index("services")
    expected = [
        ["" if v is None else str(v) for v in row[:services]]
        + [" ".join(json.loads(row[services])) if row[services] else ""]
        + ["" if v is None else str(v) for v in row[services + 1 :]]
        for row in table
    ]
    assert rows[1:] == expected
    assert rows[81] == [
        "80",
        "assigned",
        "assigned",
        "assigned",
        "assigned",
        "unassigned",
        "http www www-http",
        "",
        "System Ports",
        "Well-known ports",
        "1",
        "0",
        "0",
        "0",
        "0",
        "0",
        "0",
        "avoid",
    ]


# iana-ports export --out DIR (make exports)


def test_export_command_writes_every_file(db_2026, store, services_text, tmp_path):
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: `make install` installs the console script"
    out = tmp_path / "exports"
    for _ in range(2):  # a second run replaces the files whole
        result = subprocess.run(
            [str(SCRIPT), "export", "--out", str(out), "--db", str(db_2026)], capture_output=True, timeout=120
        )
        assert (result.returncode, result.stderr) == (0, b"")
    files = {
        "services": services_text.encode(),
        "ports.json": exports.ports_json(store),
        "ports.csv": "".join(exports.ports_csv(store)).encode(),
        "iana.db": db_2026.read_bytes(),
    }
    assert sorted(os.listdir(out)) == sorted([*files, "SHA256SUMS"])
    for name, content in files.items():
        assert (out / name).read_bytes() == content, name
    sums = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    assert (out / "SHA256SUMS").read_text() == "".join(f"{sums[n]}  {n}\n" for n in files)
    assert subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=out).returncode == 0
    assert result.stdout.decode().split("\n") == [
        f"{name:<12} {len(content):>11,} bytes  sha256 {sums[name]}" for name, content in files.items()
    ] + [""]


# A crafted registry, built by the real ingest: what the 2026 snapshot does not exercise


CRAFTED = (
    "Service Name,Port Number,Transport Protocol,Description,Assignee,Contact,Registration Date,"
    "Modification Date,Reference,Service Code,Unauthorized Use Reported,Assignment Notes\n"
    # The duplicate listed before the name it duplicates (the snapshot never does this).
    'www,80,tcp,World Wide Web HTTP,,,,,,,,"This is a duplicate of the ""http"" service and should not be used."\n'
    "http,80,tcp,World Wide Web HTTP,,,2024-05-01,,,,,\n"
    # A name services(5) cannot hold.
    "bad name,81,tcp,A name with a blank,,,,,,,,\n"
    "legacy,100-102,,Legacy # with a hash,,,,,,,,\n"
    "dnssd,,,A DNS-SD name without a port,,,,,,,,\n"
    # Cut inside the two bytes of "é": the cut keeps whole characters.
    "long,200,udp," + "x" * 93 + "é" + "yyyy,,,,,,,,\n"
    'Old_Name,300,tcp,Old service,,,,,,,,"This entry is an alias to ""old-name"".\n'
    'This entry is now historic, not usable for use with many\ncommon service discovery mechanisms."\n'
    "old-name,300,tcp,Old service,,,,,,,,\n"
    ",400,tcp,Reserved,,,,,,,,\n"
)


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    # The ingest refuses this small a first build and a name with a blank
    # (ingest/guard.py, ingest/parse.py); a database built before those rules
    # may hold both, so the parsed rows go to the build step directly.
    from ingest import common_uses
    from ingest.build import build
    from ingest.fetch import Fetched, now
    from ingest.history import carry
    from ingest.parse import parse

    records = parse(CRAFTED.replace("\nbad name,", "\nbad-name,"))
    [blank] = [r for r in records if r["service_name"] == "bad-name"]
    blank["service_name"] = "bad name"
    data = CRAFTED.encode()
    db = tmp_path_factory.mktemp("crafted") / "iana.db"
    fetched = Fetched("registry.csv", data, now(), hashlib.sha256(data).hexdigest())
    build(db, fetched, records, common_uses.read(COMMON_USES_CSV), history=carry)
    s = Store.open(db)
    yield s
    s.close()


def test_crafted_services_file(crafted):
    sha256 = hashlib.sha256(CRAFTED.encode()).hexdigest()
    legacy = [f"legacy          {p}/{t}    # Legacy # with a hash" for p in (100, 101, 102) for t in ("tcp", "udp")]
    assert exports.services_file(crafted).split("\n") == [
        "# /etc/services: IANA's Service Name and Transport Protocol Port Number Registry",
        "# Registry date: 2024-05-01 (its newest registration or modification date)",
        "# Source: https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.csv",
        f"# Registry CSV sha256: {sha256}",
        "# IANA's terms of use: https://www.iana.org/help/licensing-terms",
        "# Written by iana-ports (iana-ports export, or /exports/services of the site).",
        "#",
        "# services(5): name port/protocol [aliases ...] # description",
        "# One line per service name, port and transport; ranges are written port by port.",
        "# Aliases are the names the registry links to the same service (alias, duplicate).",
        "# [historic] marks names IANA calls historic, replaced by a well-formed name.",
        "# Descriptions are cut so each line fits in 127 bytes (musl reads 128-byte lines).",
        "# 11 lines, 6 names.",
        "# Names left out (a blank or # in the name cannot be written here): 1",
        # The name duplicated first: a lookup of port 80 finds http.
        "http            80/tcp     www # World Wide Web HTTP",
        "www             80/tcp     http # World Wide Web HTTP",
        *legacy,
        "long            200/udp    # " + "x" * 93 + "...",
        "old-name        300/tcp    Old_Name # Old service",
        "Old_Name        300/tcp    old-name # [historic] Old service",
        "",
    ]
    read_services(exports.services_file(crafted))


def test_crafted_ports_json(crafted):
    legacy = {f"{p}/{t}": ["legacy", "Legacy # with a hash"] for p in (100, 101, 102) for t in ("tcp", "udp")}
    assert list(json.loads(exports.ports_json(crafted)).items()) == list(
        {
            "80/tcp": ["http", "World Wide Web HTTP"],
            "81/tcp": ["bad name", "A name with a blank"],
            **legacy,
            "200/udp": ["long", "x" * 93 + "éyyyy"],
            "300/tcp": ["old-name", "Old service"],
        }.items()
    )


def test_crafted_services_file_through_glibc(crafted, tmp_path):
    path = tmp_path / "services"
    path.write_text(exports.services_file(crafted), encoding="utf-8")
    result = getent(path, "80/tcp", "www/tcp", "Old_Name/tcp", "101/udp", "200/udp")
    assert (result.returncode, result.stdout.split("\n")) == (
        0,
        [
            glibc("http", 80, "tcp", ["www"]),
            glibc("http", 80, "tcp", ["www"]),
            glibc("old-name", 300, "tcp", ["Old_Name"]),
            glibc("legacy", 101, "udp"),
            glibc("long", 200, "udp"),
            "",
        ],
    )


@pytest.mark.slow
def test_a_build_swapped_in_during_an_export_is_not_mixed_with_the_last(db_2025, db_2026, tmp_path):
    served = tmp_path / "iana.db"
    shutil.copyfile(db_2025, served)
    old = Store.open(served)
    # A rebuild lands after the command opened the database, before it wrote anything.
    shutil.copyfile(db_2026, tmp_path / "next.db")
    os.replace(tmp_path / "next.db", served)
    try:
        exports.write_all(old, tmp_path / "out")
    finally:
        old.close()
    out = tmp_path / "out"
    assert (out / "iana.db").read_bytes() == db_2026.read_bytes()
    assert "# Registry date: 2026-02-25 " in (out / "services").read_text()
    new = Store.open(db_2026)
    try:
        assert (out / "ports.json").read_bytes() == exports.ports_json(new)
    finally:
        new.close()
