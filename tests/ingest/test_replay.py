"""`python -m ingest replay` over the registry's monthly XML history: one build, every change.

The expected changes below were read by hand from the files (zcat FILE | grep -B8 -A3
'<number>47</number>', and the same for 4307 and 854), not from this code:

- 47 tcp/udp, ni-ftp "NI FTP" [Steve_Kille] in 2017-03-30 and 2017-04-28; in 2017-05-25
  "Reserved", updated="2017-05-18", note "This entry has been removed on 2017-05-18."
- 4307 tcp/udp, visicron-vs "Visicron Videoconference Service" [Alexey_Vlaskin], date
  2007-10-22, until 2017-04-28; in 2017-05-25 trueconf "TrueConf Videoconference Service",
  assignee Dmitry_Odintsov, contact Lev_Yakupov, updated="2017-05-12".
- 854: "Unassigned" 854-859 (no protocol) in 2017-03-30; dlep on tcp and udp in 2017-04-28
  (date 2017-04-03, [IESG], [IETF_Chair], draft RFC-ietf-manet-dlep-29), the reference
  RFC8175 from 2017-06-28.

Only `line` (where the row would start in the CSV of that version) comes from the reader.
"""

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from ingest.__main__ import main
from ingest.registry_xml import parse_xml
from iana_ports.facts import FIELDS


def rows(db: Path, sql: str, params=()) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql, params)]
    finally:
        conn.close()


def changes(db: Path, where: str, params=()) -> list[dict]:
    found = rows(db, f"select * from changes where {where} order by id", params)
    for row in found:
        del row["id"]
        for column in ("fields", "old", "new"):
            row[column] = json.loads(row[column]) if row[column] is not None else None
    return found


def line_of(path: Path, port: str, transport: str | None, name: str | None) -> int:
    [rec] = [
        r
        for r in parse_xml(path.read_bytes()).records
        if (r["port"], r["transport"], r["service_name"]) == (port, transport, name)
    ]
    return rec["line"]


def row(line: int, **given) -> dict:
    """A registry row as a change stores it: every field (None unless given) and its line."""
    return {**dict.fromkeys(FIELDS), "port": "", **given, "line": line}


@pytest.mark.slow
def test_one_ingest_per_version_dated_by_the_registry(slice_db, history_slice):
    assert [
        (r["id"], r["source"], r["registry_updated"], r["sha256"]) for r in rows(slice_db, "select * from ingests")
    ] == [
        (i, p.name, p.name[-17:-7], hashlib.sha256(p.read_bytes()).hexdigest())
        for i, p in enumerate(history_slice, start=1)
    ]
    assert rows(slice_db, "select distinct ingest, previous_ingest from changes order by ingest") == [
        {"ingest": i, "previous_ingest": i - 1} for i in range(2, 6)
    ]
    # The registrations are the newest version's.
    assert rows(slice_db, "select count(*) as n from registrations") == [
        {"n": len(parse_xml(history_slice[-1].read_bytes()).records)}
    ]


@pytest.mark.slow
def test_ni_ftp_de_registered_on_47(slice_db, history_slice):
    before, after = history_slice[1], history_slice[2]
    expected = []
    for t in ("tcp", "udp"):
        old = row(
            line_of(before, "47", t, "ni-ftp"),
            service_name="ni-ftp",
            port="47",
            transport=t,
            description="NI FTP",
            assignee="[Steve_Kille]",
            contact="[Steve_Kille]",
        )
        new = row(
            line_of(after, "47", t, None),
            port="47",
            transport=t,
            description="Reserved",
            modification_date="2017-05-18",
            assignment_notes="This entry has been removed on 2017-05-18.",
        )
        expected.append(
            {
                "ingest": 3,
                "previous_ingest": 2,
                "kind": "released",
                "port": "47",
                "port_low": 47,
                "port_high": 47,
                "old_port_low": 47,
                "old_port_high": 47,
                "new_port_low": 47,
                "new_port_high": 47,
                "transport": t,
                "service_name": "ni-ftp",
                "service_key": "ni-ftp",
                "old_service_key": "ni-ftp",
                "summary": f"ni-ftp released on 47/{t} (now Reserved)",
                "fields": [{"field": f, "old": old[f], "new": new[f]} for f in FIELDS if old[f] != new[f]],
                "old": old,
                "new": new,
            }
        )
    assert changes(slice_db, "port_low = 47 or old_port_low = 47") == expected
    assert [f["field"] for f in expected[0]["fields"]] == [
        "service_name",
        "description",
        "assignee",
        "contact",
        "modification_date",
        "assignment_notes",
    ]


@pytest.mark.slow
def test_visicron_vs_renamed_trueconf_on_4307(slice_db, history_slice):
    before, after = history_slice[1], history_slice[2]
    common = {"port": "4307", "registration_date": "2007-10-22"}
    expected = []
    for t in ("tcp", "udp"):
        old = row(
            line_of(before, "4307", t, "visicron-vs"),
            **common,
            service_name="visicron-vs",
            transport=t,
            description="Visicron Videoconference Service",
            assignee="[Alexey_Vlaskin]",
            contact="[Alexey_Vlaskin]",
        )
        new = row(
            line_of(after, "4307", t, "trueconf"),
            **common,
            service_name="trueconf",
            transport=t,
            description="TrueConf Videoconference Service",
            assignee="[Dmitry_Odintsov]",
            contact="[Lev_Yakupov]",
            modification_date="2017-05-12",
        )
        expected.append(
            {
                "ingest": 3,
                "previous_ingest": 2,
                "kind": "renamed",
                "port": "4307",
                "port_low": 4307,
                "port_high": 4307,
                "old_port_low": 4307,
                "old_port_high": 4307,
                "new_port_low": 4307,
                "new_port_high": 4307,
                "transport": t,
                "service_name": "trueconf",
                "service_key": "trueconf",
                "old_service_key": "visicron-vs",
                "summary": f"visicron-vs renamed trueconf on 4307/{t}",
                "fields": [
                    {"field": "service_name", "old": "visicron-vs", "new": "trueconf"},
                    {
                        "field": "description",
                        "old": "Visicron Videoconference Service",
                        "new": "TrueConf Videoconference Service",
                    },
                    {"field": "assignee", "old": "[Alexey_Vlaskin]", "new": "[Dmitry_Odintsov]"},
                    {"field": "contact", "old": "[Alexey_Vlaskin]", "new": "[Lev_Yakupov]"},
                    {"field": "modification_date", "old": None, "new": "2017-05-12"},
                ],
                "old": old,
                "new": new,
            }
        )
    assert changes(slice_db, "port_low = 4307") == expected


@pytest.mark.slow
def test_dlep_assigned_on_854_then_its_reference_became_rfc8175(slice_db, history_slice):
    first, assigned, rfc = history_slice[0], history_slice[1], history_slice[3]
    dlep = {
        "service_name": "dlep",
        "port": "854",
        "description": "Dynamic Link Exchange Protocol (DLEP)",
        "assignee": "[IESG]",
        "contact": "[IETF_Chair]",
        "registration_date": "2017-04-03",
        "reference": "[RFC-ietf-manet-dlep-29]",
    }
    side = {t: row(line_of(assigned, "854", t, "dlep"), **dlep, transport=t) for t in ("tcp", "udp")}
    unassigned = row(line_of(first, "854-859", None, None), port="854-859", description="Unassigned")
    bounds = {"port": "854", "port_low": 854, "port_high": 854, "new_port_low": 854, "new_port_high": 854}
    named = {"service_name": "dlep", "service_key": "dlep", "old_service_key": None}
    assert changes(slice_db, "service_key = 'dlep'") == [
        {
            "ingest": 2,
            "previous_ingest": 1,
            "kind": "assigned",
            **bounds,
            "old_port_low": 854,
            "old_port_high": 859,
            "transport": "tcp",
            **named,
            "summary": "dlep assigned on 854/tcp (was Unassigned 854-859)",
            "fields": [
                {"field": "service_name", "old": None, "new": "dlep"},
                {"field": "port", "old": "854-859", "new": "854"},
                {"field": "transport", "old": None, "new": "tcp"},
                {"field": "description", "old": "Unassigned", "new": "Dynamic Link Exchange Protocol (DLEP)"},
                {"field": "assignee", "old": None, "new": "[IESG]"},
                {"field": "contact", "old": None, "new": "[IETF_Chair]"},
                {"field": "registration_date", "old": None, "new": "2017-04-03"},
                {"field": "reference", "old": None, "new": "[RFC-ietf-manet-dlep-29]"},
            ],
            "old": unassigned,
            "new": side["tcp"],
        },
        # The one Unassigned row went to tcp: udp's assignment had no nameless row of its own.
        {
            "ingest": 2,
            "previous_ingest": 1,
            "kind": "assigned",
            **bounds,
            "old_port_low": None,
            "old_port_high": None,
            "transport": "udp",
            **named,
            "summary": "dlep assigned on 854/udp",
            "fields": [],
            "old": None,
            "new": side["udp"],
        },
        *(
            {
                "ingest": 4,
                "previous_ingest": 3,
                "kind": "modified",
                **bounds,
                "old_port_low": 854,
                "old_port_high": 854,
                "transport": t,
                **named,
                "summary": f"dlep on 854/{t}: reference changed",
                "fields": [{"field": "reference", "old": "[RFC-ietf-manet-dlep-29]", "new": "[RFC8175]"}],
                "old": side[t],
                "new": dict(side[t], reference="[RFC8175]", line=line_of(rfc, "854", t, "dlep")),
            }
            for t in ("tcp", "udp")
        ),
    ]


@pytest.mark.slow
def test_the_same_changes_as_ingesting_the_versions_one_by_one(slice_db, history_slice, tmp_path):
    db = tmp_path / "iana.db"
    for path in history_slice[:3]:
        assert main(["--source", str(path), "--db", str(db), "--allow-shrink"]) == 0
    replayed = tmp_path / "replayed.db"
    assert main(["replay", *map(str, history_slice[:3]), "--db", str(replayed), "--allow-shrink"]) == 0
    assert rows(db, "select * from changes order by id") == rows(replayed, "select * from changes order by id")
    # ...which are the slice's first ones.
    assert rows(replayed, "select * from changes order by id") == rows(
        slice_db, "select * from changes where ingest <= 3 order by id"
    )


def test_the_live_ingest_continues_a_replayed_history(slice_db, snapshot_2025, tmp_path, capsys):
    db = tmp_path / "iana.db"
    shutil.copyfile(slice_db, db)
    before = rows(db, "select * from changes order by id")
    assert main(["--source", str(snapshot_2025), "--db", str(db)]) == 0
    assert rows(db, "select id, source from ingests where id > 5") == [{"id": 6, "source": snapshot_2025.name}]
    assert rows(db, "select * from changes where ingest <= 5 order by id") == before
    assert rows(db, "select distinct previous_ingest from changes where ingest = 6") == [{"previous_ingest": 5}]
    # Nearly eight years on, tacacss is not yet assigned (2025-07), and the rename of 1980 is to come.
    assert rows(db, "select count(*) as n from changes where ingest = 6 and service_key = 'tacacss'") == [{"n": 0}]


@pytest.mark.slow
def test_one_days_csv_and_xml_are_one_version_the_xml_enriching_it(tmp_path, snapshot_2026, capsys):
    xml = snapshot_2026.parent / "xml" / "history" / "service-names-port-numbers-2026-02-25.xml.gz"
    db = tmp_path / "iana.db"
    assert main(["replay", str(xml), str(snapshot_2026), "--db", str(db)]) == 0
    assert "note:" not in capsys.readouterr().out
    # The CSV's row (what the live ingest compares by sha256), dated by the XML's <updated>.
    assert [(r["source"], r["registry_updated"]) for r in rows(db, "select * from ingests")] == [
        (snapshot_2026.name, "2026-02-25")
    ]
    assert rows(db, "select count(*) as n from changes") == [{"n": 0}]
    # The two copies differ in one Reference (zcat + grep rfc5273bis): the CSV's is the newer, kept.
    assert rows(db, "select reference from registrations where reference like '%rfc5273bis%'") == [
        {"reference": "[RFC-ietf-lamps-rfc5273bis-11]"}
    ]
    # ...and the XML enriches the build as in a live ingest of the pair.
    assert rows(db, "select count(*) > 5000 as enriched from people") == [{"enriched": 1}]


def test_a_broken_file_stops_the_replay_before_anything_changed(tmp_path, history_slice, capsys):
    broken = tmp_path / "broken.xml.gz"
    broken.write_bytes(history_slice[0].read_bytes()[:5000])
    db = tmp_path / "iana.db"
    assert main(["replay", str(history_slice[0]), str(broken), "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {broken}: ") and err.count("\n") == 1
    assert not db.exists()


@pytest.mark.parametrize("name", ["Apple Remote Desktop (Net Assistant)", "Escale (Newton Dock)"])
def test_the_registrys_two_historic_names_with_spaces_are_read(slice_db, name):
    # Real names of 3283 and 3679 until 2025-01-23; no other name fits no shape in 104 versions.
    assert rows(slice_db, "select transport from registrations where service_name = ? order by id", (name,)) == [
        {"transport": "tcp"},
        {"transport": "udp"},
    ]
