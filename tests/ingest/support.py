"""What the ingest tests share: running the real command, and checking what it left behind."""

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from helpers import ROOT
from iana_ports.store import file_uri


def ingests(db: Path) -> list[dict]:
    return query(db, "select * from ingests order by id")


def query(db: Path, sql: str) -> list[dict]:
    conn = sqlite3.connect(file_uri(db), uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Kept:
    """What a database folder held: the db's sha256, its mtime and every file name."""

    def __init__(self, db: Path):
        self.db = db
        self.sha256 = sha256(db)
        self.mtime = db.stat().st_mtime_ns
        self.files = listing(db.parent)

    def check(self) -> None:
        assert sha256(self.db) == self.sha256
        assert self.db.stat().st_mtime_ns == self.mtime
        assert listing(self.db.parent) == self.files


def environment(**extra: str) -> dict:
    """This environment without proxy settings (tests talk to 127.0.0.1 directly), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    return {**env, **extra}


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "ingest", *args]


def run(*args: str, timeout: float = 60, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """`python -m ingest ARGS` in the checkout, as make runs it."""
    return subprocess.run(
        command(*args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env or environment(),
        **kwargs,
    )


def raw_name(data: bytes, fetched_at: str) -> str:
    return f"{fetched_at[:10]}-{hashlib.sha256(data).hexdigest()}.csv"
