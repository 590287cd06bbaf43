"""The registry XML as a second source: the cross-check, the XML beside the CSV over HTTP, either form as --source.

Real files (../shared/data/iana/), real servers on 127.0.0.1 (servers.py), the real command.
"""

import gzip
import hashlib
from pathlib import Path

import pytest
import servers
from servers import ETAG, LAST_MODIFIED, NAME, XML_ETAG
from support import Kept, ingests, listing, query

from deploy.harness import SHARED
from ingest.__main__ import main
from ingest.parse import parse
from ingest.registry_xml import parse_xml
from ingest.sources import MAX_REFERENCE_DRIFT, beside, cross_check

serve = servers.serve  # fixture

XML_2025 = SHARED / "xml" / "service-names-port-numbers-2025-03-28.xml"
XML_2026 = SHARED / "xml" / "service-names-port-numbers-2026-02-25.xml"
HISTORY_2017 = SHARED / "xml" / "history" / "service-names-port-numbers-2017-03-30.xml.gz"
TODAY = "2026-12-01"
DRIFT_2026 = (
    "warning: the CSV's Reference differs from the XML's on record 9137 (the CSV's kept; the XML enriches the rest)"
)
# What a build holds of the registry: the same whether the XML enriched it or not.
REGISTRY_TABLES = ("registrations", "ports", "services", "unassigned_ranges")


def ingest(*args: str) -> int:
    return main([*args, "--timeout", "5", "--retries", "0"])


def table(db: Path, name: str) -> list[dict]:
    return query(db, f'select * from "{name}" order by rowid')


@pytest.fixture(scope="module")
def csv_records_2026(snapshot_2026):
    return parse(snapshot_2026.read_text(encoding="utf-8"), TODAY)


@pytest.fixture(scope="module")
def csv_only(tmp_path_factory, snapshot_2026) -> Path:
    db = tmp_path_factory.mktemp("csv_only") / "iana.db"
    assert ingest("--source", str(snapshot_2026), "--db", str(db)) == 0
    return db


# -- the cross-check, a pure function ----------------------------------------


def test_both_real_pairs_agree(snapshot_2025, snapshot_2026, csv_records_2026):
    xml_2026 = parse_xml(XML_2026.read_bytes(), TODAY).records
    assert cross_check(csv_records_2026, xml_2026) == (None, [9137])
    csv_2025 = parse(snapshot_2025.read_text(encoding="utf-8"), TODAY)
    assert cross_check(csv_2025, parse_xml(XML_2025.read_bytes(), TODAY).records) == (None, [1492, 1494])


def test_the_cross_check_names_the_first_disagreement(snapshot_2025, csv_records_2026):
    xml = parse_xml(XML_2026.read_bytes(), TODAY).records
    other = parse_xml(XML_2025.read_bytes(), TODAY).records
    assert cross_check(csv_records_2026, other) == ("14500 records in the CSV, 14474 in the XML", [])
    renamed = [dict(r) for r in xml]
    renamed[2]["service_name"] = "tcpmux2"
    assert cross_check(csv_records_2026, renamed) == ("record 3 (CSV line 4) differs in column 'Service Name'", [])
    moved = [dict(r) for r in xml]
    moved[2]["port_low"] = moved[2]["port_high"] = 2
    assert cross_check(csv_records_2026, moved) == ("record 3 (CSV line 4) differs in column 'Port Number'", [])
    swapped = [*xml[:2], xml[3], xml[2], *xml[4:]]
    assert cross_check(csv_records_2026, swapped) == (
        "record 3 (CSV line 4) differs in column 'Transport Protocol'",
        [],
    )
    drifting = [dict(r) for r in xml]
    for r in drifting[100 : 100 + MAX_REFERENCE_DRIFT - 1]:
        r["reference"] = "[RFC1]"
    assert cross_check(csv_records_2026, drifting) == (None, [*range(101, 100 + MAX_REFERENCE_DRIFT), 9137])
    drifting[200]["reference"] = "[RFC1]"
    assert cross_check(csv_records_2026, drifting) == (
        f"{MAX_REFERENCE_DRIFT + 1} records differ in column 'Reference' (more than {MAX_REFERENCE_DRIFT})",
        [],
    )


def test_the_xml_beside_a_csv_url():
    assert beside("https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.csv") == (
        "https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.xml"
    )
    assert beside("http://127.0.0.1:8/a/x.csv?token=t") == "http://127.0.0.1:8/a/x.xml?token=t"
    assert beside("http://127.0.0.1:8/a/x.xml") is None
    assert beside("http://127.0.0.1:8/registry") is None


# -- local files ---------------------------------------------------------------


@pytest.mark.slow
def test_a_local_csv_with_its_xml_is_enriched(csv_only, snapshot_2026, tmp_path, capsys):
    db = tmp_path / "iana.db"
    capsys.readouterr()
    assert ingest("--source", str(snapshot_2026), "--xml", str(XML_2026), "--db", str(db)) == 0
    out = capsys.readouterr()
    assert out.err == DRIFT_2026 + "\n"
    assert out.out.startswith(f"built {db}: 14500 registrations, newest registry date 2026-02-25, ")
    for name in REGISTRY_TABLES:
        assert table(db, name) == table(csv_only, name), name
    assert query(db, "select count(*) n from people") == [{"n": 5590}]
    assert query(db, "select * from people where id in ('APCO_Project', 'American_Power_Conve') order by id") == [
        {"id": "APCO_Project", "name": "Steve Glass", "org": "APCO Project 25"},
        {"id": "American_Power_Conve", "name": None, "org": "American Power Conversion"},
    ]
    xml_sha = hashlib.sha256(XML_2026.read_bytes()).hexdigest()
    [row] = table(db, "registry_xml")
    assert {k: v for k, v in row.items() if k != "fetched_at"} == {
        "source": XML_2026.name,
        "final_url": None,
        "sha256": xml_sha,
        "bytes": XML_2026.stat().st_size,
        "etag": None,
        "last_modified": None,
        "updated": "2026-02-25",
        "drifted": "[9137]",
    }
    day = ingests(db)[0]["fetched_at"][:10]
    assert f"raw/{day}-{xml_sha}.xml" in listing(db.parent)


@pytest.mark.slow
def test_a_doctored_xml_falls_back_to_the_csv_with_one_warning(csv_only, snapshot_2026, tmp_path, capsys):
    doctored = tmp_path / "doctored.xml"
    data = XML_2026.read_bytes()
    assert data.count(b"<description>Echo</description>") == 2
    doctored.write_bytes(data.replace(b"<description>Echo</description>", b"<description>Echo!</description>", 1))
    db = tmp_path / "data" / "iana.db"
    capsys.readouterr()
    assert ingest("--source", str(snapshot_2026), "--xml", str(doctored), "--db", str(db)) == 0
    out = capsys.readouterr()
    assert out.err == (
        "warning: the XML disagrees with the CSV: record 15 (CSV line 16) differs in column 'Description';"
        " built from the CSV alone\n"
    )
    assert out.out.startswith(f"built {db}: 14500 registrations")
    for name in (*REGISTRY_TABLES, "references", "people", "footnotes", "registry_notes", "registry_xml"):
        assert table(db, name) == table(csv_only, name), name
    assert table(db, "people") == [] and table(db, "registry_xml") == []
    assert [p for p in listing(db.parent) if p.endswith(".xml")] == []


@pytest.mark.parametrize(
    "make, raw_suffix",
    [
        (lambda csv: XML_2026.read_bytes(), ".xml"),
        (lambda csv: gzip.compress(XML_2026.read_bytes(), mtime=0), ".xml.gz"),
        (lambda csv: gzip.compress(csv.read_bytes(), mtime=0), ".csv.gz"),
    ],
    ids=["xml", "xml.gz", "csv.gz"],
)
@pytest.mark.slow
def test_either_form_as_the_source(make, raw_suffix, csv_only, snapshot_2026, tmp_path, capsys):
    source = tmp_path / f"registry{raw_suffix}"
    data = make(snapshot_2026)
    source.write_bytes(data)
    db = tmp_path / "iana.db"
    capsys.readouterr()
    assert ingest("--source", str(source), "--db", str(db)) == 0
    out = capsys.readouterr()
    raw = db.parent / "raw" / f"{ingests(db)[0]['fetched_at'][:10]}-{hashlib.sha256(data).hexdigest()}{raw_suffix}"
    assert out == (
        f"built {db}: 14500 registrations, newest registry date 2026-02-25, sha256 {raw.name[11:23]}, raw copy {raw}\n",
        "",
    )
    assert raw.read_bytes() == data
    built, csv = table(db, "registrations"), table(csv_only, "registrations")
    if raw_suffix.startswith(".xml"):
        # The XML's own Reference on the one record where the CSV is ahead of it.
        assert [(b["id"], b["reference"], c["reference"]) for b, c in zip(built, csv) if b != c] == [
            (9137, "[RFC-ietf-lamps-rfc5273bis-10]", "[RFC-ietf-lamps-rfc5273bis-11]")
        ]
        assert query(db, "select count(*) n from people") == [{"n": 5590}]
        assert query(db, "select updated, drifted from registry_xml") == [{"updated": "2026-02-25", "drifted": "[]"}]
    else:
        assert built == csv
        assert table(db, "people") == []


@pytest.mark.slow
def test_a_history_file_as_the_source(tmp_path, capsys):
    db = tmp_path / "iana.db"
    assert ingest("--source", str(HISTORY_2017), "--db", str(db), "--allow-shrink") == 0
    assert capsys.readouterr().err == ""
    assert query(db, "select updated from registry_xml") == [{"updated": "2017-03-30"}]
    assert query(db, "select service_name, transport from registrations where port = '1021' order by id") == [
        {"service_name": "exp1", "transport": "tcp"},
        {"service_name": "exp1", "transport": "udp"},
        {"service_name": "exp1", "transport": "sctp"},
        {"service_name": "exp1", "transport": "dccp"},
    ]
    # One of the two names of the old registry that are no service names (ingest/parse.LEGACY_NAMES), as given.
    assert query(db, "select service_name, transport from registrations where port = '3283' order by id") == [
        {"service_name": "Apple Remote Desktop (Net Assistant)", "transport": "tcp"},
        {"service_name": "Apple Remote Desktop (Net Assistant)", "transport": "udp"},
    ]


# -- over HTTP -----------------------------------------------------------------


@pytest.mark.slow
def test_the_xml_is_downloaded_beside_the_csv_then_conditionally(serve, snapshot_2025, snapshot_2026, tmp_path, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.xml = XML_2026.read_bytes()
    db = tmp_path / "data" / "iana.db"
    assert ingest("--source", url, "--db", str(db)) == 0
    assert capsys.readouterr().err == DRIFT_2026 + "\n"
    xml_url = url.removesuffix(".csv") + ".xml"
    assert [r["path"] for r in registry.requests] == [f"/assignments/{NAME}", "/assignments/" + Path(xml_url).name]
    assert query(db, "select source, final_url, etag, last_modified, updated from registry_xml") == [
        {
            "source": xml_url,
            "final_url": xml_url,
            "etag": XML_ETAG,
            "last_modified": LAST_MODIFIED,
            "updated": "2026-02-25",
        }
    ]
    assert query(db, "select count(*) n from people") == [{"n": 5590}]

    # The CSV not modified: nothing rebuilt, the XML not asked for.
    kept = Kept(db)
    assert ingest("--source", url, "--db", str(db)) == 0
    assert capsys.readouterr() == (f"unchanged: the server answered 304 Not Modified; {db} not rebuilt\n", "")
    assert len(registry.requests) == 3
    kept.check()

    # A new CSV while the XML is not modified yet: asked for with its validators, answered 304, the kept copy
    # is read, and it is the older version: one warning, the CSV builds alone.
    registry.body, registry.etag = snapshot_2025.read_bytes(), '"iana-2025-03-28"'
    registry.last_modified = "Fri, 28 Mar 2025 16:40:02 GMT"
    assert ingest("--source", url, "--db", str(db), "--allow-shrink") == 0
    assert capsys.readouterr().err == (
        "warning: the XML disagrees with the CSV: 14474 records in the CSV, 14500 in the XML;"
        " built from the CSV alone\n"
    )
    assert registry.requests[-1]["If-None-Match"] == XML_ETAG
    assert registry.requests[-2]["If-None-Match"] == ETAG
    assert table(db, "registry_xml") == [] and table(db, "people") == []


def test_no_xml_beside_the_csv_is_one_warning(serve, snapshot_2026, tmp_path, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    host = registry.base.removeprefix("http://")
    db = tmp_path / "iana.db"
    secret = f"http://zq-oper:hunter2@{host}/assignments/{NAME}?token=s3cr3t"
    assert ingest("--source", secret, "--db", str(db)) == 0
    out = capsys.readouterr()
    assert out.err == (
        f"warning: no XML beside the CSV (download failed: HTTP 404 from http://{host}/assignments/"
        "service-names-port-numbers.xml); built from the CSV alone\n"
    )
    assert "s3cr3t" not in out.out + out.err and "hunter2" not in out.out + out.err
    assert table(db, "registry_xml") == []


def test_an_xml_over_the_cap_is_one_warning(serve, snapshot_2026, tmp_path, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.xml = XML_2026.read_bytes()
    db = tmp_path / "iana.db"
    assert ingest("--source", url, "--db", str(db), "--max-bytes", str(2_000_000)) == 0
    xml_url = url.removesuffix(".csv") + ".xml"
    assert capsys.readouterr().err == (
        f"warning: no XML beside the CSV (download refused: {xml_url}: Content-Length {len(registry.xml)} is over the"
        " 2000000-byte cap); built from the CSV alone\n"
    )
    assert query(db, "select count(*) n from registrations") == [{"n": 14500}]
