"""Shared fixtures: the real registry snapshots and a database built once per session."""

from pathlib import Path

import pytest

from deploy.harness import SNAPSHOT_2025, SNAPSHOT_2026, build
from helpers import CHROMIUM, CHROMIUM_ARGS, served


def snapshot(path: Path) -> Path:
    # A missing snapshot is a broken checkout or CI, never a reason to skip.
    assert path.is_file(), f"registry snapshot missing: {path} (see ../shared/data/iana/README.md)"
    return path


@pytest.fixture(scope="session")
def snapshot_2025() -> Path:
    return snapshot(SNAPSHOT_2025)


@pytest.fixture(scope="session")
def snapshot_2026() -> Path:
    return snapshot(SNAPSHOT_2026)


@pytest.fixture(scope="session")
def db_2026(tmp_path_factory, snapshot_2026) -> Path:
    """data/iana.db as `make data` builds it from the 2026-02-25 snapshot."""
    return build(snapshot_2026, tmp_path_factory.mktemp("db2026") / "iana.db")


@pytest.fixture(scope="session")
def history_db(tmp_path_factory, snapshot_2025, snapshot_2026) -> Path:
    """A database that replayed both snapshots: it holds two ingests and their changes."""
    from ingest.__main__ import main

    db = tmp_path_factory.mktemp("history") / "iana.db"
    assert main(["replay", str(snapshot_2025), str(snapshot_2026), "--db", str(db)]) == 0
    return db


# Five consecutive monthly versions of the registry's XML, 2017-03 to 2017-07: small enough
# for a test, with a release (47), a rename (4307) and an assignment then a modification (854).
HISTORY_DIR = SNAPSHOT_2026.parent / "xml" / "history"
HISTORY_SLICE = [
    HISTORY_DIR / f"service-names-port-numbers-{day}.xml.gz"
    for day in ("2017-03-30", "2017-04-28", "2017-05-25", "2017-06-28", "2017-07-26")
]


@pytest.fixture(scope="session")
def history_slice() -> list[Path]:
    return [snapshot(p) for p in HISTORY_SLICE]


@pytest.fixture(scope="session")
def slice_db(tmp_path_factory, history_slice) -> Path:
    """The five monthly versions replayed in one build (--allow-shrink: the 2017 registry is
    below the first-ingest floors, which are 90 % of today's)."""
    from ingest.__main__ import main

    db = tmp_path_factory.mktemp("slice") / "iana.db"
    assert main(["replay", *map(str, history_slice), "--db", str(db), "--allow-shrink"]) == 0
    return db


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright; missing Chromium fails, never skips.

    Module-scoped: Playwright's sync API runs an event loop of its own, which
    must be gone before the async tests of the next module start theirs.
    """
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: install Debian's chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def db_2025(tmp_path_factory, snapshot_2025) -> Path:
    return build(snapshot_2025, tmp_path_factory.mktemp("db2025") / "iana.db")


@pytest.fixture(scope="session")
def datasette(db_2026):
    yield from served(db_2026)


@pytest.fixture(scope="session")
def datasette_history(history_db):
    """The same Datasette on a database holding two ingests and their changes."""
    yield from served(history_db)
