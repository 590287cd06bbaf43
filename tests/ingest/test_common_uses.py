"""ingest.common_uses: the project's cited dataset, validated row by row; and what a build keeps of it."""

import csv
import hashlib
import sqlite3
import subprocess
import sys
from collections import Counter

import pytest

from helpers import ROOT
from iana_ports.facts import CATEGORIES, COMMON_USES_CSV
from ingest import common_uses
from ingest.errors import IngestError

HEADER = "port,transports,software,kind,description,category,source,checked\n"
GOOD = (
    "5173,tcp,Vite,default,dev server with hot module replacement,web-dev-server,"
    "https://vite.dev/config/server-options,2026-11-20\n"
)


def parsed(text: str) -> list[dict]:
    return common_uses.parse(text, "uses.csv")


def test_a_good_row():
    assert parsed(
        HEADER + GOOD + '30000-32767,tcp udp,Kubernetes,range,"NodePort range, default",orchestration,'
        "https://kubernetes.io/docs/reference/networking/ports-and-protocols/,2026-12-01\n"
    ) == [
        {
            "first": 5173,
            "last": 5173,
            "transports": ["tcp"],
            "software": "Vite",
            "kind": "default",
            "description": "dev server with hot module replacement",
            "category": "web-dev-server",
            "source": "https://vite.dev/config/server-options",
            "checked": "2026-11-20",
            "line": 2,
            "id": 1,
        },
        {
            "first": 30000,
            "last": 32767,
            "transports": ["tcp", "udp"],
            "software": "Kubernetes",
            "kind": "range",
            "description": "NodePort range, default",
            "category": "orchestration",
            "source": "https://kubernetes.io/docs/reference/networking/ports-and-protocols/",
            "checked": "2026-12-01",
            "line": 3,
            "id": 2,
        },
    ]


PORT = "port must be a number or LOW-HIGH within 0-65535, got "
TRANSPORTS = "transports must be some of tcp, udp, sctp, dccp, got "
# (row after a good one, the message after "uses.csv: line 3: ")
BAD_ROWS = [
    ("70000,tcp,X,default,y,database,https://x.example/,2026-12-01", PORT + "'70000'"),
    ("9-2,tcp,X,default,y,database,https://x.example/,2026-12-01", PORT + "'9-2'"),
    ("http,tcp,X,default,y,database,https://x.example/,2026-12-01", PORT + "'http'"),
    (",tcp,X,default,y,database,https://x.example/,2026-12-01", "the port is empty"),
    ("80,icmp,X,default,y,database,https://x.example/,2026-12-01", TRANSPORTS + "'icmp'"),
    ("80,,X,default,y,database,https://x.example/,2026-12-01", TRANSPORTS + "''"),
    ("80,tcp tcp,X,default,y,database,https://x.example/,2026-12-01", TRANSPORTS + "'tcp tcp'"),
    ("80,tcp,,default,y,database,https://x.example/,2026-12-01", "software and description must not be empty"),
    ("80,tcp,X,default,,database,https://x.example/,2026-12-01", "software and description must not be empty"),
    ("80,tcp,X,default,y,toys,https://x.example/,2026-12-01", "unknown category 'toys'"),
    (
        "80,tcp,X,default,y,database,http://x.example/,2026-12-01",
        "source must be an https URL, got 'http://x.example/'",
    ),
    ("80,tcp,X,default,y,database,,2026-12-01", "source must be an https URL, got ''"),
    ("80,tcp,X,default,y,database", "expected 8 columns, got 6"),
    (
        "80,tcp,X,sample,y,database,https://x.example/,2026-12-01",
        "kind must be one of default, example, range, got 'sample'",
    ),
    (
        "80,tcp,X,default,y,database,https://x.example/,yesterday",
        "checked must be the date the source was read, YYYY-MM-DD, got 'yesterday'",
    ),
    (
        "22,tcp,X,default,y,database,https://x.example/,2026-12-01",
        "out of order (the file is sorted by port, then software)",
    ),
    (GOOD.strip().replace("Vite", "vite"), "duplicates line 2"),
]


@pytest.mark.parametrize("row, message", BAD_ROWS)
def test_each_bad_row_is_refused_with_its_line(row, message):
    with pytest.raises(IngestError) as raised:
        parsed(HEADER + GOOD + row + "\n")
    assert str(raised.value) == f"uses.csv: line 3: {message}"


def test_a_bad_header_and_broken_csv():
    with pytest.raises(IngestError) as raised:
        parsed("port,software\n" + GOOD)
    assert str(raised.value) == "uses.csv: line 1 must be the header " + HEADER.strip()
    with pytest.raises(IngestError) as raised:
        parsed(HEADER + GOOD + '8000,tcp,"X,default,y,database,https://x.example/,2026-12-01\n')
    assert str(raised.value) == "uses.csv: line 3: malformed CSV (unexpected end of data)"


def test_the_project_file_is_valid_and_large_enough():
    entries, sha = common_uses.read(COMMON_USES_CSV)
    assert sha == hashlib.sha256(COMMON_USES_CSV.read_bytes()).hexdigest()
    assert len(entries) >= 300
    # Every category in use is a known one, and the file covers the kinds of software issue 11 names.
    counts = Counter(e["category"] for e in entries)
    assert set(counts) <= set(CATEGORIES)
    for category in (
        "web-dev-server",
        "database",
        "search-engine",
        "cache",
        "message-broker",
        "observability",
        "orchestration",
        "containers",
        "remote-access",
        "vpn",
        "game",
        "media",
        "home-iot",
        "printing",
    ):
        assert counts[category] >= 3, category
    # Sorted by port then software, as curated/README.md promises.
    order = [(e["first"], e["software"].lower()) for e in entries]
    assert order == sorted(order)


def test_the_build_keeps_every_entry(db_2026):
    with open(COMMON_USES_CSV, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    conn = sqlite3.connect(db_2026)
    try:
        stored = conn.execute(
            "select first, last, transports, software, description, category, source, line from common_uses order by id"
        ).fetchall()
    finally:
        conn.close()
    assert len(stored) == len(rows)
    for (first, last, transports, software, description, category, source, line), row in zip(stored, rows):
        assert row["port"] == (str(first) if first == last else f"{first}-{last}")
        assert transports == "[" + ", ".join(f'"{t}"' for t in row["transports"].split()) + "]"
        assert (software, description, category, source) == (
            row["software"],
            row["description"],
            row["category"],
            row["source"],
        )
    assert [s[-1] for s in stored][:2] == [2, 3]


def test_a_bad_file_fails_the_build_and_keeps_the_database(tmp_path, db_2026, snapshot_2026):
    db = tmp_path / "iana.db"
    db.write_bytes(db_2026.read_bytes())
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    bad = tmp_path / "uses.csv"
    bad.write_text(HEADER + GOOD + "8000,tcp,X,default,y,toys,https://x.example/,2026-12-01\n")
    result = subprocess.run(
        [sys.executable, "-m", "ingest", "--source", str(snapshot_2026), "--db", str(db), "--common-uses", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {bad}: line 3: unknown category 'toys'\n"
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
