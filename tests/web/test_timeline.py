"""Port and service timelines, and /changes paged by keyset, on five replayed monthly versions.

The events are the hand-checked changes of tests/ingest/test_replay.py (47, 4307, 854).
"""

import re
import sqlite3

import pytest

from tests.conftest import served


@pytest.fixture(scope="module")
def ds(slice_db):
    yield from served(slice_db)


def change_ids(slice_db, where: str) -> list[int]:
    conn = sqlite3.connect(slice_db)
    try:
        return [r[0] for r in conn.execute(f"select id from changes where {where} order by id")]
    finally:
        conn.close()


async def test_port_4307_timeline_json(ds, slice_db):
    body = (await ds.client.get("/ports/4307.json")).json()
    assert body["timeline"] == [
        {
            "date": "2017-05-12",
            "registry_date": "2017-05-25",
            "kind": "renamed",
            "word": "renamed",
            "port": "4307",
            "transports": ["tcp", "udp"],
            "service": "trueconf",
            "old_service": "visicron-vs",
            "summary": "visicron-vs renamed trueconf on 4307/tcp+udp",
            "housekeeping": False,
            "changes": change_ids(slice_db, "port = '4307'"),
        }
    ]


async def test_port_47_timeline_says_de_registered(ds, slice_db):
    body = (await ds.client.get("/ports/47.json")).json()
    [tcp, udp] = change_ids(slice_db, "port = '47'")
    assert body["timeline"] == [
        {
            "date": "2017-05-18",
            "registry_date": "2017-05-25",
            "kind": "released",
            "word": "de-registered",
            "port": "47",
            "transports": ["tcp", "udp"],
            "service": "ni-ftp",
            "old_service": None,
            "summary": "ni-ftp released on 47/tcp+udp (now Reserved)",
            "housekeeping": False,
            "changes": [tcp, udp],
        }
    ]
    page = (await ds.client.get("/ports/47")).text
    items = re.findall(r'<li class="timeline-event[^"]*">.*?</li>', page, re.S)
    assert [" ".join(i.split()) for i in items] == [
        '<li class="timeline-event change-released"> <time datetime="2017-05-18">2017-05-18</time> '
        '<span class="badge change-kind">de-registered</span> '
        f'<a href="#change-{tcp}">ni-ftp released on 47/tcp+udp (now Reserved)</a> '
        '<span class="timeline-version">(registry of 2017-05-25)</span> </li>'
    ]
    # The link lands on the change's own card below.
    assert f'<li id="change-{tcp}" class="change change-released">' in page


async def test_service_dlep_timeline_oldest_first(ds, slice_db):
    body = (await ds.client.get("/services/dlep.json")).json()
    [assigned_tcp, assigned_udp, modified_tcp, modified_udp] = change_ids(slice_db, "service_key = 'dlep'")
    event = {"port": "854", "transports": ["tcp", "udp"], "service": "dlep", "old_service": None}
    assert body["timeline"] == [
        {
            "date": "2017-04-03",
            "registry_date": "2017-04-28",
            "kind": "assigned",
            "word": "assigned",
            **event,
            "summary": "dlep assigned on 854/tcp+udp (was Unassigned 854-859)",
            "housekeeping": False,
            "changes": [assigned_tcp, assigned_udp],
        },
        {
            "date": "2017-06-28",
            "registry_date": "2017-06-28",
            "kind": "modified",
            "word": "modified",
            **event,
            "summary": "dlep on 854/tcp+udp: reference changed",
            # A reference alone: housekeeping, as /changes folds it.
            "housekeeping": True,
            "changes": [modified_tcp, modified_udp],
        },
    ]
    page = (await ds.client.get("/services/dlep")).text
    items = re.findall(r'<li class="timeline-event[^"]*">.*?</li>', page, re.S)
    assert [" ".join(i.split()) for i in items] == [
        '<li class="timeline-event change-assigned"> <time datetime="2017-04-03">2017-04-03</time> '
        '<span class="badge change-kind">assigned</span> '
        f'<a href="#change-{assigned_tcp}">dlep assigned on 854/tcp+udp (was Unassigned 854-859)</a> '
        '<span class="timeline-version">(registry of 2017-04-28)</span> </li>',
        '<li class="timeline-event change-modified timeline-housekeeping"> '
        '<time datetime="2017-06-28">2017-06-28</time> <span class="badge change-kind">modified</span> '
        f'<a href="#change-{modified_tcp}">dlep on 854/tcp+udp: reference changed</a> </li>',
    ]


@pytest.mark.parametrize("path", ["/changes.json", "/changes.atom", "/changes"])
async def test_next_links_reach_every_change_once(ds, slice_db, path):
    whole = (await ds.client.get("/changes.json?_size=1000")).json()["changes"]
    # 100 changes: ten full pages of 10, the last one linking nowhere.
    assert len(whole) == len(change_ids(slice_db, "1")) == 100
    url, seen, pages = f"{path}?_size=10", [], 0
    while url:
        response = await ds.client.get(url)
        assert response.status_code == 200, url
        pages += 1
        text = response.text
        if path == "/changes.json":
            body = response.json()
            seen += [c["id"] for c in body["changes"]]
            url = body["next"]
        else:
            pattern = r'<link [^>]*href="[^"]*#change-(\d+)"' if path == "/changes.atom" else r'<li id="change-(\d+)"'
            seen += [int(i) for i in re.findall(pattern, text)]
            found = re.search(
                r'<link rel="next" [^>]*href="http://localhost([^"]+)"|<a href="([^"]+)">Older changes</a>',
                text,
            )
            url = found and next(filter(None, found.groups())).replace("&amp;", "&")
    # In the one order (the page folds housekeeping under the rest of its page), none twice,
    # none left out; a last page that is full links nowhere.
    if path == "/changes":
        seen = sorted(seen)
        whole = sorted(whole, key=lambda c: c["id"])
    assert seen == [c["id"] for c in whole]
    assert pages == 10
