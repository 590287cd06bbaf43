"""iana-ports (iana_ports/cli.py), the installed console script run as a user runs it.

--json is compared byte for byte with the page's JSON from a real Datasette on
the same database; the text summaries against oracles read from the snapshot
and the curated common-uses file; every error path by its exit status and its
one line on stderr.
"""

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from core import registry

SCRIPT = Path(sys.executable).parent / "iana-ports"
HINT = "build one with `make data` (python -m ingest), or point --db or $IANA_PORTS_DB at one"
USES_HEADING = "Common uses (the project's own list, not from IANA):"
@pytest.fixture(scope="session")
def script() -> Path:
    # Installed from pyproject.toml's [project.scripts]; its absence is a broken install, not a skip.
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: `make install` (pip install -e .) installs the console script"
    return SCRIPT


def run(script: Path, *args, db=None, env=None, cwd=None) -> subprocess.CompletedProcess:
    """The command with `args` (and --db db), with $IANA_PORTS_DB only when `env` sets it."""
    environ = {k: v for k, v in os.environ.items() if k != "IANA_PORTS_DB"}
    environ.update(env or {})
    command = [str(script), *map(str, args), *(["--db", str(db)] if db else [])]
    return subprocess.run(command, capture_output=True, env=environ, cwd=cwd, timeout=120)


def answered(result: subprocess.CompletedProcess) -> bytes:
    assert (result.returncode, result.stderr) == (0, b""), result.stderr.decode()
    return result.stdout


def text_lines(result: subprocess.CompletedProcess) -> list[str]:
    out = answered(result).decode()
    assert out.endswith("\n")
    return out[:-1].split("\n")


async def page_json(datasette, path: str) -> bytes:
    response = await datasette.client.get(path)
    assert response.status_code == 200, (path, response.text[:300])
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.content


# --json: the page's bytes

LOOKUPS = [
    (["60878"], "/ports/60878.json"),
    (["22/tcp"], "/ports/22.json"),
    (["tcp", "22"], "/ports/22.json"),
    (["port", "80"], "/ports/80.json"),
    (["lookup", "443"], "/ports/443.json"),
    (["0"], "/ports/0.json"),
    (["65535"], "/ports/65535.json"),
    (["6010"], "/ports/6010.json"),
    (["716"], "/ports/716.json"),
    (["ssh"], "/services/ssh.json"),
    (["SSH"], "/services/ssh.json"),
    (["ssh/udp"], "/services/ssh.json"),
    (["www"], "/services/www.json"),
    (["cl/1"], "/services/" + quote("cl/1", safe="") + ".json"),
    (["whois++"], "/services/" + quote("whois++", safe="") + ".json"),
    (["lookup", "search"], "/services/search.json"),
    # Not a port and not a name: the lookup box sends these to the search.
    (["postgres"], "/search.json?q=postgres"),
    (["8080,8443"], "/search.json?q=8080%2C8443"),
    (["6000-6002"], "/search.json?q=6000-6002"),
    (["minecraft"], "/search.json?q=minecraft"),
]
SEARCHES = [
    (["search", "http"], "/search.json?q=http"),
    (["search", "http", "--next", "50"], "/search.json?q=http&_next=50"),
    (["search", "ssh", "--transport", "udp"], "/search.json?q=ssh&transport=udp"),
    (["search", "secure", "shell"], "/search.json?q=secure+shell"),
    (["search", "80"], "/search.json?q=80"),
    (["search", "6000-6063/udp"], "/search.json?q=6000-6063%2Fudp"),
    (["search", "nosuchwordanywhere"], "/search.json?q=nosuchwordanywhere"),
]
FREES = [
    (["free", "--near", "8000"], "/free.json?near=8000"),
    (
        ["free", "--near", "8000", "--transports", "tcp,udp,sctp", "--count", "25"],
        "/free.json?near=8000&transports=tcp,udp,sctp&count=25",
    ),
    (["free", "--near", "60878", "--transports", "sctp"], "/free.json?near=60878&transports=sctp"),
    (["free", "--near", "0", "--count", "100"], "/free.json?near=0&count=100"),
    (
        ["free", "--near", "65535", "--transports", "dccp,tcp", "--count", "1"],
        "/free.json?near=65535&transports=dccp,tcp&count=1",
    ),
]
CHANGES = [
    (["changes"], "/changes.json"),
    (["changes", "--since", "2025-06"], "/changes.json?since=2025-06"),
    (["changes", "--since", "2030-01-01"], "/changes.json?since=2030-01-01"),
    (["changes", "--kind", "renamed"], "/changes.json?kind=renamed"),
    (["changes", "--kind", "added", "--size", "5"], "/changes.json?kind=added&_size=5"),
    (["changes", "--kind", "added", "--size", "5", "--next", "5"], "/changes.json?kind=added&_size=5&_next=5"),
    (["changes", "--port", "80"], "/changes.json?port=80"),
    (["changes", "--service", "PearlDoc-XACT"], "/changes.json?service=PearlDoc-XACT"),
    (["changes", "--ingest", "2", "--size", "3"], "/changes.json?ingest=2&_size=3"),
    (["panquest-xact"], "/services/panquest-xact.json"),
    (["1980"], "/ports/1980.json"),
]


@pytest.mark.parametrize("args, path", LOOKUPS + SEARCHES + FREES)
async def test_json_is_the_page_json(script, db_2026, datasette, args, path):
    assert answered(run(script, *args, "--json", db=db_2026)) == await page_json(datasette, path)


@pytest.mark.parametrize("args, path", CHANGES)
async def test_json_is_the_page_json_on_a_history(script, history_db, datasette_history, args, path):
    assert answered(run(script, *args, "--json", db=history_db)) == await page_json(datasette_history, path)


async def test_json_changes_of_a_single_build(script, db_2026, datasette):
    out = answered(run(script, "changes", "--json", db=db_2026))
    assert out == await page_json(datasette, "/changes.json")
    assert json.loads(out) == {"ok": True, "filters": {}, "changes": [], "next": None}


def test_json_next_links_are_the_pages(script, db_2026, history_db):
    search = json.loads(answered(run(script, "search", "http", "--json", db=db_2026)))
    assert (search["count"] > 50, search["next"]) == (True, "/search.json?q=http&_next=50")
    changes = json.loads(answered(run(script, "changes", "--kind", "added", "--size", "5", "--json", db=history_db)))
    assert changes["next"] == "/changes.json?kind=added&_next=5&_size=5"


def test_options_may_come_first(script, db_2026):
    first = answered(run(script, "--json", "--db", db_2026, "search", "ssh"))
    assert first == answered(run(script, "search", "ssh", "--json", db=db_2026))
    assert answered(run(script, "--db", db_2026, "--json", "22")) == answered(run(script, "22", "--json", db=db_2026))


# The database: --db, else $IANA_PORTS_DB, else data/iana.db


def test_database_from_the_environment(script, db_2026, tmp_path):
    expected = answered(run(script, "22", "--json", db=db_2026))
    assert answered(run(script, "22", "--json", env={"IANA_PORTS_DB": str(db_2026)}, cwd=tmp_path)) == expected
    # --db wins over the environment.
    missing = tmp_path / "missing.db"
    assert answered(run(script, "22", "--json", db=db_2026, env={"IANA_PORTS_DB": str(missing)})) == expected


def test_database_from_the_default_path(script, db_2026, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "iana.db").symlink_to(db_2026)
    assert answered(run(script, "22", "--json", cwd=tmp_path)) == answered(run(script, "22", "--json", db=db_2026))


# Text for a person


@pytest.fixture(scope="module")
def good(db_2026) -> list[int]:
    """Ports whose build verdict is good (the column is tested in tests/ingest/test_model.py)."""
    conn = sqlite3.connect(db_2026)
    try:
        return [r[0] for r in conn.execute("select port from ports where verdict = 'good' order by port")]
    finally:
        conn.close()


def nearby(good: list[int], n: int) -> str:
    return " ".join(map(str, sorted([p for p in good if p < n][-3:] + [p for p in good if p > n][:3])))


def verdict_lines(script, db, *args) -> list[str]:
    """The verdict as the text prints it: its level and targets, reasons, then notes (the JSON's,
    whose wording tests/core/test_read.py checks)."""
    v = json.loads(answered(run(script, *args, "--json", db=db)))["verdict"]
    on = ", ".join({"linux": "Linux", "windows": "Windows", "macos": "macOS"}[t] for t in v["targets"])
    return [f"For your own service (tcp/udp on {on}): {v['level']}", *(f"  - {r}" for r in v["reasons"]),
            *(f"  - Note: {n}" for n in v["notes"])]


def use_lines(n: int) -> list[str]:
    """The common-uses section of port n."""
    found = registry.uses_at(n)
    section = [USES_HEADING] if found else []
    for u in found:
        where = f"{u['first']}-{u['last']}" if u["first"] != u["last"] else str(u["first"])
        section.append(f"  - {u['software']}: {u['description']} ({where}/{'/'.join(u['transports'])}; {u['source']})")
    return section


def test_port_60878_text(script, db_2026, good):
    section = use_lines(60878)
    assert text_lines(run(script, "60878", "--os", "linux", db=db_2026)) == [
        "Port 60878: unassigned",
        "Range: Dynamic Ports 49152-65535 (dynamic, private or ephemeral ports)",
        "  tcp   unassigned  unassigned run 49152-65535",
        "  udp   unassigned  unassigned run 49152-65535",
        "  sctp  unassigned  unassigned run 49152-65535",
        "  dccp  unassigned  unassigned run 49152-65535",
        *verdict_lines(script, db_2026, "60878", "--os", "linux"),
        *section,
        "Nearest good ports: " + nearby(good, 60878),
        "What is listening on it (Linux):",
        "  ss -tulpn 'sport = :60878'",
        "  netstat -tuln | grep ':60878 '",
        "  lsof -i :60878",
    ]
    assert section, "60878 has a common use in curated/common_uses.csv (Mosh)"


def test_port_22_text_for_macos(script, db_2026, good):
    section = use_lines(22)
    assert text_lines(run(script, "22/tcp", "--os", "macos", db=db_2026)) == [
        "Port 22: assigned",
        "Range: System Ports 0-1023 (well-known ports)",
        "  tcp   assigned    ssh",
        "  udp   assigned    ssh",
        "  sctp  assigned    ssh",
        "  dccp  unassigned  unassigned run 10-50",
        *verdict_lines(script, db_2026, "22/tcp", "--os", "macos"),
        *section,
        "Nearest good ports: " + nearby(good, 22),
        "What is listening on it (macOS):",
        "  lsof -nP -i :22",
        "  netstat -an | grep '\\.22 '",
    ]


def test_port_0_text_for_windows(script, db_2026, good):
    section = use_lines(0)
    # The first sctp and dccp rows are discard's, on port 9.
    first = {t: min(int(r["Port Number"].split("-")[0]) for r in registry.rows()
                    if r["Transport Protocol"] == t and r["Port Number"]) for t in ("sctp", "dccp")}
    assert first == {"sctp": 9, "dccp": 9}
    assert text_lines(run(script, "0", "--os", "windows", db=db_2026)) == [
        "Port 0: reserved (Reserved)",
        "Range: System Ports 0-1023 (well-known ports)",
        "  tcp   reserved",
        "  udp   reserved",
        "  sctp  unassigned  unassigned run 0-8",
        "  dccp  unassigned  unassigned run 0-8",
        *verdict_lines(script, db_2026, "0", "--os", "windows"),
        *section,
        "Nearest good ports: " + nearby(good, 0),
        "What is listening on it (Windows):",
        '  netstat -ano | findstr /R /C:":0 "',
        "  Get-NetTCPConnection -LocalPort 0",
        "  Get-NetUDPEndpoint -LocalPort 0",
    ]


def test_port_text_names_the_commands_of_the_os_it_runs_on(script, db_2026):
    lines = text_lines(run(script, "8080", db=db_2026))
    assert sys.platform.startswith("linux"), "the expected lines below are Linux's"
    assert lines[-4:] == [
        "What is listening on it (Linux):",
        "  ss -tulpn 'sport = :8080'",
        "  netstat -tuln | grep ':8080 '",
        "  lsof -i :8080",
    ]


def registrations(name: str) -> list[str]:
    found = []
    for r in registry.rows():
        if r["Service Name"].lower() == name:
            where = "no port"
            if r["Port Number"]:
                where = r["Port Number"] + "/" + (r["Transport Protocol"] or "tcp/udp")
            found.append(f"  {where:<18} {' '.join(r['Description'].split())}".rstrip())
    return found


def uses_section(text: str) -> list[str]:
    words = re.findall(r"\w+", text.lower())
    found = [
        u for u in registry.uses()
        if all(re.search(rf"\b{re.escape(w)}", f"{u['software']} {u['description']}".lower()) for w in words)
    ]
    if not found:
        return []
    lines = [USES_HEADING]
    for u in found[:8]:
        where = f"{u['first']}-{u['last']}" if u["first"] != u["last"] else str(u["first"])
        lines.append(f"  - {u['software']}: {u['description']} ({where}/{'/'.join(u['transports'])})")
    if len(found) > 8:
        lines.append(f"  ... and {len(found) - 8} more (--json has them all)")
    return lines


def test_service_text_with_aliases(script, db_2026):
    assert text_lines(run(script, "HTTP", db=db_2026)) == [
        "Service http: World Wide Web HTTP",
        "  Aliases: www, www-http",
        "Registrations:",
        *registrations("http"),
        *uses_section("http"),
    ]
    assert registrations("http") == [
        "  80/tcp             World Wide Web HTTP",
        "  80/udp             World Wide Web HTTP",
        "  80/sctp            HTTP",
    ]
    assert uses_section("http")[-1].startswith("  ... and "), "http has more than 8 common uses"


def test_service_text_historic_alias(script, db_2026):
    assert text_lines(run(script, "whois++", db=db_2026)) == [
        "Service whois++: whois++",
        "  IANA marks this name historic.",
        "  An alias of whoispp.",
        "Registrations:",
        "  63/tcp             whois++",
        "  63/udp             whois++",
        *uses_section("whois++"),
    ]


def test_service_text_without_a_description(script, db_2026):
    # The registry's row for "search" has no description: the heading is the name alone.
    assert text_lines(run(script, "lookup", "search", db=db_2026))[:3] == [
        "Service search",
        "Registrations:",
        "  2010/tcp",
    ]


def test_search_text_for_ports(script, db_2026):
    assert text_lines(run(script, "search", "6000-6002", "--transport", "tcp", db=db_2026)) == [
        "Port 6000: assigned (x11), verdict avoid",
        "Port 6001: assigned (x11), verdict avoid",
        "Port 6002: assigned (x11), verdict avoid",
        '1 registry row matches "6000-6002" on tcp; showing 1-1:',
        "  6000-6063/tcp      x11              X Window System",
    ]


def test_search_text_pages(script, db_2026):
    lines = text_lines(run(script, "search", "http", db=db_2026))
    count = json.loads(answered(run(script, "search", "http", "--json", db=db_2026)))["count"]
    assert lines[0] == f'{count} registry rows match "http"; showing 1-50:'
    assert lines[1:4] == [
        "  80/tcp             http             World Wide Web HTTP",
        "  80/udp             http             World Wide Web HTTP",
        "  80/sctp            http             HTTP",
    ]
    assert lines[51] == "More: iana-ports search http --next 50"
    assert lines[52:] == uses_section("http")


def test_lookup_of_words_only_in_common_uses(script, db_2026):
    assert text_lines(run(script, "minecraft", db=db_2026)) == [
        'No registry rows match "minecraft".',
        *uses_section("minecraft"),
    ]
    assert len(uses_section("minecraft")) > 1


def test_free_text(script, db_2026, good):
    nearest = sorted(good, key=lambda p: (abs(p - 8000), p))[:3]
    assert text_lines(run(script, "free", "--near", "8000", "--count", "3", db=db_2026)) == [
        "Good ports for your own tcp and udp service, nearest 8000 first:",
        *[f"  {p:>5}  ({abs(p - 8000)} away)" for p in nearest],
    ]


def test_changes_text(script, history_db):
    conn = sqlite3.connect(history_db)
    conn.row_factory = sqlite3.Row
    try:
        changes = conn.execute(
            """select changes.kind, changes.summary, changes.new, previous.newest_registration_date as previous_date,
                      ingests.newest_registration_date as registry_date
               from changes join ingests on ingests.id = changes.ingest
               join ingests as previous on previous.id = changes.previous_ingest
               where changes.kind = 'renamed' order by changes.ingest desc, changes.id"""
        ).fetchall()
    finally:
        conn.close()
    expected = []
    for c in changes:
        new = json.loads(c["new"])
        own = max(new["registration_date"] or "", new["modification_date"] or "")
        date = own if own > c["previous_date"] else c["registry_date"]
        expected.append(f"  {date:<10} renamed   {c['summary']}")
    assert len(expected) >= 8
    assert text_lines(run(script, "changes", "--kind", "renamed", db=history_db)) == expected
    paged = text_lines(run(script, "changes", "--kind", "renamed", "--size", "3", db=history_db))
    assert paged == [*expected[:3], "More: add --next 3"]


def test_changes_text_when_there_are_none(script, db_2026):
    assert text_lines(run(script, "changes", db=db_2026)) == ["No changes match."]


def test_help_exits_0(script):
    result = run(script, "--help")
    assert (result.returncode, result.stderr) == (0, b"")
    assert result.stdout.startswith(b"usage: iana-ports [-h] COMMAND ...\n")
    for command in (b"lookup", b"search", b"free", b"changes", b"export"):
        assert b"\n    " + command + b" " in result.stdout


# Errors: one line on stderr, nothing on stdout, the exit status says which kind


def one_line(result: subprocess.CompletedProcess) -> tuple[int, str]:
    assert result.stdout == b""
    err = result.stderr.decode()
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return result.returncode, err[:-1]


def suggested(prefix: str) -> str:
    """The names read.suggestions offers for a word nothing matches: names starting with
    its first three letters, by key, as first written; the line names five."""
    first = {}
    for r in registry.rows():
        if r["Service Name"]:
            first.setdefault(r["Service Name"].lower(), r["Service Name"])
    names = [first[k] for k in sorted(first) if k.startswith(prefix)][:5]
    return ", ".join(names[:-1]) + " or " + names[-1]


ERRORS = [
    (["70000"], 2, "Not a port number: 70000. Ports are whole numbers from 0 to 65535."),
    (["-5"], 2, "Not a port number: -5. Ports are whole numbers from 0 to 65535."),
    (["6010-6000"], 2, "A port range goes from the lower number to the higher: 6010-6000?"),
    (["22", "--json", "x" * 200], 2, "Search text is limited to 200 characters."),
    (["zzzzqqq"], 1, 'No port, service name or registry entry matches "zzzzqqq".'),
    (["--json", "zzzzqqq"], 1, 'No port, service name or registry entry matches "zzzzqqq".'),
    (["sshh"], 1, 'No port, service name or registry entry matches "sshh". Did you mean ' + suggested("ssh") + "?"),
    (["lookup"], 2, "the following arguments are required: TEXT (see iana-ports lookup --help)"),
    (["--bogus", "22"], 2, "unrecognized arguments: --bogus (see iana-ports lookup --help)"),
    (["22", "--os", "plan9"], 2,
     "os must be some of default, linux, windows, macos, freebsd, windows_legacy (comma-separated)."),
    (["search"], 2, "search needs TEXT (the service named search: iana-ports lookup search)"),
    (["search", "x" * 201], 2, "Search text is limited to 200 characters."),
    (["search", "ssh", "--transport", "quic"], 2, "Transport must be one of tcp, udp, sctp, dccp."),
    (["search", "ssh", "--next", "-1"], 2, "--next must be a whole number from 0 to 1000000000"),
    (["free"], 2, "the following arguments are required: --near (see iana-ports free --help)"),
    (["free", "--near", "65536"], 2, "near must be a whole number from 0 to 65535"),
    (["free", "--near", "80x0"], 2, "near must be a whole number from 0 to 65535"),
    (["free", "--near", "8000", "--transports", "tcp,quic"], 2, "transports must be some of tcp, udp, sctp, dccp."),
    (["free", "--near", "8000", "--count", "0"], 2, "count must be a whole number from 1 to 100"),
    (["free", "--near", "8000", "--count", "101"], 2, "count must be a whole number from 1 to 100"),
    (["changes", "--since", "2025/01"], 2, "since must be a date: YYYY-MM-DD (or YYYY-MM, YYYY)"),
    (["changes", "--kind", "moved"], 2, "kind must be one of added, removed, modified, renamed, assigned, released"),
    (["changes", "--port", "x"], 2, "port must be a whole number from 0 to 65535"),
    (["changes", "--size", "1001"], 2, "_size must be a whole number from 1 to 1000"),
    (["export"], 2, "the following arguments are required: --out (see iana-ports export --help)"),
]


@pytest.mark.parametrize("args, status, message", ERRORS)
def test_errors(script, db_2026, args, status, message):
    assert one_line(run(script, *args, db=db_2026)) == (status, f"iana-ports: {message}")


def test_errors_on_history(script, history_db):
    # An old name's lookup says what it became, as its page's 404 does.
    for args in (["pearldoc-xact"], ["pearldoc-xact/tcp", "--json"]):
        assert one_line(run(script, *args, db=history_db)) == (
            1, "iana-ports: No service by that name in the IANA registry: it was renamed to panquest-xact."
        )


def test_no_arguments_prints_usage(script, db_2026):
    result = run(script)
    assert (result.returncode, result.stdout, result.stderr) == (2, b"", b"usage: iana-ports [-h] COMMAND ...\n")


def test_missing_database(script, tmp_path):
    missing = tmp_path / "nowhere" / "iana.db"
    assert one_line(run(script, "22", db=missing)) == (3, f"iana-ports: no database at {missing}: {HINT}")
    assert one_line(run(script, "22", env={"IANA_PORTS_DB": str(missing)})) == (
        3, f"iana-ports: no database at {missing}: {HINT}"
    )
    # Nothing said at all, and nothing at data/iana.db where it runs.
    assert one_line(run(script, "ssh", cwd=tmp_path)) == (3, f"iana-ports: no database at data/iana.db: {HINT}")


def test_database_is_a_folder(script, tmp_path):
    assert one_line(run(script, "22", db=tmp_path)) == (3, f"iana-ports: {tmp_path} is not a file: {HINT}")


@pytest.mark.parametrize(
    "content, why",
    [
        (b"port,service\n22,ssh\n" * 100, "not a registry database (file is not a database)"),
        (b"", "not a registry database built by this version of iana-ports"),
        (None, "not a registry database built by this version of iana-ports"),
    ],
)
def test_file_that_is_not_a_build(script, tmp_path, content, why):
    path = tmp_path / "other.db"
    if content is None:
        # A real SQLite database, just not one of ours.
        conn = sqlite3.connect(path)
        conn.execute("create table ports (port integer, name text)")
        conn.commit()
        conn.close()
    else:
        path.write_bytes(content)
    forms = (["22"], ["search", "ssh", "--json"], ["free", "--near", "8000"], ["changes"])
    for args in (*forms, ["export", "--out", tmp_path / "x"]):
        assert one_line(run(script, *args, db=path)) == (3, f"iana-ports: {path} is {why}: {HINT}")
    assert not (tmp_path / "x").exists()


def test_build_that_cannot_answer(script, db_2026, tmp_path):
    damaged = tmp_path / "iana.db"
    damaged.write_bytes(db_2026.read_bytes())
    conn = sqlite3.connect(damaged)
    conn.execute("drop table services")
    conn.commit()
    conn.close()
    assert one_line(run(script, "ssh", db=damaged)) == (
        3, "iana-ports: the database cannot answer: no such table: services"
    )


def test_exports_that_cannot_be_written(script, db_2026, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way\n")
    assert one_line(run(script, "export", "--out", blocker, db=db_2026)) == (
        4, f"iana-ports: cannot write {blocker}: File exists"
    )
    assert one_line(run(script, "export", "--out", blocker / "exports", db=db_2026)) == (
        4, f"iana-ports: cannot write {blocker / 'exports'}: Not a directory"
    )
    assert blocker.read_text() == "in the way\n"


def test_a_reader_that_leaves_early(script, db_2026):
    """`iana-ports search http --json | head -c 1`: no traceback, no complaint."""
    proc = subprocess.Popen(
        [str(script), "search", "http", "--json", "--db", str(db_2026)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before the command has written anything
    assert (proc.wait(60), proc.stderr.read()) == (0, b"")
    proc.stderr.close()


# Starting fast: no web stack on any path

IMPORT_CHECK = """
import json, sys
from iana_ports import cli
statuses = [cli.main(argv) for argv in json.loads(sys.argv[1])]
loaded = sorted(
    m for m in sys.modules
    if m.split(".")[0] in ("datasette", "httpx", "jinja2", "uvicorn", "starlette", "click")
    or m.startswith("iana_ports.web")
)
with open(sys.argv[2], "w") as f:
    json.dump({"statuses": statuses, "loaded": loaded}, f)
"""


def test_no_web_stack_is_imported(db_2026, history_db, tmp_path):
    db, history = str(db_2026), str(history_db)
    forms = [
        ["22", "--db", db], ["22", "--json", "--db", db], ["ssh", "--db", db], ["postgres", "--json", "--db", db],
        ["search", "http", "--db", db], ["free", "--near", "8000", "--json", "--db", db],
        ["changes", "--db", history], ["changes", "--json", "--db", history],
        ["export", "--out", str(tmp_path / "exports"), "--db", db],
        ["70000", "--db", db], ["zzzzqqq", "--db", db], ["22", "--db", str(tmp_path / "missing.db")],
    ]
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, json.dumps(forms), str(report)],
        capture_output=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(report.read_text()) == {"statuses": [0] * 9 + [2, 1, 3], "loaded": []}
