"""plugins/routes.py (and the metadata it serves beside): pages and JSON through Datasette.

Expected registry rows come from reading the snapshot with the standard
library's csv module (line numbers looked up by hand), not from ingest/.
"""

import csv
import struct
import zlib
from urllib.parse import quote

import pytest

from conftest import SNAPSHOT_2026
from ingest.model import RANGES

EXPLANATION = {r["name"]: r["explanation"] for r in RANGES}
FIELDS = (
    "service_name", "port", "transport", "description", "assignee", "contact",
    "registration_date", "modification_date", "reference", "service_code",
    "unauthorized_use", "assignment_notes",
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
    "Dynamic Ports", "Dynamic, private or ephemeral ports", 49152, 65535,
    "Never assigned (RFC 6335 section 8.1.2)",
)
EPHEMERAL = {
    "linux": {
        "os": "linux", "label": "Linux", "first": 32768, "last": 60999,
        "history": "since Linux 4.2 (2015); before: 32768-61000",
        "check": "sysctl net.ipv4.ip_local_port_range",
    },
    "windows": {
        "os": "windows", "label": "Windows", "first": 49152, "last": 65535,
        "history": "since Windows Vista / Server 2008; before: 1025-5000",
        "check": "netsh int ipv4 show dynamicport tcp",
    },
    "macos": {
        "os": "macos", "label": "macOS", "first": 49152, "last": 65535, "history": "",
        "check": "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
    },
    "freebsd": {
        "os": "freebsd", "label": "FreeBSD", "first": 10000, "last": 65535, "history": "",
        "check": "sysctl net.inet.ip.portrange.first net.inet.ip.portrange.last",
    },
}


def commands(n):
    return {
        "linux": [f"ss -tulpn 'sport = :{n}'", f"netstat -tuln | grep {n}", f"lsof -i :{n}"],
        "macos": [f"lsof -nP -i :{n}", f"netstat -an | grep {n}"],
        "windows": [
            f"netstat -ano | findstr {n}",
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
    }


def neighbours(n, below, above):
    return {
        "previous": n - 1 if n > 0 else None,
        "next": n + 1 if n < 65535 else None,
        "assigned_below": {"port": below[0], "services": below[1]} if below else None,
        "assigned_above": {"port": above[0], "services": above[1]} if above else None,
    }


async def get_json(datasette, path, status=200):
    response = await datasette.client.get(path)
    assert response.status_code == status, (path, response.text[:500])
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    return response.json()


async def test_port_60878_json(datasette):
    assert await get_json(datasette, "/ports/60878.json") == {
        "port": 60878,
        "status": "unassigned",
        "registry_words": None,
        "range": rng(*DYNAMIC),
        "transports": {t: transport("unassigned", run=(49152, 65535)) for t in ("tcp", "udp", "sctp", "dccp")},
        "services": [],
        "registrations": [],
        "references": [],
        "ephemeral": [EPHEMERAL[o] for o in ("linux", "windows", "macos", "freebsd")],
        "unassigned_run": {"first": 49152, "last": 65535},
        "neighbours": neighbours(60878, (49150, ["inspider"]), None),
        "commands": commands(60878),
    }


async def test_port_22_json(datasette, csv_line):
    assert await get_json(datasette, "/ports/22.json") == {
        "port": 22,
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
        "ephemeral": [],
        "unassigned_run": None,
        "neighbours": neighbours(22, (21, ["ftp"]), (23, ["telnet"])),
        "commands": commands(22),
    }


async def test_port_80_json(datasette, csv_line):
    names = ["http", "www", "www-http"]
    assert await get_json(datasette, "/ports/80.json") == {
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
        "ephemeral": [],
        "unassigned_run": None,
        "neighbours": neighbours(80, (79, ["finger"]), (82, ["xfer"])),
        "commands": commands(80),
    }


async def test_port_6010_json_inside_the_x11_range(datasette, csv_line):
    assert await get_json(datasette, "/ports/6010.json") == {
        "port": 6010,
        "status": "assigned",
        "registry_words": None,
        "range": rng(*USER),
        "transports": {
            "tcp": transport("assigned", ["x11"]),
            "udp": transport("assigned", ["x11"]),
            "sctp": transport("unassigned", run=(5915, 6399)),
            "dccp": transport("unassigned", run=(5006, 6399)),
        },
        "services": ["x11"],
        "registrations": [csv_line[10225], csv_line[10226]],
        "references": [],
        "ephemeral": [],
        "unassigned_run": None,
        "neighbours": neighbours(6010, (6009, ["x11"]), (6011, ["x11"])),
        "commands": commands(6010),
    }
    assert csv_line[10225]["unauthorized_use"] == "Known Unauthorized Use on port 6003"


async def test_port_716_json_udp_only(datasette, csv_line):
    assert await get_json(datasette, "/ports/716.json") == {
        "port": 716,
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
        "ephemeral": [],
        "unassigned_run": None,
        "neighbours": neighbours(716, (715, ["iris-lwz"]), (729, ["netviewdm1"])),
        "commands": commands(716),
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
    assert "IANA has not assigned port 60878 and never will" in page
    assert "ports <strong>49152</strong> to <strong>65535</strong>,\n    16,384 ports." in page
    assert EXPLANATION["Dynamic Ports"] in page
    for os_label in ("Linux: 32768–60999", "Windows: 49152–65535", "macOS: 49152–65535", "FreeBSD: 10000–65535"):
        assert os_label in page
    for command in ("ss -tulpn &#39;sport = :60878&#39;", "lsof -nP -i :60878", "netstat -ano | findstr 60878",
                    "Get-NetTCPConnection -LocalPort 60878", "Get-NetUDPEndpoint -LocalPort 60878"):
        assert f"<code>{command}</code>" in page
    assert 'Nearest assigned port below: <a href="/ports/49150">49150</a> (inspider)' in page


async def test_port_22_page_lists_registrations_with_linked_references(datasette):
    page = (await datasette.client.get("/ports/22")).text
    assert "IANA has assigned port 22 to ssh on\n  tcp, udp, sctp." in page
    assert '<a href="https://www.rfc-editor.org/rfc/rfc4251" rel="nofollow">RFC4251</a>' in page
    # Registry text is escaped, never markup.
    assert "Defined TXT keys: u=&lt;username&gt; p=&lt;password&gt;" in page
    assert "<username>" not in page
    assert "ports <strong>0</strong> to <strong>1023</strong>" in page
    assert "outside the default ephemeral (client) port range" in page


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
        "alias_of": None,
        "aliases": [],
    }


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
    assert all("<mark>" in (row["name_html"] + (row["snippet"] or "") + (row["notes_snippet"] or ""))
               for row in body["rows"])


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
    [("60878", "/ports/60878"), ("022", "/ports/22"), ("SSH", "/services/ssh"),
     ("whois++", "/services/whois%2B%2B"), ("web server", "/search?q=web+server"), ("70000", "/search?q=70000")],
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
    body = (await datasette.client.get("/iana/ports.json?_size=0")).json()
    assert set(body["facet_results"]) == {"range", "status"}
    assert {r["value"]: r["count"] for r in body["facet_results"]["range"]["results"]} == {
        "User Ports": 48128, "Dynamic Ports": 16384, "System Ports": 1024,
    }
    body = (await datasette.client.get("/iana/registrations.json?_size=0")).json()
    assert set(body["facet_results"]) == {"transport"}
    assert body["suggested_facets"] == []


async def test_canned_port_and_service_lookup(datasette):
    rows = (await datasette.client.get("/iana/port_lookup.json?port=716&_shape=array")).json()
    assert rows == [{
        "port": 716, "status": "assigned", "tcp": "unassigned", "udp": "assigned", "sctp": "unassigned",
        "dccp": "unassigned", "range": "System Ports", "service_name": "pana", "transport": "udp",
        "description": "PANA Messages", "registration": 1340,
    }]
    rows = (await datasette.client.get("/iana/service_lookup.json?name=+SSH+&_shape=array")).json()
    assert [(r["id"], r["transport"]) for r in rows] == [(49, "tcp"), (50, "udp"), (51, "sctp"), (14320, "tcp")]


async def test_canned_unassigned_between(datasette):
    rows = (await datasette.client.get(
        "/iana/unassigned_between.json?first=700&last=730&transports=tcp&_shape=array")).json()
    assert [r["port"] for r in rows] == [703, 708, *range(716, 729)]
    rows = (await datasette.client.get(
        "/iana/unassigned_between.json?first=700&last=730&transports=tcp,udp&_shape=array")).json()
    assert [r["port"] for r in rows] == [703, 708, *range(717, 729)]


async def test_canned_safe_ports(datasette):
    body = (await datasette.client.get("/iana/safe_ports.json?start=1024")).json()
    ports = [row[0] for row in body["rows"]]
    assert ports[:10] == [1491, 1895, 2194, 2195, 2196, 2693, 2825, 2925, 3092, 3126]
    # FreeBSD's ephemeral range starts at 10000, so nothing at or above it is safe.
    assert max(ports) < 10000 and len(ports) == 1000 and body["truncated"]
    body = (await datasette.client.get("/iana/safe_ports.json?start=9990&_shape=array")).json()
    assert all(9990 <= r["port"] < 10000 for r in body)


async def test_table_pages_keep_the_project_look(datasette):
    page = (await datasette.client.get("/iana/registrations?_search=kerberos")).text
    assert '<a class="site-name" href="/">IANA ports</a>' in page
    assert '<link rel="stylesheet" href="/static/site.css">' in page
