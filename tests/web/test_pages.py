"""iana_ports/web/pages.py: the site's pages and their JSON, through a real Datasette.

Expected registry rows come from reading the snapshot with the standard
library's csv module (line numbers looked up by hand), not from ingest/;
expected common uses from curated/common_uses.csv read the same way.
"""

import csv
import html
import re
import sqlite3
import struct
import zlib
from urllib.parse import quote

import pytest


from deploy.harness import SNAPSHOT_2026
from iana_ports import read
from iana_ports.facts import COMMON_USES_CSV, RANGES
from iana_ports.store import Store
from iana_ports.text import and_list
from iana_ports.verdict import use_order

EXPLANATION = {r["name"]: r["explanation"] for r in RANGES}
# The header's link home, on every page the site serves.
SITE_NAME = (
    '<a class="site-name" href="/"><img class="site-icon" src="/icon.svg" alt="" width="24" height="24">IANA ports</a>'
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


def snapshot_rows() -> dict[int, dict]:
    """CSV line number -> the whole registrations row it should become."""
    rows = {}
    with open(SNAPSHOT_2026, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        next(reader)
        line = reader.line_num + 1
        for row_id, values in enumerate(reader, 1):
            rec = {k: (v or None) for k, v in zip(FIELDS, values)}
            # The port column keeps its raw text, "" included.
            rec["port"] = values[1]
            low, _, high = rec["port"].partition("-")
            rows[line] = {
                "id": row_id,
                "service_name": rec["service_name"],
                "service_key": rec["service_name"].lower() if rec["service_name"] else None,
                "port": rec["port"],
                "port_low": int(low) if low else None,
                "port_high": int(high or low) if low else None,
                **{k: rec[k] for k in FIELDS[2:]},
                "line": line,
            }
            line = reader.line_num + 1
    return rows


@pytest.fixture(scope="module")
def csv_line():
    return snapshot_rows()


def rng(name, common_name, first, last, assignment):
    return {
        "name": name,
        "common_name": common_name,
        "first": first,
        "last": last,
        "size": last - first + 1,
        "assignment": assignment,
        "explanation": EXPLANATION[name],
    }


SYSTEM = ("System Ports", "Well-known ports", 0, 1023, "IETF Review or IESG Approval")
USER = ("User Ports", "Registered ports", 1024, 49151, "IETF Review, IESG Approval or Expert Review")
DYNAMIC = (
    "Dynamic Ports",
    "Dynamic, private or ephemeral ports",
    49152,
    65535,
    "Never assigned (RFC 6335 section 8.1.2)",
)
EPHEMERAL = {
    "linux": {
        "os": "linux",
        "label": "Linux",
        "first": 32768,
        "last": 60999,
        "history": "since Linux 4.2 (2015); before: 32768-61000",
        "check": "sysctl net.ipv4.ip_local_port_range",
    },
    "windows": {
        "os": "windows",
        "label": "Windows",
        "first": 49152,
        "last": 65535,
        "history": "since Windows Vista / Server 2008; before: 1025-5000",
        "check": "netsh int ipv4 show dynamicport tcp",
    },
    "macos": {
        "os": "macos",
        "label": "macOS",
        "first": 49152,
        "last": 65535,
        "history": "",
        "check": "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
    },
    "freebsd": {
        "os": "freebsd",
        "label": "FreeBSD",
        "first": 10000,
        "last": 65535,
        "history": "",
        "check": "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
    },
}


def firewall_lines(n):
    """The lines that open port n on tcp and udp, as each tool's documentation writes them (their
    syntax is checked by the tools' own parsers in tests/core/test_firewall.py)."""
    both = ("tcp", "udp")
    return {
        "ufw": [f"ufw allow {n}/{t}" for t in both],
        "firewalld": [f"firewall-cmd --permanent --add-port={n}/{t}" for t in both] + ["firewall-cmd --reload"],
        "nftables": [f"nft insert rule inet filter input {t} dport {n} accept" for t in both],
        "iptables": [f"{c} -I INPUT -p {t} --dport {n} -j ACCEPT" for t in both for c in ("iptables", "ip6tables")],
        "windows": [
            f'New-NetFirewallRule -DisplayName "Port {n}/{t}" -Direction Inbound -Protocol {t.upper()} '
            f"-LocalPort {n} -Action Allow"
            for t in both
        ],
    }


def commands(n):
    # Exact matches only: ":22 " (Linux, Windows) and ".22 " (macOS prints *.22),
    # so port 22 does not also find 220, 2222 or 10.0.0.22.
    return {
        "linux": [f"ss -tulpn 'sport = :{n}'", f"netstat -tuln | grep ':{n} '", f"lsof -i :{n}"],
        "macos": [f"lsof -nP -i :{n}", f"netstat -an | grep '\\.{n} '"],
        "windows": [
            f'netstat -ano | findstr /R /C:":{n} "',
            f"Get-NetTCPConnection -LocalPort {n}",
            f"Get-NetUDPEndpoint -LocalPort {n}",
        ],
    }


def transport(status, services=(), run=None):
    return {
        "status": status,
        "services": list(services),
        "unassigned_run": {"first": run[0], "last": run[1]} if run else None,
    }


def rfc(registration_id, number, position=0):
    return {
        "registration_id": registration_id,
        "position": position,
        "reference": f"RFC{number}",
        "kind": "rfc",
        "url": f"https://www.rfc-editor.org/rfc/rfc{number}",
        "type": None,  # the registry XML's type; this build is the CSV's alone
    }


def guessed(*pairs):
    """`people` of a build from the CSV alone: each id's name as the rule reads it, labelled so."""
    return {pid: {"name": name, "org": None, "from": "id"} for pid, name in pairs}


def neighbours(n, below, above):
    return {
        "previous": n - 1 if n > 0 else None,
        "next": n + 1 if n < 65535 else None,
        "assigned_below": {"port": below[0], "services": below[1]} if below else None,
        "assigned_above": {"port": above[0], "services": above[1]} if above else None,
    }


def uses_at(n: int, as_pages_order=True) -> list[dict]:
    """The common uses covering port n, straight from the curated CSV (in file order, or as port pages order them)."""
    with open(COMMON_USES_CSV, newline="", encoding="utf-8") as f:
        found = []
        for row in csv.DictReader(f):
            low, _, high = row["port"].partition("-")
            first, last = int(low), int(high or low)
            if first <= n <= last:
                found.append(
                    {
                        "software": row["software"],
                        "kind": row["kind"],
                        "description": row["description"],
                        "transports": [t for t in ("tcp", "udp", "sctp", "dccp") if t in row["transports"].split()],
                        "first": first,
                        "last": last,
                        "category": row["category"],
                        "source": row["source"],
                        "checked": row["checked"],
                    }
                )
    # Port pages list them as the verdict weighs them (iana_ports.verdict.use_order, tested in tests/core).
    return sorted(found, key=use_order) if as_pages_order else found


def uses_named(word: str) -> list[dict]:
    """Common uses with `word` starting a word of their software or description."""
    return [
        u
        for n in sorted({int(r.split(",")[0].split("-")[0]) for r in open(COMMON_USES_CSV).read().splitlines()[1:]})
        for u in uses_at(n, as_pages_order=False)
        if u["first"] == n and re.search(rf"\b{re.escape(word)}", f"{u['software']} {u['description']}".lower())
    ]


SYSTEM_REASON = (
    "It is a System port: on Linux and other Unix-like systems, listening on it needs root or CAP_NET_BIND_SERVICE."
)
BROWSER_REASON = (
    "Browsers refuse to connect to it (the Fetch standard's bad ports; Chrome shows ERR_UNSAFE_PORT): "
    "nothing a browser must reach can listen here."
)
DYNAMIC_REASON = (
    "It is in the Dynamic range (49152–65535), which Linux, Windows and macOS hand out as temporary client ports: "
    "an outgoing connection may already hold it."
)
TARGETS = ["linux", "windows", "macos"]


def verdict(level: str, reasons: list[str], software: int = 0, notes=(), blocked=False) -> dict:
    return {
        "level": level,
        "reasons": reasons,
        "software_reasons": software,
        "notes": list(notes),
        "targets": TARGETS,
        "browser_blocked": blocked,
    }


@pytest.fixture(scope="module")
def read_side(db_2026):
    """The read side's facts of a port: what the page's JSON must serve (their wording is
    pinned by tests/core/test_read.py and tests/core/test_text.py)."""
    store = Store.open(db_2026)
    yield lambda n: read.port(store, n)
    store.close()


@pytest.fixture(scope="module")
def good_ports(db_2026) -> list[int]:
    """Ports whose build verdict is good (the column itself is tested in tests/ingest/test_model.py)."""
    conn = sqlite3.connect(db_2026)
    try:
        return [r[0] for r in conn.execute("select port from ports where verdict = 'good' order by port")]
    finally:
        conn.close()


def free_nearby(good: list[int], n: int) -> dict:
    below = [p for p in reversed(good) if p < n][:3]
    above = [p for p in good if p > n][:3]
    return {
        "below": [{"port": p, "distance": n - p} for p in below],
        "above": [{"port": p, "distance": p - n} for p in above],
    }


def text(fragment: str) -> str:
    """What a reader sees of an HTML fragment: tags dropped, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", fragment)).split())


def lede(page: str) -> str:
    return text(re.search(r'<p class="lede">(.*?)</p>', page, re.S).group(1))


async def get_json(datasette, path, status=200):
    response = await datasette.client.get(path)
    assert response.status_code == status, (path, response.text[:500])
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.json()


async def test_port_60878_json(datasette, good_ports):
    assert await get_json(datasette, "/ports/60878.json") == {
        "port": 60878,
        "lead": "Port 60878 is unassigned, with no RFC, protocol or owner, by design: it is in the Dynamic range "
        "(49152–65535), 16,384 ports IANA never assigns. Software that may use it: Mosh and "
        "Windows Remote Procedure Call (RPC).",
        "status": "unassigned",
        "registry_words": None,
        "range": rng(*DYNAMIC),
        "transports": {t: transport("unassigned", run=(49152, 65535)) for t in ("tcp", "udp", "sctp", "dccp")},
        "services": [],
        "registrations": [],
        "references": [],
        "people": {},
        "footnotes": [],
        "apply": None,
        "ephemeral": [EPHEMERAL[o] for o in ("linux", "windows", "macos", "freebsd")],
        "unassigned_run": {"first": 49152, "last": 65535},
        "neighbours": neighbours(60878, (49150, ["inspider"]), None),
        "commands": commands(60878),
        "firewall": firewall_lines(60878),
        "verdict": verdict(
            "caution",
            [DYNAMIC_REASON],
            notes=[
                "It is inside the 60000–61000 block Mosh draws ports from (mosh-server mobile shell sessions).",
                "It is inside the 49152–65535 block Windows Remote Procedure Call (RPC) draws ports from "
                "(dynamically assigned high ports for RPC services (Vista/Server 2008 and later)).",
            ],
        ),
        "common_uses": uses_at(60878),
        "free_nearby": free_nearby(good_ports, 60878),
        # One ingest: nothing happened yet (tests/web/test_timeline.py has the history).
        "timeline": [],
    }


async def test_port_22_json(datasette, good_ports, csv_line, read_side):
    facts = read_side(22)
    assert facts["verdict"]["reasons"][facts["verdict"]["software_reasons"] :] == [
        "IANA has assigned it to ssh on tcp and udp.",
        BROWSER_REASON,
        SYSTEM_REASON,
    ]
    assert await get_json(datasette, "/ports/22.json") == {
        "port": 22,
        "lead": facts["lead"],
        "status": "assigned",
        "registry_words": None,
        "range": rng(*SYSTEM),
        "transports": {
            "tcp": transport("assigned", ["ssh"]),
            "udp": transport("assigned", ["ssh"]),
            "sctp": transport("assigned", ["ssh"]),
            "dccp": transport("unassigned", run=(10, 50)),
        },
        "services": ["ssh"],
        "registrations": [csv_line[50], csv_line[51], csv_line[52]],
        "references": [rfc(49, 4251), rfc(50, 4251), rfc(51, 9260)],
        "people": guessed(("Randall_Stewart", "Randall Stewart")),
        "footnotes": [],
        "apply": None,
        "ephemeral": [],
        "unassigned_run": None,
        "neighbours": neighbours(22, (21, ["ftp"]), (23, ["telnet"])),
        "commands": commands(22),
        "firewall": firewall_lines(22),
        "verdict": facts["verdict"],
        "common_uses": uses_at(22),
        "free_nearby": free_nearby(good_ports, 22),
        # One ingest: nothing happened yet (tests/web/test_timeline.py has the history).
        "timeline": [],
    }


async def test_port_80_json(datasette, good_ports, csv_line, read_side):
    names = ["http", "www", "www-http"]
    found = await get_json(datasette, "/ports/80.json")
    facts = read_side(80)
    software = list(dict.fromkeys(u["software"] for u in uses_at(80)))
    assert (
        found.pop("lead")
        == facts["lead"]
        == (
            "Port 80 is http, “World Wide Web HTTP”, assigned by IANA on tcp, udp and sctp (also www and www-http). "
            f"Software you will meet there: {and_list(software[:4] + [f'{len(software) - 4} more'])}."
        )
    )
    assert found == {
        "port": 80,
        "status": "assigned",
        "registry_words": None,
        "range": rng(*SYSTEM),
        "transports": {
            "tcp": transport("assigned", names),
            "udp": transport("assigned", names),
            "sctp": transport("assigned", ["http"]),
            "dccp": transport("unassigned", run=(52, 224)),
        },
        "services": names,
        "registrations": [csv_line[n] for n in (184, 185, 186, 187, 188, 209, 230)],
        "references": [rfc(171, 9110), rfc(172, 9110), rfc(173, 9110), rfc(174, 9110), rfc(177, 9260)],
        "people": guessed(
            ("IESG", "IESG"),
            ("IETF_Chair", "IETF Chair"),
            ("Tim_Berners_Lee", "Tim Berners Lee"),
            ("Randall_Stewart", "Randall Stewart"),
        ),
        "footnotes": [],
        "apply": None,
        "ephemeral": [],
        "unassigned_run": None,
        "neighbours": neighbours(80, (79, ["finger"]), (82, ["xfer"])),
        "commands": commands(80),
        "firewall": firewall_lines(80),
        "verdict": facts["verdict"],
        "common_uses": uses_at(80),
        "free_nearby": free_nearby(good_ports, 80),
        # One ingest: nothing happened yet (tests/web/test_timeline.py has the history).
        "timeline": [],
    }


# 6400-6513 holds only legacy transport-less named rows, which no longer speak for sctp
# or dccp (registry notes), so 6010's free runs there reach the next sctp/dccp row.
SCTP_RUN_6010 = (5915, 6566)
DCCP_RUN_6010 = (5006, 6513)


async def test_port_6010_json_inside_the_x11_range(datasette, good_ports, csv_line, read_side):
    facts = read_side(6010)
    assert facts["lead"].startswith("Port 6010 is x11, “X Window System”, assigned by IANA on tcp and udp.")
    assert await get_json(datasette, "/ports/6010.json") == {
        "port": 6010,
        "lead": facts["lead"],
        "status": "assigned",
        "registry_words": None,
        "range": rng(*USER),
        "transports": {
            "tcp": transport("assigned", ["x11"]),
            "udp": transport("assigned", ["x11"]),
            "sctp": transport("unassigned", run=SCTP_RUN_6010),
            "dccp": transport("unassigned", run=DCCP_RUN_6010),
        },
        "services": ["x11"],
        "registrations": [csv_line[10225], csv_line[10226]],
        "references": [],
        "people": guessed(("Stephen_Gildea", "Stephen Gildea")),
        "footnotes": [],
        "apply": None,
        "ephemeral": [],
        "unassigned_run": None,
        "neighbours": neighbours(6010, (6009, ["x11"]), (6011, ["x11"])),
        "commands": commands(6010),
        "firewall": firewall_lines(6010),
        "verdict": facts["verdict"],
        "common_uses": uses_at(6010),
        "free_nearby": free_nearby(good_ports, 6010),
        # One ingest: nothing happened yet (tests/web/test_timeline.py has the history).
        "timeline": [],
    }
    assert csv_line[10225]["unauthorized_use"] == "Known Unauthorized Use on port 6003"


async def test_port_716_json_udp_only(datasette, good_ports, csv_line):
    assert await get_json(datasette, "/ports/716.json") == {
        "port": 716,
        "lead": "Port 716 is pana, “PANA Messages”, assigned by IANA on udp.",
        "status": "assigned",
        "registry_words": None,
        "range": rng(*SYSTEM),
        "transports": {
            "tcp": transport("unassigned", run=(716, 728)),
            "udp": transport("assigned", ["pana"]),
            "sctp": transport("unassigned", run=(660, 1010)),
            "dccp": transport("unassigned", run=(660, 1010)),
        },
        "services": ["pana"],
        "registrations": [csv_line[1459]],
        "references": [rfc(1340, 5191)],
        "people": {},
        "footnotes": [],
        "apply": None,
        "ephemeral": [],
        "unassigned_run": None,
        "neighbours": neighbours(716, (715, ["iris-lwz"]), (729, ["netviewdm1"])),
        "commands": commands(716),
        "firewall": firewall_lines(716),
        "verdict": verdict("avoid", ["IANA has assigned it to pana on udp.", SYSTEM_REASON]),
        "common_uses": uses_at(716),
        "free_nearby": free_nearby(good_ports, 716),
        # One ingest: nothing happened yet (tests/web/test_timeline.py has the history).
        "timeline": [],
    }


async def test_port_json_has_cors(datasette):
    response = await datasette.client.get("/ports/22.json")
    assert response.headers["access-control-allow-origin"] == "*"


async def test_port_0_and_65535_have_one_neighbour(datasette):
    first = await get_json(datasette, "/ports/0.json")
    last = await get_json(datasette, "/ports/65535.json")
    assert (first["status"], first["registry_words"]) == ("reserved", "Reserved")
    assert first["neighbours"]["previous"] is None and first["neighbours"]["assigned_below"] is None
    assert last["neighbours"]["next"] is None and last["neighbours"]["assigned_above"] is None
    assert last["neighbours"]["previous"] == 65534


async def test_port_60878_page_explains_range_and_commands(datasette):
    response = await datasette.client.get("/ports/60878")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<h1>Port 60878</h1>" in page
    assert lede(page).startswith("Port 60878 is unassigned, with no RFC, protocol or owner, by design:")
    # The three ranges side by side, this one marked, in a line each.
    assert [text(li) for li in re.findall(r'<li class="range-line.*?</li>', page, re.S)] == [
        "0–1023 System Ports: HTTP, SMTP, DNS and the like; listening needs root or CAP_NET_BIND_SERVICE.",
        "1024–49151 User Ports: registered to applications on request; where a service of your own belongs.",
        "49152–65535 Dynamic Ports (this port): never assigned, free for anyone; systems hand them out as "
        "temporary client ports, released and reused constantly.",
    ]
    assert EXPLANATION["Dynamic Ports"] in page
    for os_label in ("Linux: 32768–60999", "Windows: 49152–65535", "macOS: 49152–65535", "FreeBSD: 10000–65535"):
        assert os_label in page
    for command in (
        "ss -tulpn &#39;sport = :60878&#39;",
        "lsof -nP -i :60878",
        "netstat -tuln | grep &#39;:60878 &#39;",
        "netstat -an | grep &#39;\\.60878 &#39;",
        "netstat -ano | findstr /R /C:&#34;:60878 &#34;",
        "Get-NetTCPConnection -LocalPort 60878",
        "Get-NetUDPEndpoint -LocalPort 60878",
    ):
        assert f"<code>{command}</code>" in page
    assert 'assigned below: <a href="/ports/49150">49150</a> (inspider)' in page
    assert "most likely someone's temporary client port, gone seconds later" in page
    assert "billions of devices connect at once" in page


async def test_port_22_page_lists_registrations_with_linked_references(datasette):
    page = (await datasette.client.get("/ports/22")).text
    assert lede(page).startswith(
        "Port 22 is ssh, “The Secure Shell (SSH) Protocol”, assigned by IANA on tcp, udp and sctp. "
        "Software you will meet there: "
    )
    assert "OpenSSH" in lede(page)
    assert '<a href="https://www.rfc-editor.org/rfc/rfc4251" rel="nofollow">RFC4251</a>' in page
    # Registry text is escaped, never markup.
    assert "Defined TXT keys: u=&lt;username&gt; p=&lt;password&gt;" in page
    assert "<username>" not in page
    assert '0–1023 System Ports</strong> <span class="here">(this port)</span>' in page
    assert "No operating system's default ephemeral range holds port 22." in page


async def test_port_6010_page_shows_unauthorized_use(datasette):
    page = (await datasette.client.get("/ports/6010")).text
    assert '<dd class="warn">Known Unauthorized Use on port 6003</dd>' in page
    assert "<dt>Port range</dt><dd>6000–6063 (64 ports)</dd>" in page


async def test_unassigned_user_port_page_says_so(datasette):
    page = (await datasette.client.get("/ports/717")).text
    assert "IANA has not assigned port 717 to any service." in page
    assert "The registry has no entry for port 717" not in page  # 717 is on an Unassigned row


BAD_PORTS = ["65536", "-1", "abc", "0001", "99999999999999999999", "%00", "1.5", "%2F22", "22%20", "+22", "0x16"]


@pytest.mark.parametrize("bad", BAD_PORTS)
async def test_bad_port_is_404_html(datasette, bad):
    response = await datasette.client.get(f"/ports/{bad}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>No such port</h1>" in response.text


@pytest.mark.parametrize("bad", BAD_PORTS)
async def test_bad_port_is_404_json(datasette, bad):
    assert await get_json(datasette, f"/ports/{bad}.json", status=404) == {
        "ok": False,
        "error": "Not a port number: ports are whole numbers from 0 to 65535, written without leading zeros.",
        "status": 404,
        "title": "No such port",
    }


JUNK = "<script>alert(1)</script>\"'&" * 70  # > 2 KB


async def test_junk_service_name_is_404_and_escaped(datasette):
    response = await datasette.client.get("/services/" + quote(JUNK, safe=""))
    assert response.status_code == 404
    assert "<script>alert(1)" not in response.text
    body = await get_json(datasette, "/services/" + quote(JUNK, safe="") + ".json", status=404)
    assert body["error"] == "No service by that name in the IANA registry."


async def test_raw_junk_in_path_is_404(datasette):
    response = await datasette.client.get("/services/%00%ff%fe..%2F..%2Fetc%2Fpasswd")
    assert response.status_code == 404
    assert "passwd" not in response.text


async def test_unknown_service_suggests_names(datasette):
    body = await get_json(datasette, "/services/kerbero.json", status=404)
    assert body["title"] == "No such service"
    assert "kerberos" in body["suggestions"]
    page = await datasette.client.get("/services/kerberos-admin-typo")
    assert page.status_code == 404
    assert '<a href="/services/kerberos-adm">kerberos-adm</a>' in page.text


async def test_service_json(datasette, csv_line):
    body = await get_json(datasette, "/services/ssh.json")
    assert body == {
        "service": {
            "key": "ssh",
            "name": "ssh",
            "description": "The Secure Shell (SSH) Protocol",
            "ports": ["22"],
            "transports": ["tcp", "udp", "sctp"],
            "row_count": 4,
            "has_port": 1,
            "rfc6335_valid": 1,
            "alias_of": None,
            "historic": 0,
        },
        "registrations": [csv_line[50], csv_line[51], csv_line[52], csv_line[15153]],
        "references": [rfc(49, 4251), rfc(50, 4251), rfc(51, 9260)],
        "people": guessed(("Randall_Stewart", "Randall Stewart"), ("Tatu_Ylonen", "Tatu Ylonen")),
        "footnotes": [],
        "alias_of": None,
        "aliases": [],
        # The software listening on port 22 first (read.service()), then the rest mentioning ssh.
        "common_uses": body["common_uses"],
        "timeline": [],
    }
    uses = body["common_uses"]
    assert [u["software"] for u in uses if u["on_service_port"]] == [
        "Dropbear SSH",
        "GitLab (Linux package)",
        "Gogs",
        "OpenSSH",
    ]
    assert sorted(
        ({k: v for k, v in u.items() if k != "on_service_port"} for u in uses if not u["on_service_port"]),
        key=lambda u: (u["first"], u["software"]),
    ) == sorted((u for u in uses_named("ssh") if u["first"] != 22), key=lambda u: (u["first"], u["software"]))


async def test_service_names_are_case_insensitive(datasette):
    assert await get_json(datasette, "/services/SSH.json") == await get_json(datasette, "/services/ssh.json")
    page = await datasette.client.get("/services/Ssh")
    assert page.status_code == 200 and "<title>Service ssh · IANA ports</title>" in page.text


async def test_historic_alias_links_both_ways(datasette):
    old = await get_json(datasette, "/services/" + quote("whois++", safe="") + ".json")
    assert old["service"]["historic"] == 1
    assert old["alias_of"]["key"] == "whoispp"
    new = await get_json(datasette, "/services/whoispp.json")
    assert [a["key"] for a in new["aliases"]] == ["whois++"]
    page = (await datasette.client.get("/services/whoispp")).text
    assert '<a href="/services/whois%2B%2B">whois++</a> (historic)' in page


async def test_service_with_slash_in_its_name(datasette):
    body = await get_json(datasette, "/services/cl%2F1.json")
    assert body["service"]["name"] == "cl/1"


async def test_search_ranks_and_highlights(datasette):
    body = await get_json(datasette, "/search.json?q=kerberos&transport=udp")
    assert body["q"] == "kerberos" and body["transport"] == "udp"
    assert body["count"] == len(body["rows"]) > 3
    assert all(row["transport"] == "udp" for row in body["rows"])
    assert body["rows"][0]["name_html"] == "<mark>kerberos</mark>"
    assert all(
        "<mark>" in (row["name_html"] + (row["snippet"] or "") + (row["notes_snippet"] or "")) for row in body["rows"]
    )


async def test_search_escapes_registry_text_and_query(datasette):
    body = await get_json(datasette, "/search.json?q=username")
    snippets = [row["notes_snippet"] for row in body["rows"] if row["notes_snippet"]]
    assert "Defined TXT keys: u=&lt;<mark>username</mark>&gt; p=&lt;password&gt;" in snippets
    for snippet in snippets:
        bare = snippet.replace("<mark>", "").replace("</mark>", "")
        assert "<" not in bare and ">" not in bare
    page = await datasette.client.get("/search?q=" + quote('<b>"unbalanced'))
    assert page.status_code == 200
    assert "<b>" not in page.text and "&lt;b&gt;" in page.text


@pytest.mark.parametrize("query", ["transport=http", "q=x&transport=<b>", "q=" + "a" * 201])
async def test_bad_search_is_400(datasette, query):
    response = await datasette.client.get("/search?" + query)
    assert response.status_code == 400
    assert "<b>" not in response.text


@pytest.mark.parametrize(
    "q, location",
    [
        ("60878", "/ports/60878"),
        ("022", "/ports/22"),
        ("SSH", "/services/ssh"),
        ("whois++", "/services/whois%2B%2B"),
        ("web server", "/search?q=web+server"),
        ("22/tcp", "/ports/22"),
        ("22/udp", "/ports/22"),
        (" 22 ", "/ports/22"),
        ("443 / SCTP", "/ports/443"),
        ("0", "/ports/0"),
        ("65535", "/ports/65535"),
        ("22/icmp", "/search?q=22%2Ficmp"),
        ("+22", "/search?q=%2B22"),
    ],
)
async def test_lookup_redirects(datasette, q, location):
    response = await datasette.client.get("/lookup?q=" + quote(q))
    assert response.status_code == 302
    assert response.headers["location"] == location


async def test_home_page(datasette):
    page = (await datasette.client.get("/")).text
    assert '<form class="lookup" action="/lookup" method="get" role="search">' in page
    assert '<label for="lookup-q">Look up a port number or service name</label>' in page
    assert '<img id="portmap" src="/portmap.png"' in page
    assert "<dt>Registry rows</dt><dd>14,500</dd>" in page
    assert "<dt>Newest registry date</dt><dd>2026-02-25</dd>" in page
    assert str(SNAPSHOT_2026.name) in page
    # Dynamic range: 16,384 ports, all unassigned.
    assert "<td>0</td><td>0</td><td>16,384</td>" in page
    assert '<a href="/changes">Changes</a>' in page


def png_pixels(png: bytes) -> tuple[int, int, bytes, bytes]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        chunks[kind] = chunks.get(kind, b"") + png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 3)
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[r * (width + 1) : (r + 1) * (width + 1)] for r in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, b"".join(row[1:] for row in rows), chunks[b"PLTE"]


async def test_port_map_png(datasette):
    response = await datasette.client.get("/portmap.png")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    width, height, pixels, palette = png_pixels(response.content)
    assert (width, height) == (256, 256)

    def colour(port):
        i = pixels[port]
        return palette[i * 3 : i * 3 + 3].hex()

    assert colour(22) == colour(80) == "1f5fa8"  # assigned
    assert colour(0) == "d98a1c"  # reserved
    assert colour(717) == "e3e8ee"  # unassigned
    assert colour(60878) == colour(65535) == "9bd4b0"  # Dynamic


async def test_every_table_and_column_is_described(datasette):
    metadata = (await datasette.client.get("/-/metadata.json")).json()
    described = metadata["databases"]["iana"]["tables"]
    tables = (await datasette.client.get("/iana.json")).json()["tables"]
    visible = [t for t in tables if not t["hidden"]]
    assert {t["name"] for t in visible} == set(described)
    for t in visible:
        assert described[t["name"]]["description"], t["name"]
        assert set(described[t["name"]]["columns"]) == set(t["columns"]), t["name"]
    assert {t["name"] for t in tables if t["hidden"]} >= {"registrations_fts", "registrations_fts_data"}


async def test_table_facets(datasette):
    # No facet is counted on every ports page (each would count tens of thousands of
    # rows); one asked for is counted.
    body = (await datasette.client.get("/iana/ports.json?_size=0")).json()
    assert (body["facet_results"], body["suggested_facets"]) == ({}, [])
    body = (await datasette.client.get("/iana/ports.json?_size=0&_facet=range&_facet=verdict")).json()
    assert {r["value"]: r["count"] for r in body["facet_results"]["range"]["results"]} == {
        "User Ports": 48128,
        "Dynamic Ports": 16384,
        "System Ports": 1024,
    }
    verdicts = {r["value"]: r["count"] for r in body["facet_results"]["verdict"]["results"]}
    assert set(verdicts) == {"good", "caution", "avoid"} and sum(verdicts.values()) == 65536
    body = (await datasette.client.get("/iana/registrations.json?_size=0")).json()
    assert set(body["facet_results"]) == {"transport"}
    assert body["suggested_facets"] == []


async def test_canned_port_and_service_lookup(datasette):
    rows = (await datasette.client.get("/iana/port_lookup.json?port=716&_shape=array")).json()
    assert rows == [
        {
            "port": 716,
            "status": "assigned",
            "tcp": "unassigned",
            "udp": "assigned",
            "sctp": "unassigned",
            "dccp": "unassigned",
            "range": "System Ports",
            "verdict": "avoid",
            "service_name": "pana",
            "transport": "udp",
            "description": "PANA Messages",
            "registration": 1340,
        }
    ]
    rows = (await datasette.client.get("/iana/service_lookup.json?name=+SSH+&_shape=array")).json()
    assert [(r["id"], r["transport"]) for r in rows] == [(49, "tcp"), (50, "udp"), (51, "sctp"), (14320, "tcp")]


async def test_canned_unassigned_between(datasette):
    rows = (
        await datasette.client.get("/iana/unassigned_between.json?first=700&last=730&transports=tcp&_shape=array")
    ).json()
    assert [r["port"] for r in rows] == [703, 708, *range(716, 729)]
    rows = (
        await datasette.client.get("/iana/unassigned_between.json?first=700&last=730&transports=tcp,udp&_shape=array")
    ).json()
    assert [r["port"] for r in rows] == [703, 708, *range(717, 729)]


async def test_canned_safe_ports(datasette, db_2026):
    body = (await datasette.client.get("/iana/safe_ports.json?start=1024")).json()
    ports = [row[0] for row in body["rows"]]
    good = [
        r[0]
        for r in sqlite3.connect(db_2026).execute(
            "select port from ports where verdict = 'good' and port >= 1024 order by port limit 10"
        )
    ]
    assert ports[:10] == good and good[0] > 1024
    assert len(ports) == 1000 and body["truncated"]
    # FreeBSD's range (from 10000) is no longer everyone's: ports past it can be good; Linux's (from 32768) is.
    body = (await datasette.client.get("/iana/safe_ports.json?start=9990&_shape=array")).json()
    assert min(r["port"] for r in body) >= 9990 and max(r["port"] for r in body) > 10000
    body = (await datasette.client.get("/iana/safe_ports.json?start=32768&_shape=array")).json()
    assert body == []


async def test_table_pages_keep_the_project_look(datasette):
    page = (await datasette.client.get("/iana/registrations?_search=kerberos")).text
    assert SITE_NAME in page
    assert '<link rel="stylesheet" href="/static/site.css">' in page


# Leads: what the port is, read off the CSV rows (port 300: lines 624-625; 716: 1459;
# 1008: 1663-1665; 0: 2-3).
@pytest.mark.parametrize(
    "port, expected",
    [
        (300, "Port 300 is tacacss, “TLS Secure Login Host Protocol (TACACSS)”, assigned by IANA on tcp."),
        (716, "Port 716 is pana, “PANA Messages”, assigned by IANA on udp."),
        (1008, "IANA has reserved port 1008 on udp; the registry says “Possibly used by Sun Solaris????”."),
        (1024, "IANA has reserved port 1024 on tcp and udp; the registry says “Reserved”."),
        (0, "IANA has reserved port 0 on tcp and udp; the registry says “Reserved”."),
        (717, "IANA has not assigned port 717 to any service."),
    ],
)
async def test_port_lead_says_what_the_port_is(datasette, port, expected):
    assert not uses_at(port), f"{port} gained a common use: its lead names it now"
    page = (await datasette.client.get(f"/ports/{port}")).text
    assert lede(page) == expected
    assert "held back from assignment" not in page


def status_lines(page: str) -> list[str]:
    listing = re.search(r'<ul class="transport-lines">.*?</ul>', page, re.S).group(0)
    return [text(li) for li in re.findall(r"<li>.*?</li>", listing, re.S)]


async def test_transports_that_say_the_same_are_one_line(datasette):
    page = (await datasette.client.get("/ports/1008")).text
    # tcp: 1002-1007 and 1009 are Unassigned rows and 1008 has only a udp row.
    assert status_lines(page) == [
        "tcp: unassigned, unassigned run 1002–1009",
        "udp: reserved",
        "sctp, dccp: unassigned, unassigned run 660–1010",
    ]
    assert '<a href="/ports/1002">1002</a>–<a href="/ports/1009">1009</a>' in page
    assert status_lines((await datasette.client.get("/ports/80")).text) == [
        "tcp, udp: assigned to http, www, www-http",
        "sctp: assigned to http",
        "dccp: unassigned, unassigned run 52–224",
    ]
    assert status_lines((await datasette.client.get("/ports/60878")).text) == [
        "tcp, udp, sctp, dccp: unassigned, unassigned run 49152–65535",
    ]


async def test_registry_rows_that_differ_only_in_transport_are_one_card(datasette):
    page = (await datasette.client.get("/ports/22")).text
    headings = [text(h) for h in re.findall(r'<article class="registration".*?<h3[^>]*>(.*?)</h3>', page, re.S)]
    # Lines 50-51 (tcp, udp) are the same row but for the transport; sctp's (52) has its own assignee.
    assert headings == ["ssh · tcp, udp", "ssh · sctp"]
    assert "—" not in re.search(r'<section aria-labelledby="registrations">.*?</section>', page, re.S).group(0)


async def test_ephemeral_history_reads_without_nested_parentheses(datasette):
    page = (await datasette.client.get("/ports/60878")).text
    listing = page.split("ranges holding port 60878:")[1].split("</ul>")[0]
    items = [text(li) for li in re.findall(r"<li>.*?</li>", listing)]
    assert items == [
        "Linux: 32768–60999 — since Linux 4.2 (2015); before: 32768–61000;"
        " check with sysctl net.ipv4.ip_local_port_range",
        "Windows: 49152–65535 — since Windows Vista / Server 2008; before: 1025–5000;"
        " check with netsh int ipv4 show dynamicport tcp",
        "macOS: 49152–65535; check with sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
        "FreeBSD: 10000–65535; check with sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
    ]


def listening_section(page: str) -> str:
    return re.search(r'<section aria-labelledby="commands">.*?</section>', page, re.S).group(0)


async def test_listening_commands_match_only_that_port(datasette):
    section = listening_section((await datasette.client.get("/ports/22")).text)
    assert re.findall(r"<code>(.*?)</code>", section) == [
        "ss -tulpn &#39;sport = :22&#39;",
        "netstat -tuln | grep &#39;:22 &#39;",
        "lsof -i :22",
        "lsof -nP -i :22",
        "netstat -an | grep &#39;\\.22 &#39;",
        "netstat -ano | findstr /R /C:&#34;:22 &#34;",
        "Get-NetTCPConnection -LocalPort 22",
        "Get-NetUDPEndpoint -LocalPort 22",
        "sudo",
    ]


async def test_port_0_says_nothing_listens_there(datasette):
    section = listening_section((await datasette.client.get("/ports/0")).text)
    assert text(section) == (
        "What is listening on port 0? Nothing listens on port 0: a program that binds it gets a free port"
        " chosen by the system."
    )
    assert "<code>" not in section


async def test_the_port_page_shows_the_firewall_lines_to_copy_and_port_0_has_none(datasette):
    page = (await datasette.client.get("/ports/8080")).text
    section = re.search(r'<section aria-labelledby="firewall">.*?</section>', page, re.S).group(0)
    blocks = re.findall(
        r'<figcaption>(.*?)</figcaption><pre id="firewall-([a-z]+)" data-copy><code>(.*?)</code>', section, re.S
    )
    assert [(caption, tool, html.unescape(lines).split("\n")) for caption, tool, lines in blocks] == [
        (caption, tool, firewall_lines(8080)[tool])
        for caption, tool in [
            ("ufw (Ubuntu, Debian)", "ufw"),
            ("firewalld (Fedora, RHEL, openSUSE)", "firewalld"),
            ("nftables (table inet filter, chain input)", "nftables"),
            ("iptables and ip6tables", "iptables"),
            ("Windows (PowerShell as administrator)", "windows"),
        ]
    ]
    # The copy buttons come from static/copy.js (none without scripts).
    assert '<script src="/static/copy.js" defer></script>' in page
    assert "<button" not in section
    zero = (await datasette.client.get("/ports/0")).text
    assert 'aria-labelledby="firewall"' not in zero
    assert (await get_json(datasette, "/ports/0.json"))["firewall"] is None


@pytest.mark.parametrize("ports", [(8080, 8081, 8080), (60000, 60001), (1, 2, 1)])
async def test_parts_written_once_for_many_ports_name_each_page_s_own(datasette, ports):
    """The firewall, verdict and range sections are rendered once and kept (port fragments):
    each page in turn names its own number there, and nothing of the stand-in shows."""
    for n in ports:
        page = (await datasette.client.get(f"/ports/{n}")).text
        assert "\x00" not in page
        firewall = re.search(r'<section aria-labelledby="firewall">.*?</section>', page, re.S).group(0)
        assert f"Open port {n} in a firewall" in firewall
        # Every number in it is this port's, and every tool's lines are this port's.
        assert set(re.findall(r"\b\d+\b", html.unescape(firewall))) == {str(n)}
        shown = re.findall(r'<pre id="firewall-([a-z]+)" data-copy><code>(.*?)</code>', firewall, re.S)
        assert {tool: html.unescape(lines).split("\n") for tool, lines in shown} == firewall_lines(n)
        verdict = re.search(r'<section aria-labelledby="verdict">.*?</section>', page, re.S).group(0)
        assert f"Can you use port {n}?" in verdict
        assert f'href="/ports/{n}?os=default,freebsd"' in verdict


async def test_firewall_json_opens_a_port_or_a_services_ports_in_the_tools_asked(datasette):
    r = await datasette.client.get("/firewall.json?target=8080/tcp&for=ufw")
    assert (r.status_code, r.headers["content-type"]) == (200, "application/json; charset=utf-8")
    assert r.json() == {
        "target": "8080/tcp",
        "openings": [{"first": 8080, "last": 8080, "transport": "tcp"}],
        "lines": {"ufw": ["ufw allow 8080/tcp"]},
        "tools": {"ufw": "ufw (Ubuntu, Debian)"},
    }
    ssh = (await datasette.client.get("/firewall.json?target=ssh&for=ufw,iptables")).json()
    assert ssh["openings"] == [
        {"first": 22, "last": 22, "transport": "tcp"},
        {"first": 22, "last": 22, "transport": "udp"},
    ]
    assert ssh["lines"]["ufw"] == ["ufw allow 22/tcp", "ufw allow 22/udp"]
    for query, status in (("", 400), ("target=99999", 400), ("target=8080&for=pf", 400), ("target=nosuch", 404)):
        r = await datasette.client.get("/firewall.json?" + query)
        assert (r.status_code, r.json()["ok"]) == (status, False), query


async def test_portless_service_wording_is_neutral(datasette, csv_line):
    # Line 14171: netconf-beep with an empty port column.
    assert csv_line[14171]["service_name"] == "netconf-beep" and csv_line[14171]["port"] == ""
    page = (await datasette.client.get("/services/netconf-beep")).text
    assert "<dt>Ports</dt><dd>none: no port in the current registry</dd>" in page
    assert "DNS-SD" not in page


async def test_duplicate_names_link_both_ways(datasette, csv_line):
    # Lines 186-188 and 209: www and www-http are 'a duplicate of the "http" service'.
    lines = (186, 187, 188, 209)
    assert [csv_line[n]["service_name"] for n in lines] == ["www", "www", "www-http", "www-http"]
    assert all('duplicate of the "http" service' in csv_line[n]["assignment_notes"] for n in lines)
    for name in ("www", "www-http"):
        body = await get_json(datasette, f"/services/{name}.json")
        assert body["service"]["alias_of"] == "http"
        assert (body["alias_of"]["key"], body["alias_of"]["name"]) == ("http", "http")
        page = (await datasette.client.get(f"/services/{name}")).text
        assert '<dt>Alias of</dt><dd><a href="/services/http">http</a></dd>' in page
    http = await get_json(datasette, "/services/http.json")
    assert [a["key"] for a in http["aliases"]] == ["www", "www-http"]
    page = (await datasette.client.get("/services/http")).text
    assert (
        '<dt>Other names for it</dt><dd><a href="/services/www">www</a>, <a href="/services/www-http">www-http</a></dd>'
    ) in page


@pytest.fixture(scope="module")
def history_datasette(datasette_history):
    return datasette_history


async def test_renamed_service_404_links_to_the_new_name(history_datasette):
    # 2025-03-28 lines 3709-3710: pearldoc-xact on 1980; 2026-02-25 lines 3712-3713: panquest-xact.
    assert await get_json(history_datasette, "/services/pearldoc-xact.json", status=404) == {
        "ok": False,
        "error": "No service by that name in the IANA registry: it was renamed to panquest-xact.",
        "status": 404,
        "title": "No such service",
        "suggestions": [],
        "renamed_to": "panquest-xact",
        "common_uses": [],
    }
    response = await history_datasette.client.get("/services/PearlDoc-XACT")
    assert response.status_code == 404
    assert (
        '<p class="renamed">Go to the service now named <a href="/services/panquest-xact">panquest-xact</a>.</p>'
    ) in response.text


async def test_unknown_service_404_has_no_rename(history_datasette):
    body = await get_json(history_datasette, "/services/no-such-name-at-all.json", status=404)
    assert body["renamed_to"] is None
    assert body["error"] == "No service by that name in the IANA registry."


@pytest.mark.parametrize("q", ["70000", "65536", "-5", "-0", "99999999999999999999999999", "70000/tcp"])
async def test_lookup_out_of_range_number_says_so(datasette, q):
    response = await datasette.client.get("/lookup?q=" + quote(q))
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    number = q.split("/")[0][:20]
    message = f"Not a port number: {number}. Ports are whole numbers from 0 to 65535."
    assert f'<p class="error-message">{message}</p>' in response.text
    assert '<form class="lookup" action="/lookup"' in response.text


def tokens(value):
    # FTS5's unicode61 tokenizer: runs of letters and digits, case-folded.
    return set(re.findall(r"[^\W_]+", (value or "").lower()))


def expected_search(csv_line, q):
    """Registry rows for q in the promised order, worked out from the CSV.

    First the service named q, then services whose names start with q (shortest
    name first, registry order within one), then the other word matches (FTS
    rank decides their order, so only the set is known here).
    """
    rows = sorted(csv_line.values(), key=lambda r: r["id"])
    exact = [r["id"] for r in rows if r["service_key"] == q]
    prefix = [r for r in rows if r["service_key"] and r["service_key"].startswith(q) and r["service_key"] != q]
    prefix = [r["id"] for r in sorted(prefix, key=lambda r: (len(r["service_key"]), r["service_key"], r["id"]))]
    words = {
        r["id"]
        for r in rows
        if q in tokens(r["service_name"]) | tokens(r["description"]) | tokens(r["assignment_notes"])
    }
    return exact, prefix, words - set(exact) - set(prefix)


async def all_pages(datasette, path):
    rows, pages = [], []
    while path:
        body = await get_json(datasette, path)
        pages.append(body)
        rows += body["rows"]
        path = body["next"]
    return pages, rows


@pytest.mark.parametrize("q", ["http", "ssh", "ftp"])
async def test_search_puts_the_named_service_first(datasette, csv_line, q):
    exact, prefix, rest = expected_search(csv_line, q)
    assert exact  # each of these is a service name in the registry
    pages, rows = await all_pages(datasette, f"/search.json?q={q}")
    ids = [r["id"] for r in rows]
    assert ids[: len(exact) + len(prefix)] == exact + prefix
    assert sorted(ids[len(exact) + len(prefix) :]) == sorted(rest)
    assert all(p["count"] == len(ids) for p in pages)
    assert [p["offset"] for p in pages] == list(range(0, len(ids), 50))
    assert (pages[0]["ports"], pages[0]["common_uses"]) == ([], uses_named(q))


async def test_search_http_pages(datasette, csv_line):
    exact, prefix, rest = expected_search(csv_line, "http")
    count = len(exact) + len(prefix) + len(rest)
    assert count > 100
    first = await get_json(datasette, "/search.json?q=HTTP&transport=")
    assert (first["q"], first["count"], first["offset"], len(first["rows"])) == ("HTTP", count, 0, 50)
    assert first["next"] == "/search.json?q=HTTP&_next=50"
    assert [r["id"] for r in first["rows"][:3]] == [171, 172, 177]  # http, lines 184, 185, 230
    assert first["rows"][0]["name_html"] == "<mark>http</mark>"
    page = (await datasette.client.get("/search?q=http&_next=50")).text
    assert (f"{count} matching registry rows, 51–100 shown.") in text(page)
    assert '<ol class="results" start="51">' in page
    assert '<p class="more-results"><a href="/search?q=http&amp;_next=100">More results</a></p>' in page
    assert '<a href="/iana/registrations?_search=http">Every full-text match as a table</a>' in page
    assert '<a href="/search.json?q=http&amp;transport=&amp;_next=50">JSON</a>' in page
    last = await get_json(datasette, "/search.json?q=http&_next=100")
    assert (len(last["rows"]), last["next"]) == (count - 100, None)


async def test_search_exact_json(datasette, csv_line):
    # panquest-xact, lines 3712-3713: the only rows carrying either word.
    rows = [
        dict(
            csv_line[line],
            name_html="<mark>panquest-xact</mark>",
            snippet="<mark>PanQuest XACT</mark>",
            notes_snippet=None,
        )
        for line in (3712, 3713)
    ]
    assert await get_json(datasette, "/search.json?q=panquest-xact") == {
        "q": "panquest-xact",
        "transport": "",
        "count": 2,
        "rows": rows,
        "offset": 0,
        "next": None,
        "ports": [],
        "common_uses": [],
    }
    assert (await get_json(datasette, "/search.json?q=panquest-xact&transport=udp"))["rows"] == rows[1:]


async def test_search_prefix_rows_without_a_word_match_are_plain_escaped(datasette, csv_line):
    # sctp rows: http (line 230, description "HTTP") and https (line 905, "HTTPS"),
    # which starts with "http" but has no word "http" in it.
    body = await get_json(datasette, "/search.json?q=http&transport=sctp")
    assert body["rows"] == [
        dict(csv_line[230], name_html="<mark>http</mark>", snippet="<mark>HTTP</mark>", notes_snippet=None),
        dict(csv_line[905], name_html="https", snippet=None, notes_snippet=None),
    ]
    assert (body["count"], body["next"]) == (2, None)


@pytest.mark.parametrize("bad", ["x", "-1", "1.5", "9999999999"])
async def test_bad_search_offset_is_400(datasette, bad):
    body = await get_json(datasette, f"/search.json?q=http&_next={bad}", status=400)
    assert body["error"] == "_next must be a whole number from 0 to 1000000000"


def main_words(page: str) -> list[str]:
    """The words a reader meets in <main>: markup, scripts, styles and the SVG's title dropped,
    and of a closed disclosure only its summary."""
    main = re.search(r"<main\b.*?</main>", page, re.S).group(0)
    main = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", main, flags=re.S)
    main = re.sub(r"<details\b[^>]*>\s*(<summary>.*?</summary>).*?</details>", r" \1 ", main, flags=re.S)
    return text(main).split()


async def test_port_60878_says_what_the_explainer_says_in_fewer_words(datasette):
    page = (await datasette.client.get("/ports/60878")).text
    words = main_words(page)
    assert len(words) <= 600, len(words)
    said = " ".join(words)
    for point in (
        "unassigned, with no RFC, protocol or owner, by design",
        "Dynamic range (49152–65535), 16,384 ports IANA never assigns",
        "hand them out as temporary client ports, released and reused constantly",
        "0–1023 System Ports: HTTP, SMTP, DNS and the like",
        "1024–49151 User Ports: registered",
        "49152–65535 Dynamic Ports (this port): never assigned, free for anyone",
        "netstat -tuln | grep ':60878 '",
        "lsof -i :60878",
        'netstat -ano | findstr /R /C:":60878 "',
        "Get-NetTCPConnection -LocalPort 60878",
        "most likely someone's temporary client port, gone seconds later",
        "what lets billions of devices connect at once",
    ):
        assert point in said, point
    # Each point once: the temporary-client-port warning is not repeated section after section.
    assert said.count("an outgoing connection may already hold it") == 1


@pytest.mark.parametrize("port, bound", [(22, 600), (8080, 600)])
async def test_port_pages_stay_short(datasette, port, bound):
    page = (await datasette.client.get(f"/ports/{port}")).text
    assert len(main_words(page)) <= bound
    # The software is listed once, not again as the verdict's reasons.
    for u in uses_at(port):
        assert text(page).count(f"{u['software']} listens here by default") == 0


async def test_port_lead_names_what_people_meet(datasette):
    for port in (22, 8080, 25565):
        page = (await datasette.client.get(f"/ports/{port}")).text
        first = next(u["software"] for u in uses_at(port))
        assert first in lede(page), (port, lede(page))
