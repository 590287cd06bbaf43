"""A build handed from a build job to replicas through a shared folder: published files and a pointer.

    python -m iana_ports.publish publish --db /builds/work/iana.db --to /builds
    python -m iana_ports.publish follow --from /builds --db /data/iana.db [--once]

`publish` (the build job, after the ingest) copies the finished database to
`iana-<sha256>.db` in the shared folder under a temporary name, renames it
into place, then points `current` at it with one more rename; a reader sees
the old build or the new one, never a part. It keeps the KEEP newest builds
so a replica still copying the previous one finishes its copy.

`follow` (each replica, as an init container with --once and as a sidecar)
copies the build `current` names to the replica's own folder and
os.replace()s it onto the served path, which the server picks up within a
second (iana_ports/web/builds.py). The copy is checked against the sha256 in
its name first: a damaged or half-written file is never served. The served
file lives on the replica's own disk because the server pins each build it
loads by a hard link beside it, named by its pid, which on a folder shared
by containers (each its own pid 1) would not name one process.
"""

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from iana_ports import files

POINTER = "current"
PREFIX, SUFFIX = "iana-", ".db"
KEEP = 3
FOLLOW_SECONDS = 5.0
ONCE_TIMEOUT = 600.0


class PublishError(Exception):
    """A one-line reason; the served or published build is unchanged."""


def _chunks(path: Path):
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            yield chunk


def current(folder: Path) -> str | None:
    """The file name the pointer in `folder` names, or None before the first publish."""
    try:
        name = (folder / POINTER).read_text().strip()
    except FileNotFoundError:
        return None
    if not (name.startswith(PREFIX) and name.endswith(SUFFIX) and "/" not in name):
        raise PublishError(f"{folder / POINTER} names {name!r}, not a published build")
    return name


def publish(db: Path, folder: Path) -> str:
    """db published into folder; returns what was done, in one line."""
    if not db.is_file():
        raise PublishError(f"{db} does not exist; run the ingest first")
    folder.mkdir(parents=True, exist_ok=True)
    # Copied once under a temporary name, then named by what was written.
    part = folder / f".{PREFIX}{os.getpid()}.part"
    name = f"{PREFIX}{files.write_part(part, _chunks(db))['sha256']}{SUFFIX}"
    if current(folder) == name:
        part.unlink()
        return f"unchanged: {folder / POINTER} already names {name}"
    files.publish(part, folder / name)
    files.atomic_write(folder / POINTER, [name.encode() + b"\n"])
    builds = sorted(folder.glob(f"{PREFIX}*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in builds[KEEP:]:
        if old.name != name:
            old.unlink(missing_ok=True)
    return f"published {name} as {folder / POINTER}"


def fetch(folder: Path, db: Path, have: str | None) -> str | None:
    """The published build onto db when it is not `have`; returns the name now served (None: none yet)."""
    name = current(folder)
    if name is None or name == have:
        return have
    source = folder / name
    partial = db.with_name(f".{db.name}.fetching")
    try:
        written = files.write_part(partial, _chunks(source))
        if written["sha256"] != name[len(PREFIX) : -len(SUFFIX)]:
            raise PublishError(f"{source} does not match its sha256; still serving {have or 'nothing'}")
        files.publish(partial, db)
    except FileNotFoundError as exc:
        # Pruned meanwhile: the pointer moved on, and the next look copies what it names.
        raise PublishError(f"{source} is gone ({exc.strerror}); still serving {have or 'nothing'}") from None
    finally:
        partial.unlink(missing_ok=True)
    return name


def follow(folder: Path, db: Path, once: bool, every: float, timeout: float) -> int:
    db.parent.mkdir(parents=True, exist_ok=True)
    have = None
    deadline = time.monotonic() + timeout
    while True:
        try:
            now = fetch(folder, db, have)
        except (PublishError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            now = have
        if now != have:
            print(f"serving {now} as {db}", flush=True)
            have = now
        if once and have is not None:
            return 0
        if once and time.monotonic() > deadline:
            print(f"error: nothing published in {folder} after {timeout:.0f} s", file=sys.stderr)
            return 1
        time.sleep(every)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m iana_ports.publish", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    pub = sub.add_parser("publish", help="publish a finished build into the shared folder")
    pub.add_argument("--db", type=Path, required=True, help="the build the ingest wrote")
    pub.add_argument("--to", type=Path, required=True, help="the shared folder")
    fol = sub.add_parser("follow", help="copy each published build onto the served path")
    fol.add_argument("--from", dest="folder", type=Path, required=True, help="the shared folder")
    fol.add_argument("--db", type=Path, required=True, help="the path the server serves")
    fol.add_argument("--once", action="store_true", help="copy the current build (waiting for one), then exit")
    fol.add_argument("--every", type=float, default=FOLLOW_SECONDS, help="seconds between looks at the pointer")
    fol.add_argument("--timeout", type=float, default=ONCE_TIMEOUT, help="with --once: seconds to wait for a build")
    args = parser.parse_args(argv)
    if args.command == "follow":
        # As a container's first process a SIGTERM does nothing without a handler: the pod would
        # wait out its grace period on every stop.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(KeyboardInterrupt):
            return follow(args.folder, args.db, args.once, args.every, args.timeout)
        return 130
    try:
        print(publish(args.db, args.to))
    except (PublishError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
