"""iana-ports (iana_ports/cli.py): cli.main() called in-process, as the console script calls it,
and the installed script itself where the process matters (its entry point, a real terminal,
a reader that leaves, what it imports).

--json is compared byte for byte with the page's JSON from a real Datasette on the same
database; the text against oracles read from the snapshot and the curated common-uses file,
unwrapped (1,000 columns), then at 60 and 100 columns for how it wraps; every error path by
its exit status and its one line on stderr.
"""

import json
import os
import pty
import re
import select
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from core import registry
from iana_ports import cli, databases, read
from iana_ports.store import Store

SCRIPT = Path(sys.executable).parent / "iana-ports"
HINT = "build one with `iana-ports update` (or `make data` in a checkout), or point --db or $IANA_PORTS_DB at one"
WIDE = 1000  # columns: nothing wraps
ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
RED, YELLOW, GREEN, BOLD = (
    ("\x1b[31m", "\x1b[39m"),
    ("\x1b[33m", "\x1b[39m"),
    ("\x1b[32m", "\x1b[39m"),
    ("\x1b[1m", "\x1b[22m"),
)


@pytest.fixture(autouse=True)
def environment(monkeypatch):
    """What the command reads from the environment, fixed: no database path, 80 columns, no colour wishes."""
    for name in ("IANA_PORTS_DB", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "80")


@pytest.fixture(scope="session")
def script() -> Path:
    # Installed from pyproject.toml's [project.scripts]; its absence is a broken install, not a skip.
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: `make install` (pip install -e .) installs the console script"
    return SCRIPT


class Call:
    """cli.main(args) in this process: its exit status and what it wrote."""

    def __init__(self, capsysbinary, monkeypatch):
        self.capture, self.monkeypatch = capsysbinary, monkeypatch

    def __call__(self, *args, db=None, columns=None) -> tuple[int, bytes, bytes]:
        if columns is not None:
            self.monkeypatch.setenv("COLUMNS", str(columns))
        status = cli.main([*map(str, args), *(["--db", str(db)] if db else [])])
        out, err = self.capture.readouterr()
        return status, out, err


@pytest.fixture
def call(capsysbinary, monkeypatch) -> Call:
    return Call(capsysbinary, monkeypatch)


def answered(result) -> bytes:
    status, out, err = result
    assert (status, err) == (0, b""), err.decode()
    return out


def text_lines(result) -> list[str]:
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
    (["25565", "--os", "default,freebsd"], "/ports/25565.json?os=default,freebsd"),
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
    (["free", "--near", "24000", "--os", "linux,freebsd"], "/free.json?near=24000&os=linux,freebsd"),
]
CHANGES = [
    (["changes"], "/changes.json"),
    (["changes", "--since", "2025-06"], "/changes.json?since=2025-06"),
    (["changes", "--since", "2030-01-01"], "/changes.json?since=2030-01-01"),
    (["changes", "--kind", "renamed"], "/changes.json?kind=renamed"),
    (["changes", "--kind", "added", "--size", "5"], "/changes.json?kind=added&_size=5"),
    (
        ["changes", "--kind", "added", "--size", "5", "--next", "2.2025-11-14.24"],
        "/changes.json?kind=added&_size=5&_next=2.2025-11-14.24",
    ),
    (["changes", "--port", "80"], "/changes.json?port=80"),
    (["changes", "--service", "PearlDoc-XACT"], "/changes.json?service=PearlDoc-XACT"),
    (["changes", "--ingest", "2", "--size", "3"], "/changes.json?ingest=2&_size=3"),
    (["panquest-xact"], "/services/panquest-xact.json"),
    (["1980"], "/ports/1980.json"),
]


@pytest.mark.parametrize("args, path", LOOKUPS + SEARCHES + FREES)
async def test_json_is_the_page_json(call, db_2026, datasette, args, path):
    # Colour and width change the text only.
    out = answered(call(*args, "--json", "--color", "always", db=db_2026, columns=60))
    assert out == await page_json(datasette, path)


@pytest.mark.parametrize("args, path", CHANGES)
async def test_json_is_the_page_json_on_a_history(call, history_db, datasette_history, args, path):
    assert answered(call(*args, "--json", db=history_db)) == await page_json(datasette_history, path)


async def test_the_installed_script_answers_the_page_json(script, db_2026, datasette):
    """The console script itself, as a user runs it: the same bytes as cli.main()."""
    for args, path in [(["22"], "/ports/22.json"), (["search", "http"], "/search.json?q=http")]:
        result = subprocess.run([str(script), *args, "--json", "--db", str(db_2026)], capture_output=True, timeout=120)
        assert (result.returncode, result.stderr) == (0, b"")
        assert result.stdout == await page_json(datasette, path)


async def test_json_changes_of_a_single_build(call, db_2026, datasette):
    out = answered(call("changes", "--json", db=db_2026))
    assert out == await page_json(datasette, "/changes.json")
    assert json.loads(out) == {"ok": True, "filters": {}, "changes": [], "next": None}


def test_json_next_links_are_the_pages(call, db_2026, history_db):
    search = json.loads(answered(call("search", "http", "--json", db=db_2026)))
    assert (search["count"] > 50, search["next"]) == (True, "/search.json?q=http&_next=50")
    changes = json.loads(answered(call("changes", "--kind", "added", "--size", "5", "--json", db=history_db)))
    last = changes["changes"][-1]
    token = f"{last['ingest']}.{last['change_date'] or last['registry_date']}.{last['id']}"
    assert changes["next"] == f"/changes.json?kind=added&_next={token}&_size=5"


def test_options_may_come_first(call, db_2026):
    first = answered(call("--json", "--db", db_2026, "search", "ssh"))
    assert first == answered(call("search", "ssh", "--json", db=db_2026))
    assert answered(call("--db", db_2026, "--json", "22")) == answered(call("22", "--json", db=db_2026))
    assert answered(call("--color", "never", "--db", db_2026, "22")) == answered(call("22", db=db_2026))


# The database: --db, else $IANA_PORTS_DB, else data/iana.db


def test_database_from_the_environment(call, db_2026, tmp_path, monkeypatch):
    expected = answered(call("22", "--json", db=db_2026))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IANA_PORTS_DB", str(db_2026))
    assert answered(call("22", "--json")) == expected
    # --db wins over the environment.
    monkeypatch.setenv("IANA_PORTS_DB", str(tmp_path / "missing.db"))
    assert answered(call("22", "--json", db=db_2026)) == expected


def test_database_from_the_default_path(call, db_2026, tmp_path, monkeypatch):
    expected = answered(call("22", "--json", db=db_2026))
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "iana.db").symlink_to(db_2026)
    monkeypatch.chdir(tmp_path)
    assert answered(call("22", "--json")) == expected


# Text for a person, unwrapped: what it says, in which order


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


def port_json(call, db, *args) -> dict:
    return json.loads(answered(call(*args, "--json", db=db)))


def main_reason(v: dict) -> str:
    """What the port page gives beside the level: the first reason not naming software, else the first."""
    return v["reasons"][v["software_reasons"]] if len(v["reasons"]) > v["software_reasons"] else v["reasons"][0]


def first_lines(p: dict) -> list[str]:
    """The lead (the read side's, whose wording tests/web/test_pages.py checks) and the verdict."""
    v = p["verdict"]
    return [p["lead"], f"For your own service: {v['level']}. {main_reason(v)}"]


def verdict_section(p: dict) -> list[str]:
    """The rest of the verdict, as the port page gives it: software once, as a count; every
    other reason but the one given beside the level; the notes; the platforms judged."""
    v, n = p["verdict"], p["port"]
    software = v["software_reasons"]
    said = {0: [], 1: ["  - The software above listens here."]}.get(
        software, [f"  - {software} of the programs above listen here."]
    )
    labels = {"linux": "Linux", "windows": "Windows", "macos": "macOS", "freebsd": "FreeBSD"}
    on = [labels[t] for t in v["targets"]]
    on = ", ".join(on[:-1]) + " and " + on[-1] if len(on) > 1 else on[0]
    return [
        "",
        f"Can you use port {n}?",
        *said,
        *(f"  - {r}" for r in v["reasons"][software:] if r != main_reason(v)),
        *(f"  - Note: {note}" for note in v["notes"]),
        f"  Judged for tcp and udp on {on}; --os chooses the platforms (--os default,freebsd adds FreeBSD).",
    ]


def where(u: dict) -> str:
    at = f"{u['first']}–{u['last']}" if u["first"] != u["last"] else str(u["first"])
    return f"{at}/{'/'.join(u['transports'])}"


def use_line(u: dict, source: bool = True) -> str:
    kind = {"default": "", "example": " (documented example)", "range": " (a block it draws from)"}[u["kind"]]
    return f"  - {u['software']}{kind}: {u['description']} ({where(u)}{'; ' + u['source'] if source else ''})"


def use_section(p: dict) -> list[str]:
    """The common-uses section of a port: the oracle's entries, in the read side's order
    (tests/core/test_read.py), the first 20."""
    keys = ("software", "kind", "description", "transports", "first", "last", "source")
    assert sorted(tuple(str(u[k]) for k in keys) for u in p["common_uses"]) == sorted(
        tuple(str(u[k]) for k in keys) for u in registry.uses_at(p["port"])
    )
    if not p["common_uses"]:
        return []
    lines = ["", f"Software known to use port {p['port']} (not from IANA)", *map(use_line, p["common_uses"][:20])]
    if len(p["common_uses"]) > 20:
        lines.append(f"  ... and {len(p['common_uses']) - 20} more (--json has them all)")
    return lines


def commands(n: int, system: str) -> list[str]:
    label = {"linux": "Linux", "windows": "Windows", "macos": "macOS"}[system]
    return {
        "linux": [f"  ss -tulpn 'sport = :{n}'", f"  netstat -tuln | grep ':{n} '", f"  lsof -i :{n}"],
        "macos": [f"  lsof -nP -i :{n}", f"  netstat -an | grep '\\.{n} '"],
        "windows": [
            f'  netstat -ano | findstr /R /C:":{n} "',
            f"  Get-NetTCPConnection -LocalPort {n}",
            f"  Get-NetUDPEndpoint -LocalPort {n}",
        ],
    }[system], label


TRANSIENT = (
    "  {} hands this port out as a temporary client port: a connection you see on it is most likely one, "
    "gone seconds later."
)


def test_port_60878_text(call, db_2026, good):
    p = port_json(call, db_2026, "60878", "--os", "linux")
    assert p["verdict"]["reasons"][0].startswith("It is in the Dynamic range (49152–65535), which Linux hands")
    listening, label = commands(60878, "linux")
    assert text_lines(call("60878", "--os", "linux", db=db_2026, columns=WIDE)) == [
        *first_lines(p),
        "",
        "Status",
        "  tcp, udp, sctp, dccp:  unassigned, unassigned run 49152–65535",
        "  Range: Dynamic Ports 49152–65535 (dynamic, private or ephemeral ports)",
        *use_section(p),
        *verdict_section(p),
        "",
        f"What is listening on port 60878? ({label})",
        *listening,
        TRANSIENT.format("Linux"),
        "",
        "Free ports nearby",
        "  " + nearby(good, 60878),
    ]
    assert use_section(p), "60878 has a common use in curated/common_uses.csv (Mosh)"


def test_port_22_text_for_macos(call, db_2026, good):
    p = port_json(call, db_2026, "22/tcp", "--os", "macos")
    # IANA's description first, the software people meet there, then whether you can use it and why.
    assert p["lead"].startswith(
        "Port 22 is ssh, “The Secure Shell (SSH) Protocol”, assigned by IANA on tcp, udp and sctp. "
        "Software you will meet there: "
    )
    assert first_lines(p)[1] == "For your own service: avoid. IANA has assigned it to ssh on tcp and udp."
    listening, label = commands(22, "macos")
    assert text_lines(call("22/tcp", "--os", "macos", db=db_2026, columns=WIDE)) == [
        *first_lines(p),
        "",
        "Status",
        "  tcp, udp, sctp:  assigned to ssh",
        "  dccp:            unassigned, unassigned run 10–50",
        "  Range: System Ports 0–1023 (well-known ports)",
        *use_section(p),
        *verdict_section(p),
        "",
        "Registry entries",
        "  - ssh on tcp and udp: The Secure Shell (SSH) Protocol",
        "  - ssh on sctp: SSH",
        "",
        f"What is listening on port 22? ({label})",
        *listening,
        "",
        "Free ports nearby",
        "  " + nearby(good, 22),
    ]
    assert verdict_section(p)[2].endswith(" above listen here."), "the software of 22 is said once, as a count"


def test_port_0_text_for_windows(call, db_2026, good):
    # The first sctp and dccp rows are discard's, on port 9.
    first = {
        t: min(
            int(r["Port Number"].split("-")[0])
            for r in registry.rows()
            if r["Transport Protocol"] == t and r["Port Number"]
        )
        for t in ("sctp", "dccp")
    }
    assert first == {"sctp": 9, "dccp": 9}
    p = port_json(call, db_2026, "0", "--os", "windows")
    listening, label = commands(0, "windows")
    assert text_lines(call("0", "--os", "windows", db=db_2026, columns=WIDE)) == [
        "IANA has reserved port 0 on tcp and udp; the registry says “Reserved”.",
        "For your own service: avoid. "
        "Port 0 cannot be listened on: asking for it makes the operating system pick a free port.",
        "",
        "Status",
        "  tcp, udp:    reserved",
        "  sctp, dccp:  unassigned, unassigned run 0–8",
        "  Range: System Ports 0–1023 (well-known ports)",
        # No software at port 0: nothing said of any.
        "",
        "Can you use port 0?",
        "  - IANA has reserved it on tcp and udp.",
        "  Judged for tcp and udp on Windows; --os chooses the platforms (--os default,freebsd adds FreeBSD).",
        "",
        f"What is listening on port 0? ({label})",
        *listening,
        "",
        "Free ports nearby",
        "  " + nearby(good, 0),
    ]
    assert verdict_section(p)[2:] == ["  - IANA has reserved it on tcp and udp."] + verdict_section(p)[-1:]


@pytest.mark.parametrize("n", [25565, 5000, 8080, 80, 443, 6000, 3000])
def test_a_port_opens_with_the_lead_and_the_verdict(call, db_2026, n):
    p = port_json(call, db_2026, str(n))
    wide = text_lines(call(str(n), db=db_2026, columns=WIDE))
    assert wide[:3] == [*first_lines(p), ""]
    # The software the lead names is not named again beside the level, when anything else can be said.
    if len(p["verdict"]["reasons"]) > p["verdict"]["software_reasons"]:
        assert not any(u["software"] in wide[1] for u in p["common_uses"])
    assert wide[wide.index(f"Can you use port {n}?") - 1 :][: len(verdict_section(p))] == verdict_section(p)


def test_many_common_uses_show_the_first_20(call, db_2026):
    p = port_json(call, db_2026, "8080")
    assert len(p["common_uses"]) > 20, "8080 has more than 20 common uses in curated/common_uses.csv"
    lines = text_lines(call("8080", db=db_2026, columns=WIDE))
    start = lines.index("Software known to use port 8080 (not from IANA)") - 1
    assert lines[start : start + 23] == use_section(p)
    assert lines[start + 22] == f"  ... and {len(p['common_uses']) - 20} more (--json has them all)"


def test_a_good_port_says_so(call, db_2026, good):
    n = next(p for p in good if p > 25000)
    p = port_json(call, db_2026, str(n))
    assert p["verdict"]["reasons"][0].startswith("Unassigned on tcp and udp")
    assert text_lines(call(str(n), db=db_2026, columns=WIDE))[:2] == [
        p["lead"],
        f"For your own service: good. {p['verdict']['reasons'][0]}",
    ]


@pytest.mark.parametrize(
    "n, system, transient",
    [
        # Linux's ephemeral range is 32768-60999; Windows' and macOS's the Dynamic range, 49152-65535.
        (61000, "linux", False),
        (61000, "macos", True),
        (60999, "linux", True),
        (40000, "linux", True),
        (40000, "windows", False),
        (49152, "windows", True),
        (8080, "linux", False),
    ],
)
def test_the_listening_commands_say_when_what_you_see_is_a_temporary_port(call, db_2026, n, system, transient):
    lines = text_lines(call(str(n), "--os", system, db=db_2026, columns=WIDE))
    listening, label = commands(n, system)
    start = lines.index(f"What is listening on port {n}? ({label})") + 1
    tip = [TRANSIENT.format(label)] if transient else []
    assert lines[start : start + len(listening) + len(tip) + 1] == [*listening, *tip, ""]
    assert sum("temporary client port: a connection" in line for line in lines) == transient


def test_registry_entries_that_say_the_same_are_one(call, db_2026):
    lines = text_lines(call("80", db=db_2026, columns=WIDE))
    start = lines.index("Registry entries")
    assert lines[start : start + 4] == [
        "Registry entries",
        "  - http, www and www-http on tcp and udp: World Wide Web HTTP",
        "  - http on sctp: HTTP",
        "",
    ]


def test_port_text_names_the_commands_of_the_os_it_runs_on(call, db_2026):
    lines = text_lines(call("8080", db=db_2026))
    assert sys.platform.startswith("linux"), "the expected lines below are Linux's"
    start = lines.index("What is listening on port 8080? (Linux)")
    assert lines[start : start + 5] == [
        "What is listening on port 8080? (Linux)",
        "  ss -tulpn 'sport = :8080'",
        "  netstat -tuln | grep ':8080 '",
        "  lsof -i :8080",
        "",
    ]
    assert sum(line.startswith("What is listening on port") for line in lines) == 1


def registrations(name: str) -> list[str]:
    found = []
    for r in registry.rows():
        if r["Service Name"].lower() == name:
            at = "no port"
            if r["Port Number"]:
                at = r["Port Number"] + "/" + (r["Transport Protocol"] or "tcp/udp")
            found.append(f"  {at:<18}  {' '.join(r['Description'].split())}".rstrip())
    return found


def matching_section(heading: str, text: str) -> list[str]:
    """Software matching `text` (every word, at a word start): the oracle's, in file order, the first 8."""
    words = re.findall(r"\w+", text.lower())
    found = [
        u
        for u in registry.uses()
        if all(re.search(rf"\b{re.escape(w)}", f"{u['software']} {u['description']}".lower()) for w in words)
    ]
    return section_of(heading, found)


def section_of(heading: str, found: list[dict]) -> list[str]:
    if not found:
        return []
    lines = ["", f"{heading} (not from IANA)", *(use_line(u, source=False) for u in found[:8])]
    if len(found) > 8:
        lines.append(f"  ... and {len(found) - 8} more (--json has them all)")
    return lines


def uses_section(heading: str, service: str, db) -> list[str]:
    """The service's common uses as the text shows them: the first 8 of the JSON's (whose order
    tests/web/test_one_product.py checks against the curated file), then how many more."""
    store = Store.open(db)
    try:
        return section_of(heading, read.service(store, service)["common_uses"])
    finally:
        store.close()


def test_service_text_with_aliases(call, db_2026):
    assert text_lines(call("HTTP", db=db_2026, columns=WIDE)) == [
        "http: World Wide Web HTTP. IANA lists it on 80/tcp/udp/sctp. Aliases: www, www-http.",
        "",
        "Registry entries",
        *registrations("http"),
        *uses_section("Software on its ports or naming “http”", "http", db_2026),
    ]
    assert registrations("http") == [
        "  80/tcp              World Wide Web HTTP",
        "  80/udp              World Wide Web HTTP",
        "  80/sctp             HTTP",
    ]
    assert uses_section("", "http", db_2026)[-1].startswith("  ... and "), "http has more than 8 common uses"


def test_service_text_historic_alias(call, db_2026):
    assert text_lines(call("whois++", db=db_2026, columns=WIDE)) == [
        "whois++: whois++. IANA lists it on 63/tcp/udp. IANA marks this name historic. An alias of whoispp.",
        "",
        "Registry entries",
        "  63/tcp              whois++",
        "  63/udp              whois++",
        *uses_section("Software on its ports or naming “whois++”", "whois++", db_2026),
    ]


def test_service_text_without_a_description(call, db_2026):
    # The registry's row for "search" has no description.
    assert text_lines(call("lookup", "search", db=db_2026, columns=WIDE))[:5] == [
        "search: no description in the registry. IANA lists it on 2010/tcp.",
        "",
        "Registry entries",
        "  2010/tcp",
        "",
    ]


def test_search_text_for_ports(call, db_2026):
    assert text_lines(call("search", "6000-6002", "--transport", "tcp", db=db_2026)) == [
        "Port 6000: assigned (x11), verdict avoid",
        "Port 6001: assigned (x11), verdict avoid",
        "Port 6002: assigned (x11), verdict avoid",
        '1 registry row matches "6000-6002" on tcp; showing 1-1:',
        "  6000-6063/tcp      x11              X Window System",
    ]


def test_search_text_pages(call, db_2026):
    lines = text_lines(call("search", "http", db=db_2026, columns=WIDE))
    count = json.loads(answered(call("search", "http", "--json", db=db_2026)))["count"]
    assert lines[0] == f'{count} registry rows match "http"; showing 1-50:'
    assert lines[1:4] == [
        "  80/tcp             http             World Wide Web HTTP",
        "  80/udp             http             World Wide Web HTTP",
        "  80/sctp            http             HTTP",
    ]
    assert lines[51] == "More: iana-ports search http --next 50"
    assert lines[52:] == matching_section("Software matching “http”", "http")


def test_lists_cut_descriptions_at_a_word(call, db_2026):
    """A list shows 60 characters of a description at most, ending at a word."""
    # IANA's notes on its replacement names make long descriptions.
    rows = json.loads(answered(call("search", "replacement", "--json", db=db_2026)))["rows"]
    lines = text_lines(call("search", "replacement", db=db_2026, columns=WIDE))[1:51]
    cut = 0
    for row, line in zip(rows, lines, strict=True):
        description = " ".join(row["description"].split())
        prefix = f"  {row['port']}/{row['transport']:<{17 - len(row['port'])}} {row['service_name']:<16} "
        if not row["transport"] or not line.startswith(prefix):
            continue
        shown = line[len(prefix) :]
        if len(description) <= 60:
            assert shown == description
        else:
            cut += 1
            assert shown.endswith(" ...") and len(shown) <= 60, shown
            assert description.startswith(shown[:-4]) and description[len(shown) - 4] == " "
    assert cut, "some description of the first page is longer than 60 characters"


def test_lookup_of_words_only_in_common_uses(call, db_2026):
    assert text_lines(call("minecraft", db=db_2026, columns=WIDE)) == [
        'No registry rows match "minecraft".',
        *matching_section("Software matching “minecraft”", "minecraft"),
    ]
    assert len(matching_section("", "minecraft")) > 3


def test_free_text(call, db_2026, good):
    nearest = sorted(good, key=lambda p: (abs(p - 8000), p))[:3]
    assert text_lines(call("free", "--near", "8000", "--count", "3", db=db_2026)) == [
        # 80 columns, unless told otherwise.
        "Free ports near 8000 for your own tcp and udp service (Linux, Windows, macOS),",
        "nearest first:",
        *[f"  {p:>5}  ({abs(p - 8000)} away)" for p in nearest],
    ]


def test_free_text_says_why_nothing_is_near(call, db_2026):
    found = json.loads(answered(call("free", "--near", "40000", "--count", "2", "--json", db=db_2026)))
    assert found["note"].startswith("32768–65535 is handed out as temporary client ports")
    assert text_lines(call("free", "--near", "40000", "--count", "2", db=db_2026, columns=WIDE)) == [
        "Free ports near 40000 for your own tcp and udp service (Linux, Windows, macOS), nearest first:",
        *[f"  {p['port']:>5}  ({p['distance']} away)" for p in found["ports"]],
        f"Note: {found['note']}",
    ]


def test_changes_text(call, history_db):
    conn = sqlite3.connect(history_db)
    conn.row_factory = sqlite3.Row
    try:
        changes = conn.execute(
            """select changes.ingest, changes.id, changes.kind, changes.summary, changes.new,
                      previous.newest_registration_date as previous_date,
                      ingests.newest_registration_date as registry_date
               from changes join ingests on ingests.id = changes.ingest
               join ingests as previous on previous.id = changes.previous_ingest
               where changes.kind = 'renamed' order by changes.ingest desc, changes.id"""
        ).fetchall()
    finally:
        conn.close()
    dated = []
    for c in changes:
        new = json.loads(c["new"])
        own = max(new["registration_date"] or "", new["modification_date"] or "")
        date = own if own > c["previous_date"] else c["registry_date"]
        dated.append((c["ingest"], date, c["id"], f"  {date:<10} renamed   {c['summary']}"))
    # Newest ingest first, then newest date, then registry order.
    dated.sort(key=lambda d: d[2])
    dated.sort(key=lambda d: d[1], reverse=True)
    dated.sort(key=lambda d: d[0], reverse=True)
    expected = [d[3] for d in dated]
    assert len(expected) >= 8
    assert text_lines(call("changes", "--kind", "renamed", db=history_db, columns=WIDE)) == expected
    paged = text_lines(call("changes", "--kind", "renamed", "--size", "3", db=history_db, columns=WIDE))
    # The keyset of the page's last change: its ingest, date and id.
    ingest, date, change_id, _ = dated[2]
    assert paged == [*expected[:3], f"More: add --next {ingest}.{date}.{change_id}"]
    rest = text_lines(
        call("changes", "--kind", "renamed", "--next", f"{ingest}.{date}.{change_id}", db=history_db, columns=WIDE)
    )
    assert rest == expected[3:]


def test_changes_text_when_there_are_none(call, db_2026):
    assert text_lines(call("changes", db=db_2026)) == ["No changes match."]


def test_help_exits_0(call, capsysbinary):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    out, err = capsysbinary.readouterr()
    assert (exit_.value.code, err) == (0, b"")
    assert out.startswith(b"usage: iana-ports [-h] COMMAND ...\n")
    for command in (b"lookup", b"search", b"free", b"changes", b"export"):
        assert b"\n    " + command + b" " in out


# Wrapping: to the terminal's width, at spaces only

FORMS = [
    (["22"], "db"),
    (["25565"], "db"),
    (["60878"], "db"),
    (["8080"], "db"),
    (["0"], "db"),
    (["5000"], "db"),
    (["ssh"], "db"),
    (["http"], "db"),
    (["whois++"], "db"),
    (["minecraft"], "db"),
    (["6000-6002"], "db"),
    (["search", "http"], "db"),
    (["search", "remote", "desktop"], "db"),
    (["free", "--near", "40000"], "db"),
    (["free", "--near", "100"], "db"),
    (["changes"], "history"),
    (["changes", "--kind", "renamed"], "history"),
]


def unbreakable(line: str) -> bool:
    """A line longer than the width may hold only one word (after its list bullet): one too long to fit."""
    words = line.split()
    return len(words) == 1 or (len(words) == 2 and words[0] == "-")


@pytest.mark.parametrize("columns", [60, 100])
@pytest.mark.parametrize("args, which", FORMS)
def test_text_wraps_to_the_width_and_never_inside_a_word(call, db_2026, history_db, args, which, columns):
    db = db_2026 if which == "db" else history_db
    wide = answered(call(*args, db=db, columns=WIDE)).decode()
    narrow = answered(call(*args, db=db, columns=columns)).decode()
    # The same words in the same order: wrapping only moved line breaks, split nothing.
    assert narrow.split() == wide.split()
    lines = narrow[:-1].split("\n")
    assert len(lines) >= len(wide[:-1].split("\n"))
    too_long = [line for line in lines if len(line) > columns]
    assert all(unbreakable(line) for line in too_long), too_long
    assert [line for line in lines if line != line.rstrip()] == []
    if columns == 60 and args in (["22"], ["8080"], ["search", "http"]):
        assert max(map(len, wide.split("\n"))) > columns, "this form has something to wrap"
        assert len(lines) > len(wide.split("\n"))


def test_wrapped_lines_hang_under_their_item(call, db_2026):
    p = port_json(call, db_2026, "22")
    lines = text_lines(call("22", db=db_2026, columns=60))
    # The System-port reason, its continuation indented under its text, CAP_NET_BIND_SERVICE whole.
    start = lines.index("  - It is a System port: on Linux and other Unix-like")
    assert lines[start + 1 : start + 3] == ["    systems, listening on it needs root or", "    CAP_NET_BIND_SERVICE."]
    # The lead wrapped as a paragraph, the verdict starting a line of its own.
    verdict = lines.index("For your own service: avoid. IANA has assigned it to ssh on")
    assert lines[verdict + 1 : verdict + 3] == ["tcp and udp.", ""]
    assert " ".join(lines[:verdict]) == p["lead"]
    assert lines[0] == "Port 22 is ssh, “The Secure Shell (SSH) Protocol”, assigned"
    assert all(len(line) <= 60 for line in lines[: verdict + 2])
    # A search row's description continues under the description column.
    rows = text_lines(call("search", "https", db=db_2026, columns=60))
    start = rows.index("  443/tcp            https            http protocol over")
    assert rows[start + 1] == " " * 38 + "TLS/SSL"


def test_a_narrow_terminal_is_taken_as_40_columns(call, db_2026):
    lines = text_lines(call("22", db=db_2026, columns=10))
    assert lines == text_lines(call("22", db=db_2026, columns=40))
    assert max(len(line) for line in lines if not unbreakable(line)) <= 40


# Colour: on a terminal, unless NO_COLOR or --color=never; always with --color=always


def test_colour_always(call, db_2026):
    lines = text_lines(call("22", "--color=always", db=db_2026, columns=WIDE))
    assert lines[1] == f"For your own service: {RED[0]}avoid{RED[1]}. IANA has assigned it to ssh on tcp and udp."
    for heading in (
        "Status",
        "Software known to use port 22 (not from IANA)",
        "Can you use port 22?",
        "Registry entries",
        "What is listening on port 22? (Linux)",
        "Free ports nearby",
    ):
        assert f"{BOLD[0]}{heading}{BOLD[1]}" in lines, heading
    # Without the codes, the same text as without colour.
    plain = text_lines(call("22", "--color", "never", db=db_2026, columns=WIDE))
    assert [ESCAPE.sub("", line) for line in lines] == plain
    assert not any("\x1b" in line for line in plain)
    # The codes are not counted as width: the same lines at 60 columns.
    narrow = text_lines(call("22", "--color=always", db=db_2026, columns=60))
    assert [ESCAPE.sub("", line) for line in narrow] == text_lines(call("22", db=db_2026, columns=60))


@pytest.mark.parametrize("level, style", [("caution", YELLOW), ("good", GREEN)])
def test_colour_per_level(call, db_2026, good, level, style):
    n = 25565 if level == "caution" else next(p for p in good if p > 25000)
    p = port_json(call, db_2026, str(n))
    assert p["verdict"]["level"] == level
    lines = text_lines(call(str(n), "--color", "always", db=db_2026, columns=WIDE))
    assert lines[1] == f"For your own service: {style[0]}{level}{style[1]}. {main_reason(p['verdict'])}"


def test_search_colours_each_ports_verdict(call, db_2026, good):
    n = next(p for p in good if p > 25000)
    lines = text_lines(call("search", f"22,25565,{n}", "--color", "always", db=db_2026, columns=WIDE))
    assert [line.rsplit(", ", 1)[1] for line in lines[:3]] == [
        f"verdict {RED[0]}avoid{RED[1]}",
        f"verdict {YELLOW[0]}caution{YELLOW[1]}",
        f"verdict {GREEN[0]}good{GREEN[1]}",
    ]


@pytest.mark.parametrize("env", [{}, {"NO_COLOR": "1"}, {"TERM": "xterm-256color"}])
def test_no_colour_when_not_a_terminal(call, db_2026, monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for args in (["22"], ["search", "22"], ["22", "--color", "auto"]):
        assert b"\x1b" not in answered(call(*args, db=db_2026))


def test_colour_always_wins_over_no_color(call, db_2026, monkeypatch):
    # NO_COLOR is a default a person set once; a flag typed now overrides it (no-color.org).
    monkeypatch.setenv("NO_COLOR", "1")
    assert RED[0].encode() in answered(call("22", "--color", "always", db=db_2026))


def on_a_terminal(script, db, *args, env) -> bytes:
    """The installed command's output on a real pseudo-terminal."""
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM", "IANA_PORTS_DB")}
    environ.update(env, COLUMNS="100")
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [str(script), *args, "--db", str(db)], stdout=follower, stderr=subprocess.PIPE, env=environ
        )
    finally:
        os.close(follower)
    out = b""
    try:
        while select.select([leader], [], [], 60)[0]:
            chunk = os.read(leader, 65536)
            if not chunk:
                break
            out += chunk
    except OSError:  # Linux: EIO once the command has closed the terminal
        pass
    finally:
        os.close(leader)
    assert (proc.wait(60), proc.stderr.read()) == (0, b"")
    proc.stderr.close()
    return out


def test_colour_on_a_terminal_unless_no_color_or_never(script, db_2026):
    coloured = on_a_terminal(script, db_2026, "22", env={"TERM": "xterm"})
    assert f"For your own service: {RED[0]}avoid{RED[1]}.".encode() in coloured
    assert (
        on_a_terminal(script, db_2026, "22", env={"TERM": "xterm", "NO_COLOR": "1"})
        == ESCAPE.sub("", coloured.decode()).encode()
    )
    assert b"\x1b" not in on_a_terminal(script, db_2026, "22", "--color=never", env={"TERM": "xterm"})


# Errors: one line on stderr, nothing on stdout, the exit status says which kind


def one_line(result) -> tuple[int, str]:
    status, out, err = result
    assert out == b""
    err = err.decode()
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return status, err[:-1]


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
    (
        ["22", "--os", "plan9"],
        2,
        "os must be some of default, linux, windows, macos, freebsd, windows_legacy (comma-separated).",
    ),
    (
        ["22", "--color", "sometimes"],
        2,
        "argument --color: invalid choice: 'sometimes' (choose from 'never', 'auto', 'always') "
        "(see iana-ports lookup --help)",
    ),
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
def test_errors(call, db_2026, args, status, message):
    assert one_line(call(*args, db=db_2026)) == (status, f"iana-ports: {message}")


def test_errors_on_history(call, history_db):
    # An old name's lookup says what it became, as its page's 404 does.
    for args in (["pearldoc-xact"], ["pearldoc-xact/tcp", "--json"]):
        assert one_line(call(*args, db=history_db)) == (
            1,
            "iana-ports: No service by that name in the IANA registry: it was renamed to panquest-xact.",
        )


def test_no_arguments_prints_usage(call):
    assert call() == (2, b"", b"usage: iana-ports [-h] COMMAND ...\n")


def test_missing_database(call, tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "iana.db"
    assert one_line(call("22", db=missing)) == (3, f"iana-ports: no database at {missing}: {HINT}")
    monkeypatch.setenv("IANA_PORTS_DB", str(missing))
    assert one_line(call("22")) == (3, f"iana-ports: no database at {missing}: {HINT}")
    # Nothing said at all, nothing at data/iana.db where it runs, no user's copy, no wheel's build.
    monkeypatch.delenv("IANA_PORTS_DB")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.setattr(databases, "BUNDLED", tmp_path / "no-wheel" / "iana.db.xz")
    assert one_line(call("ssh")) == (3, f"iana-ports: no database at data/iana.db: {HINT}")


def test_database_is_a_folder(call, tmp_path):
    assert one_line(call("22", db=tmp_path)) == (3, f"iana-ports: {tmp_path} is not a file: {HINT}")


@pytest.mark.parametrize(
    "content, why",
    [
        (b"port,service\n22,ssh\n" * 100, "not a registry database (file is not a database)"),
        (b"", "not a registry database built by this version of iana-ports"),
        (None, "not a registry database built by this version of iana-ports"),
    ],
)
def test_file_that_is_not_a_build(call, tmp_path, content, why):
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
        assert one_line(call(*args, db=path)) == (3, f"iana-ports: {path} is {why}: {HINT}")
    assert not (tmp_path / "x").exists()


def test_build_that_cannot_answer(call, db_2026, tmp_path):
    damaged = tmp_path / "iana.db"
    damaged.write_bytes(db_2026.read_bytes())
    conn = sqlite3.connect(damaged)
    conn.execute("drop table services")
    conn.commit()
    conn.close()
    assert one_line(call("ssh", db=damaged)) == (3, "iana-ports: the database cannot answer: no such table: services")


def test_exports_that_cannot_be_written(call, db_2026, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way\n")
    assert one_line(call("export", "--out", blocker, db=db_2026)) == (
        4,
        f"iana-ports: cannot write {blocker}: File exists",
    )
    assert one_line(call("export", "--out", blocker / "exports", db=db_2026)) == (
        4,
        f"iana-ports: cannot write {blocker / 'exports'}: Not a directory",
    )
    assert blocker.read_text() == "in the way\n"


def test_a_reader_that_leaves_early(script, db_2026):
    """`iana-ports search http --json | head -c 1`: no traceback, no complaint."""
    proc = subprocess.Popen(
        [str(script), "search", "http", "--json", "--db", str(db_2026)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
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
        ["22", "--db", db],
        ["22", "--json", "--db", db],
        ["ssh", "--db", db],
        ["postgres", "--json", "--db", db],
        ["search", "http", "--db", db],
        ["free", "--near", "8000", "--json", "--db", db],
        ["changes", "--db", history],
        ["changes", "--json", "--db", history],
        ["export", "--out", str(tmp_path / "exports"), "--db", db],
        ["70000", "--db", db],
        ["zzzzqqq", "--db", db],
        ["22", "--db", str(tmp_path / "missing.db")],
    ]
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_CHECK, json.dumps(forms), str(report)],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(report.read_text()) == {"statuses": [0] * 9 + [2, 1, 3], "loaded": []}
