"""Where the registry database is, for the command line and `iana-ports serve`.

In order: --db, $IANA_PORTS_DB, data/iana.db in the current folder (a
checkout, or wherever `make data` ran), the user's own copy that
`iana-ports update` keeps ($XDG_DATA_HOME/iana-ports/iana.db), and last the
build the wheel carries (iana_ports/data/iana.db.xz, made by `make wheel`),
unpacked once into $XDG_CACHE_HOME/iana-ports/ under a name that says its
content. So an installed package answers offline out of the box.
"""

import os
from pathlib import Path

from .facts import DB_ENV, DEFAULT_DB

# xz: the 19 MB build packs to about 1.1 MB (gzip -9: 2.6 MB).
BUNDLED = Path(__file__).resolve().parent / "data" / "iana.db.xz"


def _xdg(variable: str, fallback: str) -> Path:
    return Path(os.environ.get(variable) or Path.home() / fallback) / "iana-ports"


def user_db() -> Path:
    """The copy `iana-ports update` refreshes."""
    return _xdg("XDG_DATA_HOME", ".local/share") / "iana.db"


def target(given=None) -> Path:
    """Where an update writes: --db, $IANA_PORTS_DB, data/iana.db when it exists here, else the user's copy."""
    if given or os.environ.get(DB_ENV):
        return Path(given or os.environ[DB_ENV])
    return DEFAULT_DB if DEFAULT_DB.exists() else user_db()


def find(given=None) -> Path:
    """The database to read (see the module's docstring); the default path when there is none at all,
    so the error names where one was expected."""
    if given or os.environ.get(DB_ENV):
        return Path(given or os.environ[DB_ENV])
    for candidate in (DEFAULT_DB, user_db()):
        if candidate.exists():
            return candidate
    return unpacked() or DEFAULT_DB


def unpacked() -> Path | None:
    """The wheel's build as a database file (unpacked on first use); None without one."""
    if not BUNDLED.is_file():
        return None
    # Here, not at the top: every start of the command line imports this module, and only
    # an installed wheel's first run unpacks.
    import hashlib
    import lzma

    from .files import atomic_write

    digest = hashlib.sha256(BUNDLED.read_bytes()).hexdigest()[:16]
    path = _xdg("XDG_CACHE_HOME", ".cache") / f"iana-{digest}.db"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with lzma.open(BUNDLED) as packed:
            atomic_write(path, iter(lambda: packed.read(1 << 20), b""))
    return path


def pack(db: Path, out: Path = BUNDLED) -> None:
    """`make wheel`: the build to carry, compressed."""
    import lzma

    out.parent.mkdir(parents=True, exist_ok=True)
    with open(db, "rb") as f, lzma.open(out, "wb", preset=9) as packed:
        while chunk := f.read(1 << 20):
            packed.write(chunk)


if __name__ == "__main__":
    import sys

    pack(Path(sys.argv[1]))
