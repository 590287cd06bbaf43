"""A build enriched by the registry's XML, served by a real Datasette: real names, footnotes, links,
how to apply, and no person's address anywhere (database, pages, JSON, CSV, exports)."""

import html
import re
import sqlite3
from pathlib import Path

import pytest

from deploy.harness import SHARED, build
from helpers import served
from iana_ports.exports import write_all
from iana_ports.memory import MemoryStore
from iana_ports.store import file_uri

XML_2026 = SHARED / "xml" / "service-names-port-numbers-2026-02-25.xml"
FOOTNOTE = (
    "It is only appropriate to use these values in explicitly-configured experiments; they MUST NOT be shipped"
    " as defaults in implementations. See RFC 3692 for details."
)


@pytest.fixture(scope="module")
def db_xml(tmp_path_factory, snapshot_2026) -> Path:
    return build(snapshot_2026, tmp_path_factory.mktemp("db2026xml") / "iana.db", xml=XML_2026)


@pytest.fixture(scope="module")
def ds(db_xml):
    yield from served(db_xml)


@pytest.fixture(scope="module")
def addresses() -> set[str]:
    """Every person's address in the real XML, as it writes it ("zan&accessone.com") and un-obfuscated."""
    uris = {u.replace("&amp;", "&") for u in re.findall(r"<uri>([^<]+)</uri>", XML_2026.read_text(encoding="utf-8"))}
    found = {u.removeprefix("mailto:") for u in uris} | uris
    found |= {a.replace("&", "@") for a in found}
    assert len(uris) > 5000
    # The scan finds them where they are: in the XML itself, and un-obfuscated.
    assert len(leaks(XML_2026.read_text(encoding="utf-8"), found)) > 5000
    assert leaks("write to zan@accessone.com", found) == ["zan@accessone.com"]
    return found


def leaks(text: str, addresses: set[str]) -> list[str]:
    """The addresses `text` holds: every run around an "&" or "@" is compared, whole and unescaped."""
    text = html.unescape(text)
    runs = set(re.findall(r"[^\s\[\]()<>\"',;]*[&@][^\s\[\]()<>\"',;]*", text))
    return sorted(runs & addresses) + (["mailto:"] if "mailto:" in text else [])


async def body(ds, path: str) -> str:
    response = await ds.client.get(path)
    assert response.status_code == 200, path
    return response.text


async def test_port_1021_says_the_footnote_and_the_verdict_knows_it(ds):
    facts = (await ds.client.get("/ports/1021.json")).json()
    assert facts["footnotes"] == [
        {
            "anchor": "1",
            "text": "It is only appropriate to use these values in explicitly-\nconfigured experiments; they MUST NOT"
            " be shipped as defaults in\nimplementations.  See RFC 3692 for details.",
        }
    ]
    assert facts["verdict"]["level"] == "avoid"
    assert facts["verdict"]["reasons"][:2] == [
        "IANA has assigned it to exp1 on tcp and udp.",
        f"The registry's footnote on it: “{FOOTNOTE}” Software must not ship it as a default.",
    ]
    assert facts["people"] == {
        "IESG": {"name": None, "org": "IESG", "from": "registry"},
        "IETF_Chair": {"name": "IETF Chair", "org": "IETF", "from": "registry"},
    }
    page = await body(ds, "/ports/1021")
    assert "Note [1]: It is only appropriate to use these values in explicitly-\nconfigured experiments" in page
    assert ">[1]<" not in page
    assert "<dt>Contact</dt><dd>IETF Chair (IETF)</dd>" in page


async def test_names_the_rule_gets_wrong_are_the_registrys(ds):
    page = await body(ds, "/ports/3052")
    assert "<dt>Assignee</dt><dd>American Power Conversion</dd>" in page
    assert "American Power Conve<" not in page
    facts = (await ds.client.get("/services/apc-3052.json")).json()
    assert facts["people"]["American_Power_Conve"] == {
        "name": None,
        "org": "American Power Conversion",
        "from": "registry",
    }
    smtp = (await ds.client.get("/ports/25.json")).json()
    draft = [r for r in smtp["references"] if r["reference"] == "RFC-ietf-emailcore-rfc5321bis-43"]
    # The project's rule had a link already (ingest/model.py): the XML adds the type.
    assert {(r["type"], r["url"]) for r in draft} == {
        ("draft", "https://datatracker.ietf.org/doc/draft-ietf-emailcore-rfc5321bis/")
    }


async def test_a_reference_the_csv_names_by_label_is_linked(ds):
    facts = (await ds.client.get("/ports/7202.json")).json()
    [tr352] = [r for r in facts["references"] if r["reference"] == "TR-352"]
    assert (tr352["type"], tr352["url"]) == ("uri", "https://www.broadband-forum.org/technical/download/TR-352.pdf")
    page = await body(ds, "/ports/7202")
    assert '<a href="https://www.broadband-forum.org/technical/download/TR-352.pdf" rel="nofollow">TR-352</a>' in page


async def test_how_to_apply_on_an_unassigned_user_port_only(ds):
    assert (await ds.client.get("/ports/1491.json")).json()["apply"] == {
        "title": "Request an Assignment",
        "url": "https://www.iana.org/protocols/apply",
    }
    page = await body(ds, "/ports/1491")
    assert '<a href="https://www.iana.org/protocols/apply">request an assignment from IANA</a>' in page
    for n in (22, 1021, 50000):
        assert (await ds.client.get(f"/ports/{n}.json")).json()["apply"] is None
        assert "protocols/apply" not in await body(ds, f"/ports/{n}")


def test_the_database_holds_no_address(db_xml, addresses):
    conn = sqlite3.connect(file_uri(db_xml), uri=True)
    try:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]
        assert {"people", "footnotes", "registry_notes", "registry_xml"} <= set(tables)
        assert [c[1] for c in conn.execute("pragma table_info(people)")] == ["id", "name", "org"]
        found = {}
        for t in tables:
            text = "\n".join(str(v) for row in conn.execute(f'select * from "{t}"') for v in row if isinstance(v, str))
            if hit := leaks(text, addresses):
                found[t] = hit[:3]
    finally:
        conn.close()
    assert found == {}


async def test_no_page_json_csv_or_export_holds_an_address(ds, db_xml, addresses, tmp_path):
    paths = ["/", "/changes", "/search?q=apc", "/map", "/free?near=3052"]
    for n in (1, 25, 80, 1021, 3052, 7202, 8809):
        paths += [f"/ports/{n}", f"/ports/{n}.json"]
    for name in ("apc-3052", "exp1", "3gpp-monp", "http"):
        paths += [f"/services/{name}", f"/services/{name}.json"]
    for table in ("people", "registrations", "references", "registry_notes", "registry_xml", "footnotes"):
        paths += [f"/iana/{table}", f"/iana/{table}.json?_shape=array&_size=max", f"/iana/{table}.csv?_size=max"]
    paths += ["/exports/services", "/exports/ports.json", "/exports/ports.csv", "/-/metadata.json"]
    found = {p: leaks(await body(ds, p), addresses) for p in paths}
    assert {p: hit for p, hit in found.items() if hit} == {}
    assert (await ds.client.get("/iana/people.json?id=APCO_Project&_shape=array")).json() == [
        {"id": "APCO_Project", "name": "Steve Glass", "org": "APCO Project 25"}
    ]
    written = write_all(MemoryStore(file_uri(db_xml)), tmp_path)
    assert len(written) >= 3
    for f in tmp_path.iterdir():
        if f.suffix != ".db":
            assert leaks(f.read_text(encoding="utf-8"), addresses) == [], f.name
