"""Full ingest build time against a bare-sqlite3 anchor measured in the same run.

- build: what `python -m ingest --source CSV --force` does minus process start
  (read, parse, model, every table, checks, swap), into a fresh database each
  time, as `make data` on a new clone does.
- anchor: the same parsed rows written with one sqlite3 executemany into a
  plain registrations table, plus an FTS5 index over the same three columns.

Figures are medians of RUNS; the ratio is what issue 2 targets (<= 3).
A third figure, measured the same way, says how much of the build the
65,536-row ports table costs on its own: its rows written with one bare
executemany plus its indexes.
"""

import contextlib
import io
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from deploy.harness import SNAPSHOT_2026 as SNAPSHOT
from iana_ports.facts import FIELDS
from iana_ports.schema import PORTS
from ingest.__main__ import main as ingest_main
from ingest.model import PORT_COLUMNS, port_space
from ingest.parse import decode, parse

RUNS = 7
TARGET = 3.0

ANCHOR_COLUMNS = ("id", *FIELDS, "port_low", "port_high", "line")
ANCHOR_SCHEMA = f"create table registrations ({', '.join(ANCHOR_COLUMNS)})"
ANCHOR_INSERT = f"insert into registrations values ({', '.join('?' * len(ANCHOR_COLUMNS))})"
ANCHOR_FTS = (
    "create virtual table registrations_fts using fts5("
    "service_name, description, assignment_notes, content='registrations', content_rowid='id')"
)
ANCHOR_FTS_FILL = (
    "insert into registrations_fts (rowid, service_name, description, assignment_notes) "
    "select id, service_name, description, assignment_notes from registrations"
)
PORTS_SCHEMA = f"create table ports ({', '.join(PORT_COLUMNS)})"
PORTS_INSERT = f"insert into ports values ({', '.join('?' * len(PORT_COLUMNS))})"
PORTS_INDEXES = tuple(f"create index ports_{'_'.join(cols)} on ports ({', '.join(cols)})" for cols in PORTS.indexes)


def anchor(rows: list[tuple], db_path: Path) -> float:
    start = time.perf_counter()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(ANCHOR_SCHEMA)
        conn.executemany(ANCHOR_INSERT, rows)
        conn.execute(ANCHOR_FTS)
        conn.execute(ANCHOR_FTS_FILL)
    conn.close()
    return time.perf_counter() - start


def ports_only(ports: list[tuple], db_path: Path) -> float:
    start = time.perf_counter()
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(PORTS_SCHEMA)
        conn.executemany(PORTS_INSERT, ports)
        for sql in PORTS_INDEXES:
            conn.execute(sql)
    conn.close()
    return time.perf_counter() - start


def full_build(db_path: Path) -> float:
    argv = ["--source", str(SNAPSHOT), "--db", str(db_path), "--force"]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        status = ingest_main(argv)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"bench.ingest: python -m ingest {' '.join(argv)} exited {status}")
    return elapsed


def main() -> None:
    if not SNAPSHOT.is_file():
        raise SystemExit(f"bench.ingest: snapshot missing: {SNAPSHOT}")
    records = parse(decode(SNAPSHOT.read_bytes()))
    rows = [tuple(r[c] for c in ANCHOR_COLUMNS) for r in records]
    ports = port_space(records)
    builds, anchors, port_tables = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        # Interleaved, so machine noise hits every series alike; run 0 warms caches.
        for i in range(RUNS + 1):
            a = anchor(rows, Path(tmp) / f"anchor-{i}.db")
            b = full_build(Path(tmp) / f"build-{i}" / "iana.db")
            p = ports_only(ports, Path(tmp) / f"ports-{i}.db")
            if i:
                anchors.append(a)
                builds.append(b)
                port_tables.append(p)
    build_ms = statistics.median(builds) * 1000
    anchor_ms = statistics.median(anchors) * 1000
    ports_ms = statistics.median(port_tables) * 1000
    ratio = build_ms / anchor_ms
    print(f"ingest: full build median {build_ms:.0f} ms over {RUNS} runs ({len(records)} registrations)")
    print(f"ingest: anchor (sqlite3 executemany + FTS5) median {anchor_ms:.0f} ms")
    print(f"ingest: ratio {ratio:.2f}x (target <= {TARGET:g}x: {'met' if ratio <= TARGET else 'NOT met'})")
    print(
        f"ingest: the ports table on its own (bare executemany of {len(ports)} rows "
        f"+ {len(PORTS_INDEXES)} indexes) median {ports_ms:.0f} ms = {ports_ms / anchor_ms:.2f}x the anchor"
    )


if __name__ == "__main__":
    main()
