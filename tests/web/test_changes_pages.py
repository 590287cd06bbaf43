"""/changes, /changes.json, /changes.atom (iana_ports/web/pages.py, feed.py) and the history the
port and service pages show (iana_ports.read.history)."""

import hashlib
import html
import json
import re
import sqlite3
import xml.etree.ElementTree as ET

import pytest

from iana_ports import read, store as store_module
from iana_ports.web import builds
from iana_ports.web.render import renderer_for
from iana_ports.web import feed as atom

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture(scope="session")
def ds(datasette_history):
    return datasette_history


@pytest.fixture(scope="session")
def store(ds):
    return builds.current(ds).store


def render(ds, template: str, **context) -> str:
    return renderer_for(ds).render(template, **context)


@pytest.fixture(scope="session")
def stored(history_db) -> list[dict]:
    """Every change row, straight from the file, with its ingest's time."""
    conn = sqlite3.connect(history_db)
    conn.row_factory = sqlite3.Row
    try:
        return [
            dict(r)
            for r in conn.execute(
                "select changes.*, ingests.fetched_at from changes"
                " join ingests on ingests.id = changes.ingest order by changes.id"
            )
        ]
    finally:
        conn.close()


def shown_date(row: dict, registry_dates: dict) -> str:
    """The date /changes shows for a stored change: the row's own registration or modification
    date when newer than the previous registry, else its ingest's registry date."""
    new = json.loads(row["new"]) if row["new"] else {}
    own = max(new.get("registration_date") or "", new.get("modification_date") or "")
    return own if own > (registry_dates.get(row["previous_ingest"]) or "") else registry_dates[row["ingest"]]


@pytest.fixture(scope="session")
def in_order(stored, history_db) -> list[dict]:
    """The stored changes in the order /changes promises: newest first by registry date (newest
    ingest first, then by the date shown, newest first), the file's order among equals."""
    conn = sqlite3.connect(history_db)
    try:
        dates = {
            i: max(filter(None, (r, m)), default="")
            for i, r, m in conn.execute("select id, newest_registration_date, newest_modification_date from ingests")
        }
    finally:
        conn.close()
    return sorted(stored, key=lambda r: (r["ingest"], shown_date(r, dates)), reverse=True)


async def test_json_lists_every_change_newest_first_by_registry_date(ds, stored, in_order):
    response = await ds.client.get("/changes.json?_size=1000")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["ok"] is True
    assert body["filters"] == {}
    assert body["next"] is None
    assert [c["id"] for c in body["changes"]] == [r["id"] for r in in_order]
    assert len(body["changes"]) == 78
    # Not the file's order: undated changes (dated by their registry, 2026-02-25) come before
    # changes the registry dates 2025.
    assert in_order != sorted(stored, key=lambda r: r["id"])
    shown = [c["change_date"] or c["registry_date"] for c in body["changes"]]
    assert shown == sorted(shown, reverse=True)


async def test_json_row_is_exact(ds, stored, snapshot_2026):
    sha = hashlib.sha256(snapshot_2026.read_bytes()).hexdigest()
    [smtp_tcp] = [r for r in stored if r["port"] == "25" and r["transport"] == "tcp"]
    response = await ds.client.get("/changes.json?port=25&kind=modified")
    assert response.json() == {
        "ok": True,
        "filters": {"kind": "modified", "port": 25},
        "next": None,
        "changes": [
            {
                "id": smtp_tcp["id"],
                "ingest": 2,
                "previous_ingest": 1,
                "ingest_sha256": sha,
                "fetched_at": smtp_tcp["fetched_at"],
                "registry_date": "2026-02-25",
                "previous_registry_date": "2025-03-28",
                # Its modification date (2017-06-05) is older than the change.
                "change_date": None,
                # A draft cited instead of an RFC: nothing about the port's use changed.
                "housekeeping": True,
                "kind": "modified",
                "port": "25",
                "port_low": 25,
                "port_high": 25,
                "old_port_low": 25,
                "old_port_high": 25,
                "new_port_low": 25,
                "new_port_high": 25,
                "transport": "tcp",
                "service_name": "smtp",
                "service_key": "smtp",
                "old_service_key": None,
                "summary": "smtp on 25/tcp: reference changed",
                "fields": [{"field": "reference", "old": "[RFC5321]", "new": "[RFC-ietf-emailcore-rfc5321bis-43]"}],
                "old": {
                    "service_name": "smtp",
                    "port": "25",
                    "transport": "tcp",
                    "description": "Simple Mail Transfer",
                    "assignee": "[IESG]",
                    "contact": "[IETF_Chair]",
                    "registration_date": None,
                    "modification_date": "2017-06-05",
                    "reference": "[RFC5321]",
                    "service_code": None,
                    "unauthorized_use": None,
                    "assignment_notes": None,
                    "line": 57,
                },
                "new": {
                    "service_name": "smtp",
                    "port": "25",
                    "transport": "tcp",
                    "description": "Simple Mail Transfer",
                    "assignee": "[IESG]",
                    "contact": "[IETF_Chair]",
                    "registration_date": None,
                    "modification_date": "2017-06-05",
                    "reference": "[RFC-ietf-emailcore-rfc5321bis-43]",
                    "service_code": None,
                    "unauthorized_use": None,
                    "assignment_notes": None,
                    "line": 57,
                },
            },
            {
                "id": smtp_tcp["id"] + 1,
                "ingest": 2,
                "previous_ingest": 1,
                "ingest_sha256": sha,
                "fetched_at": smtp_tcp["fetched_at"],
                "registry_date": "2026-02-25",
                "previous_registry_date": "2025-03-28",
                # Its modification date (2017-06-05) is older than the change.
                "change_date": None,
                # A draft cited instead of an RFC: nothing about the port's use changed.
                "housekeeping": True,
                "kind": "modified",
                "port": "25",
                "port_low": 25,
                "port_high": 25,
                "old_port_low": 25,
                "old_port_high": 25,
                "new_port_low": 25,
                "new_port_high": 25,
                "transport": "udp",
                "service_name": "smtp",
                "service_key": "smtp",
                "old_service_key": None,
                "summary": "smtp on 25/udp: reference changed",
                "fields": [{"field": "reference", "old": "[RFC5321]", "new": "[RFC-ietf-emailcore-rfc5321bis-43]"}],
                "old": {
                    "service_name": "smtp",
                    "port": "25",
                    "transport": "udp",
                    "description": "Simple Mail Transfer",
                    "assignee": "[IESG]",
                    "contact": "[IETF_Chair]",
                    "registration_date": None,
                    "modification_date": "2017-06-05",
                    "reference": "[RFC5321]",
                    "service_code": None,
                    "unauthorized_use": None,
                    "assignment_notes": None,
                    "line": 58,
                },
                "new": {
                    "service_name": "smtp",
                    "port": "25",
                    "transport": "udp",
                    "description": "Simple Mail Transfer",
                    "assignee": "[IESG]",
                    "contact": "[IETF_Chair]",
                    "registration_date": None,
                    "modification_date": "2017-06-05",
                    "reference": "[RFC-ietf-emailcore-rfc5321bis-43]",
                    "service_code": None,
                    "unauthorized_use": None,
                    "assignment_notes": None,
                    "line": 58,
                },
            },
        ],
    }


@pytest.mark.parametrize(
    "query,expected",
    [
        # By the renamed rows' modification dates: 2025-11-20, 2025-11-14, 2025-10-30, 2025-09-26.
        (
            "kind=renamed",
            [
                "pearldoc-xact renamed panquest-xact on 1980/tcp",
                "pearldoc-xact renamed panquest-xact on 1980/udp",
                "avi-nms renamed vision-mon on 4413/tcp",
                "avi-nms-disc renamed vision-mon-disc on 4413/udp",
                "fox-skytale renamed skytale on 4319/tcp",
                "fox-skytale renamed skytale on 4319/udp",
                "pmcdproxy renamed pmproxy on 44322/tcp",
                "pmcdproxy renamed pmproxy on 44322/udp",
            ],
        ),
        (
            "port=832",
            [
                "netconfsoaphttp released on 832/tcp (now Reserved)",
                "netconfsoaphttp released on 832/udp (now Reserved)",
            ],
        ),
        # The old Unassigned 288-307 row covered 290; assigning 300 split it.
        ("port=290", ["added Unassigned on 288-299", "tacacss assigned on 300/tcp (was Unassigned 288-307)"]),
        # Newest first: the added rows carry no date of their own (the registry's, 2026-02-25);
        # the assignment is dated 2025-07-15.
        ("port=307", ["added Unassigned on 301-307", "tacacss assigned on 300/tcp (was Unassigned 288-307)"]),
        ("port=300", ["added Reserved on 300/udp", "tacacss assigned on 300/tcp (was Unassigned 288-307)"]),
        (
            "service=pearldoc-xact",
            [
                "pearldoc-xact renamed panquest-xact on 1980/tcp",
                "pearldoc-xact renamed panquest-xact on 1980/udp",
            ],
        ),
        (
            "service=PanQuest-XACT&kind=renamed&port=1980",
            [
                "pearldoc-xact renamed panquest-xact on 1980/tcp",
                "pearldoc-xact renamed panquest-xact on 1980/udp",
            ],
        ),
        (
            "service=netconf-beep",
            [
                "added netconf-beep with no port",
                "netconf-beep released on 831/tcp (now Reserved)",
                "netconf-beep released on 831/udp (now Reserved)",
            ],
        ),
        ("kind=assigned&port=300", ["tacacss assigned on 300/tcp (was Unassigned 288-307)"]),
        ("kind=removed", []),
        ("service=no-such-service", []),
        ("port=49152", []),
        ("ingest=1", []),
        ("kind=&port=&service=", None),
    ],
)
async def test_json_filters(ds, in_order, query, expected):
    response = await ds.client.get(f"/changes.json?{query}&_size=1000")
    assert response.status_code == 200
    summaries = [c["summary"] for c in response.json()["changes"]]
    if expected is None:  # empty filters filter nothing
        expected = [r["summary"] for r in in_order]
    assert summaries == expected


@pytest.mark.parametrize(
    "query,error",
    [
        ("port=abc", "port must be a whole number from 0 to 65535"),
        ("port=65536", "port must be a whole number from 0 to 65535"),
        ("port=-1", "port must be a whole number from 0 to 65535"),
        ("port=" + "9" * 3000, "port must be a whole number from 0 to 65535"),
        ("port=%EF%BC%91", "port must be a whole number from 0 to 65535"),
        ("kind=deleted", "kind must be one of added, removed, modified, renamed, assigned, released"),
        ("_size=0", "_size must be a whole number from 1 to 1000"),
        ("_size=5000", "_size must be a whole number from 1 to 1000"),
        ("_next=x", "_next must be INGEST.DATE.ID, as a next link gives it"),
        ("_next=50", "_next must be INGEST.DATE.ID, as a next link gives it"),
        ("ingest=1.5", f"ingest must be a whole number from 1 to {2**62}"),
    ],
)
async def test_bad_filters_are_400_not_500(ds, query, error):
    response = await ds.client.get(f"/changes.json?{query}")
    assert response.status_code == 400
    assert response.json() == {"ok": False, "error": error, "status": 400, "title": None}
    page = await ds.client.get(f"/changes?{query}")
    assert page.status_code == 400
    assert f'<p class="message-error">{html.escape(error)}</p>' in page.text
    feed = await ds.client.get(f"/changes.atom?{query}")
    assert (feed.status_code, feed.text) == (400, error + "\n")


async def test_json_pages_join_up_to_the_whole_list(ds, in_order):
    seen, url = [], "/changes.json?_size=30"
    pages = 0
    while url:
        body = (await ds.client.get(url)).json()
        seen += [c["id"] for c in body["changes"]]
        url, pages = body["next"], pages + 1
    assert pages == 3
    assert seen == [r["id"] for r in in_order]


async def test_page_lists_changes_under_their_ingest(ds):
    response = await ds.client.get("/changes?service=pearldoc-xact")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    text = response.text
    assert "<title>Registry changes · IANA ports</title>" in text
    assert (
        '<link rel="alternate" type="application/atom+xml" title="IANA port registry changes"'
        ' href="/changes.atom?service=pearldoc-xact">'
    ) in text
    assert '<a href="/changes.json?service=pearldoc-xact">JSON</a>' in text
    assert '<section class="ingest" id="ingest-2">' in text
    assert text.count('<li id="change-') == 2
    assert "pearldoc-xact renamed panquest-xact on 1980/tcp" in text
    assert '<a class="change-port" href="/ports/1980">port 1980</a>' in text
    assert '<a class="change-service" href="/services/panquest-xact">panquest-xact</a>' in text
    assert '<tr><th scope="row">description</th><td>PearlDoc XACT</td><td>PanQuest XACT</td></tr>' in text
    assert (
        '<label for="changes-service">Service</label>\n'
        '    <input id="changes-service" type="text" name="service" size="16" value="pearldoc-xact">'
    ) in text


CHANGE_DATE = re.compile(r'<time class="change-date" datetime="([^"]*)">([^<]*)</time>')


async def test_page_dates_changes_by_the_registry_not_the_fetch(ds, stored):
    fetched = stored[0]["fetched_at"]
    text = (await ds.client.get("/changes?port=1980")).text
    # The ingest under the registry's own date; when it ran comes second.
    assert "<h2>Registry of 2026-02-25</h2>" in text
    assert (
        f'<p class="ingest-meta">Ingest 2, fetched <time datetime="{fetched}">'
        f"{fetched[:10]} {fetched[11:16]} UTC</time>,\n"
        '    compared with ingest 1 (registry of <span class="nowrap">2025-03-28</span>).</p>'
    ) in text
    # The rename carries its own modification date.
    assert re.findall(CHANGE_DATE, text) == [("2025-11-20", "2025-11-20")] * 2
    # Its modification date is years old: the change is dated by its ingest.
    smtp = (await ds.client.get("/changes?port=25")).text
    assert re.findall(CHANGE_DATE, smtp) == [("2026-02-25", "2026-02-25")] * 2
    history = render(ds, "site/_history.html", changes=read.history(builds.current(ds).store, port=300))
    assert re.findall(CHANGE_DATE, history) == [("2026-02-25", "2026-02-25"), ("2025-07-15", "2025-07-15")]


async def test_json_change_dates(ds):
    body = (await ds.client.get("/changes.json?_size=1000")).json()
    dates = {c["summary"]: c["change_date"] for c in body["changes"]}
    assert dates["tacacss assigned on 300/tcp (was Unassigned 288-307)"] == "2025-07-15"
    assert dates["netconf-beep released on 831/tcp (now Reserved)"] == "2025-09-29"
    assert dates["added Unassigned on 288-299"] is None
    assert {c["registry_date"] for c in body["changes"]} == {"2026-02-25"}


@pytest.mark.parametrize("path", ["/changes", "/changes?kind=renamed"])
async def test_page_has_the_project_look(ds, path):
    text = (await ds.client.get(path)).text
    assert '<link rel="stylesheet" href="/static/site.css">' in text
    assert '<body class="page-changes">' in text
    # Like the other project pages: the site header, no Datasette "home" crumb.
    assert ">home<" not in text
    assert '<span class="badge change-kind">renamed</span>' in text
    css = (await ds.client.get("/static/site.css")).text
    section = css[css.index("/* changes and history */") :]
    for selector in ("form.changes-filter", "li.change", ".change-renamed .change-kind", "table.change-fields"):
        assert selector in section


async def test_page_escapes_what_it_echoes(ds):
    response = await ds.client.get("/changes?service=%3Cscript%3Ex%22")
    assert response.status_code == 200
    assert "<script>x" not in response.text
    assert 'value="&lt;script&gt;x&#34;"' in response.text
    assert '<p>No changes match these filters. <a href="/changes">Every change</a></p>' in response.text


def token(change: dict) -> str:
    """The keyset a page's next link carries after `change` (ingest, date, id)."""
    return f"{change['ingest']}.{change['change_date'] or change['registry_date']}.{change['id']}"


async def test_page_links_older_changes(ds):
    response = await ds.client.get("/changes?_size=50")
    fiftieth = (await ds.client.get("/changes.json?_size=50")).json()["changes"][-1]
    assert f'<a href="/changes?_next={token(fiftieth)}&amp;_size=50">Older changes</a>' in response.text
    last = await ds.client.get(f"/changes?_next={token(fiftieth)}&_size=50")
    assert "Older changes" not in last.text
    assert last.text.count('<li id="change-') == 28


def parse_feed(response):
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(response.content)


async def test_atom_feed_is_valid_atom_with_an_entry_per_change(ds, stored, in_order, snapshot_2026):
    feed = parse_feed(await ds.client.get("/changes.atom"))
    assert feed.tag == f"{ATOM}feed"
    assert feed.findtext(f"{ATOM}title") == "IANA port registry changes"
    assert feed.findtext(f"{ATOM}id") == "tag:iana-ports,2026:changes"
    newest = max(r["fetched_at"] for r in stored)
    assert feed.findtext(f"{ATOM}updated") == newest.replace("+00:00", "Z")
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "iana-ports"
    assert [(link.get("rel"), link.get("href")) for link in feed.findall(f"{ATOM}link")] == [
        ("self", "http://localhost/changes.atom"),
        ("alternate", "http://localhost/changes"),
    ]
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == [r["summary"] for r in in_order]
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    sha = hashlib.sha256(snapshot_2026.read_bytes()).hexdigest()
    assert ids == [f"tag:iana-ports,2026:{sha}/change/{r['id']}" for r in in_order]
    for entry, row in zip(entries, in_order):
        assert entry.find(f"{ATOM}link").get("href") == f"http://localhost/changes?ingest=2#change-{row['id']}"
        assert entry.findtext(f"{ATOM}updated") == row["fetched_at"].replace("+00:00", "Z")
        assert entry.find(f"{ATOM}category").get("term") == row["kind"]
        assert entry.find(f"{ATOM}content").get("type") == "text"


@pytest.mark.parametrize("query", ["", "?port=1980&service=panquest-xact"])
async def test_atom_ids_do_not_depend_on_the_host_header(ds, query):
    here = parse_feed(await ds.client.get(f"/changes.atom{query}"))
    there = parse_feed(await ds.client.get(f"/changes.atom{query}", headers={"host": "evil.example"}))

    def ids(feed):
        return [feed.findtext(f"{ATOM}id")] + [e.findtext(f"{ATOM}id") for e in feed.findall(f"{ATOM}entry")]

    assert len(ids(here)) > 1
    assert ids(there) == ids(here)
    assert not any("example" in i or "localhost" in i for i in ids(here))
    # Links follow the host the feed was read from; only the ids are fixed.
    assert there.find(f"{ATOM}link").get("href").startswith("http://evil.example/")


@pytest.mark.parametrize(
    "path,status",
    [
        ("/changes.json", 200),
        ("/changes.json?port=x", 400),
        ("/changes.atom", 200),
        ("/changes.atom?kind=x", 400),
    ],
)
async def test_json_and_feed_carry_cors_headers(ds, history_db, path, status):
    response = await ds.client.get(path)
    assert response.status_code == status
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-expose-headers"] == "ETag, Link, Mcp-Session-Id"


async def test_atom_feed_filters_and_details(ds):
    feed = parse_feed(await ds.client.get("/changes.atom?port=1980"))
    assert feed.findtext(f"{ATOM}title") == "IANA port registry changes: port 1980"
    assert feed.findtext(f"{ATOM}id") == "tag:iana-ports,2026:changes?port=1980"
    [tcp, udp] = feed.findall(f"{ATOM}entry")
    assert tcp.findtext(f"{ATOM}content") == (
        "pearldoc-xact renamed panquest-xact on 1980/tcp\n"
        "Ingest 2 (compared with ingest 1).\n"
        "service_name: pearldoc-xact -> panquest-xact\n"
        "description: PearlDoc XACT -> PanQuest XACT\n"
        "modification_date: (empty) -> 2025-11-20"
    )
    assert udp.findtext(f"{ATOM}title") == "pearldoc-xact renamed panquest-xact on 1980/udp"
    added = parse_feed(await ds.client.get("/changes.atom?service=wchr"))
    [entry] = added.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}content").splitlines()[:3] == [
        "added wchr with no port",
        "Ingest 2 (compared with ingest 1).",
        "service_name: wchr",
    ]


def test_atom_renderer_escapes_markup_and_drops_characters_xml_cannot_hold():
    row = {
        "id": 7,
        "ingest": 3,
        "ingest_sha256": "ab" * 32,
        "previous_ingest": 2,
        "fetched_at": "2026-03-01T10:00:00+01:00",
        "kind": "modified",
        "summary": 'x<y> & "z" \x0b on 1/tcp',
        "fields": [{"field": "description", "old": "<b>old</b>", "new": "a & b"}],
        "old": None,
        "new": None,
    }
    body = atom.atom(
        [row],
        feed_id="tag:iana-ports,2026:changes?a=1&b=2",
        feed_url="http://h/changes.atom?a=1&b=2",
        page_url="http://h/changes",
        changes_url="http://h/changes",
        updated="2026-03-01T10:00:00+01:00",
    )
    feed = ET.fromstring(body)
    assert feed.findtext(f"{ATOM}id") == "tag:iana-ports,2026:changes?a=1&b=2"
    assert feed.findtext(f"{ATOM}updated") == "2026-03-01T09:00:00Z"
    [entry] = feed.findall(f"{ATOM}entry")
    assert entry.findtext(f"{ATOM}id") == f"tag:iana-ports,2026:{'ab' * 32}/change/7"
    assert entry.findtext(f"{ATOM}title") == 'x<y> & "z"  on 1/tcp'
    assert entry.findtext(f"{ATOM}content").splitlines()[-1] == "description: <b>old</b> -> a & b"
    assert b"<b>" not in body


async def test_history_for_port_and_service(store):
    by_port = read.history(store, port=831)
    assert [(c["kind"], c["service_key"], c["transport"]) for c in by_port] == [
        ("released", "netconf-beep", "tcp"),
        ("released", "netconf-beep", "udp"),
    ]
    by_service = read.history(store, service_key="tacacss")
    assert [c["summary"] for c in by_service] == ["tacacss assigned on 300/tcp (was Unassigned 288-307)"]
    assert by_service[0]["fields"][0] == {"field": "service_name", "old": None, "new": "tacacss"}
    by_old_row = read.history(store, port=290)
    assert [c["summary"] for c in by_old_row] == [
        "added Unassigned on 288-299",
        "tacacss assigned on 300/tcp (was Unassigned 288-307)",
    ]
    assert read.history(store, port=22) == []


async def test_history_partial_renders_for_port_pages(ds, store):
    text = render(ds, "site/_history.html", changes=read.history(store, port=25))
    assert text.count('<li id="change-') == 2
    assert '<span class="badge change-kind">modified</span>' in text
    assert (
        '<tr><th scope="row">reference</th><td>[RFC5321]</td><td>[RFC-ietf-emailcore-rfc5321bis-43]</td></tr>'
    ) in text
    empty = render(ds, "site/_history.html", changes=[])
    assert empty.strip() == '<p class="changes-none">No recorded changes.</p>'


@pytest.mark.parametrize(
    "path, expected",
    [
        (
            "/ports/1980",
            [
                "pearldoc-xact renamed panquest-xact on 1980/tcp",
                "pearldoc-xact renamed panquest-xact on 1980/udp",
            ],
        ),
        (
            "/services/NetConf-Beep",
            [
                "added netconf-beep with no port",
                "netconf-beep released on 831/tcp (now Reserved)",
                "netconf-beep released on 831/udp (now Reserved)",
            ],
        ),
        ("/ports/22", []),
    ],
)
async def test_port_and_service_pages_show_their_history(ds, path, expected):
    page = (await ds.client.get(path)).text
    section = re.search(r'<section aria-labelledby="history">.*?</section>', page, re.S).group(0)
    assert re.findall(r'<span class="change-summary">(.*?)</span>', section) == [html.escape(e) for e in expected]
    if not expected:
        assert '<p class="changes-none">No recorded changes.</p>' in section


@pytest.mark.parametrize("path", ["/ports/1980", "/ports/22", "/services/netconf-beep", "/services/http"])
async def test_explainer_pages_still_render_with_the_history_hook(ds, path):
    response = await ds.client.get(path)
    assert response.status_code == 200


def test_port_filter_searches_both_sides_by_index(history_db):
    conn = sqlite3.connect(history_db)
    try:
        filters = {"kind": None, "port": 290, "service": None, "ingest": None, "since": None, "limit": 10}
        params = store_module.change_params(dict(filters, after=(2, "2025-10-16", 49)))
        plan = " | ".join(r[3] for r in conn.execute("explain query plan " + store_module.CHANGES_SQL, params))
    finally:
        conn.close()
    assert "SEARCH changes USING COVERING INDEX idx_changes_old_port_low_old_port_high" in plan
    assert "SEARCH changes USING COVERING INDEX idx_changes_new_port_low_new_port_high" in plan


async def test_atom_pages_link_on_so_no_change_is_out_of_reach(ds, in_order):
    first = parse_feed(await ds.client.get("/changes.atom?_size=50"))
    links = {link.get("rel"): link.get("href") for link in first.findall(f"{ATOM}link")}
    after = token((await ds.client.get("/changes.json?_size=50")).json()["changes"][-1])
    assert links["next"] == f"http://localhost/changes.atom?_next={after}&_size=50"
    second = parse_feed(await ds.client.get(f"/changes.atom?_next={after}&_size=50"))
    titles = [e.findtext(f"{ATOM}title") for feed in (first, second) for e in feed.findall(f"{ATOM}entry")]
    assert titles == [r["summary"] for r in in_order]
    assert "next" not in {link.get("rel") for link in second.findall(f"{ATOM}link")}


async def test_lookup_of_a_renamed_name_leads_to_its_explanation(ds):
    response = await ds.client.get("/lookup?q=PearlDoc-XACT")
    assert (response.status_code, response.headers["location"]) == (302, "/services/pearldoc-xact")
    page = await ds.client.get("/services/pearldoc-xact")
    assert page.status_code == 404
    assert "it was renamed to panquest-xact" in page.text
