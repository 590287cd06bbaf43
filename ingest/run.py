"""One ingest as a library function: fetch -> parse -> guard -> build -> swap.

`ingest(source, db, ...)` is what `python -m ingest` (and `iana-ports update`)
run. One ingest at a time per database (ingest/lock.py). Effects, in order:
the raw copy is written into raw/ as a temporary file, the database is built
and checked beside the served one, the raw copy is renamed into place, then
the database is swapped in; nothing that can fail comes after the swap, so
an exception always means the served database is unchanged. Before the swap
the publish guard (ingest/guard.py) compares the new build's figures with the
served one's and refuses a registry that shrank (allow_shrink publishes it
anyway).
"""

import contextlib
import os
import sys
from pathlib import Path

from iana_ports.facts import COMMON_USES_CSV, registry_date
from iana_ports import files

from . import common_uses, guard, lock, sources
from .build import build, first_row, last_ingest, previous_figures, remove_stale
from .enrich import LAST_XML_SQL, Enrichment
from .errors import IngestError
from .fetch import DEADLINE, MAX_BYTES, DownloadError, Fetched, Unchanged, download, is_url, read_local
from .history import carry
from .version import BUILD_VERSION


def ingest(
    source: str,
    db: Path,
    *,
    common_uses_csv: Path = COMMON_USES_CSV,
    raw_dir: Path | None = None,
    force: bool = False,
    allow_shrink: bool = False,
    timeout: float = 30.0,
    deadline: float = DEADLINE,
    retries: int = 3,
    max_bytes: int = MAX_BYTES,
    lock_wait: float = lock.LOCK_WAIT,
    before_swap=lambda: None,
    xml: str | None = None,
    warn=lambda line: print(line, file=sys.stderr),
) -> str:
    """Build `db` from the registry at `source` (a URL or a local file, CSV or XML, gzip or not); the
    line saying what was done. Raises DownloadError, IngestError, OSError or sqlite3.Error with the
    database unchanged.

    `xml` is the registry's XML of the same version (a URL or a local file):
    when it agrees with a CSV `source` it enriches the build; when it is
    missing or disagrees, `warn` gets the one line saying so and the CSV
    builds alone."""
    args = _Args(
        source,
        Path(db),
        Path(common_uses_csv),
        raw_dir,
        force,
        allow_shrink,
        timeout,
        deadline,
        retries,
        max_bytes,
        lock_wait,
    )
    # Read first: a bad dataset or a bad file fails before waiting for the lock.
    uses = common_uses.read(args.common_uses)
    local = None if is_url(args.source) else read_local(args.source, args.max_bytes, args.deadline)
    xml_local = None if xml is None or is_url(xml) else read_local(xml, args.max_bytes, args.deadline)
    raw_dir = args.raw_dir or args.db.parent / "raw"
    with lock.hold(args.db, args.lock_wait):
        remove_stale(args.db)
        remove_stale_parts(raw_dir)
        last = last_ingest(args.db)
        # A changed dataset, layout or rule is a reason to rebuild even when the registry is not.
        stale = last and (last.get("common_uses_sha256") != uses[1] or last.get("build_version") != BUILD_VERSION)
        previous = None if args.force or stale else last
        served = previous_figures(args.db)
        if local is None:
            got = download(
                args.source,
                previous,
                timeout=args.timeout,
                retries=args.retries,
                max_bytes=args.max_bytes,
                deadline=args.deadline,
            )
        elif previous and local.sha256 == previous["sha256"]:
            got = Unchanged("the file is identical to the last ingest (same sha256)")
        else:
            got = local
        if isinstance(got, Unchanged):
            return f"unchanged: {got.reason}; {args.db} not rebuilt"
        today = got.fetched_at[:10]
        xml_got, xml_missing = (xml_local, None) if xml_local is not None else _xml(xml, args, raw_dir)
        registry = sources.combine(
            got.data, today, args.max_bytes, xml_got.data if xml_got else None, xml_missing if xml else None
        )
        records = registry.records
        raw = raw_dir / f"{today}-{got.sha256}.{_extension(registry.form, got.data)}"
        kept = [(got, raw)]
        enrichment = None
        if registry.xml is not None:
            xml_fetched = got if registry.form == "xml" else xml_got
            enrichment = Enrichment(registry.xml, xml_fetched, registry.drifted)
            if registry.form == "csv":
                kept.append((xml_got, raw_dir / xml_raw_name(xml_got)))
        new_raw_dir = not raw_dir.exists()
        parts = [(write_part(f, r), r) for f, r in kept]

        def keep_raw_then_swap():
            for part, path in parts:
                if part is not None:
                    publish(part, path)
            before_swap()

        try:
            row = build(
                args.db,
                got,
                records,
                uses,
                history=carry,
                before_swap=keep_raw_then_swap,
                check_figures=lambda figures: guard.check(figures, served, args.allow_shrink),
                enrichment=enrichment,
            )
        except BaseException:
            # A refused build (the guard, a failed check) leaves no folder it made behind.
            if new_raw_dir:
                with contextlib.suppress(OSError):
                    for part, _ in parts:
                        if part is not None:
                            part.unlink(missing_ok=True)
                    raw_dir.rmdir()
            raise
        finally:
            for part, _ in parts:
                if part is not None:
                    with contextlib.suppress(OSError):
                        part.unlink(missing_ok=True)
    if registry.warning:
        warn(registry.warning)
    new, old = registry_date(row), registry_date(last)
    # Allowed (rolling back is a real need), but the history will read backwards.
    older = f"; warning: older than the last ingest's registry ({old})" if new and old and new < old else ""
    return (
        f"built {args.db}: {row['row_count']} registrations, newest registry date {new or 'none'}, "
        f"sha256 {row['sha256'][:12]}, raw copy {raw}{older}"
    )


def _xml(xml: str | None, args: "_Args", raw_dir: Path) -> tuple[Fetched | None, str | None]:
    """The XML beside the CSV, downloaded conditionally on the last build's: (it, or None and why not)."""
    if xml is None:
        return None, None
    previous = None if args.force else last_xml(args.db)
    try:
        got = download(
            xml,
            previous,
            timeout=args.timeout,
            retries=args.retries,
            max_bytes=args.max_bytes,
            deadline=args.deadline,
        )
    except DownloadError as exc:
        return None, str(exc)
    if isinstance(got, Fetched):
        return got, None
    # Not modified since the last build: that build's copy is in raw/.
    kept = raw_dir / xml_raw_name(Fetched(**{**previous, "data": b""}))
    try:
        data = kept.read_bytes()
    except OSError:
        return None, f"{got.reason}, and the last build's copy {kept.name} is not kept"
    return Fetched(**{**previous, "data": data}), None


def last_xml(db_path: Path) -> dict | None:
    """The registry_xml row of the served build (its validators), or None."""
    row = first_row(db_path, LAST_XML_SQL)
    if row is None:
        return None
    return {k: row[k] for k in ("source", "final_url", "fetched_at", "sha256", "etag", "last_modified")}


def xml_raw_name(got: Fetched) -> str:
    return f"{got.fetched_at[:10]}-{got.sha256}.xml"


def _extension(form: str, data: bytes) -> str:
    return form + (".gz" if data[:2] == b"\x1f\x8b" else "")


def write_part(got: Fetched, raw: Path) -> Path | None:
    """Write the raw copy under a temporary name; None when it is already kept."""
    if raw.exists():
        return None
    part = raw.with_name(f".{raw.name}.{os.getpid()}.part")
    try:
        raw.parent.mkdir(parents=True, exist_ok=True)
        files.write_part(part, [got.data])
    except OSError as exc:
        raise IngestError(f"cannot write raw copy {raw}: {exc}") from None
    return part


def publish(part: Path, raw: Path) -> None:
    try:
        files.publish(part, raw)
    except OSError as exc:
        raise IngestError(f"cannot write raw copy {raw}: {exc}") from None


def remove_stale_parts(raw_dir: Path) -> None:
    """Remove raw copies left half-written by runs that died.

    The writer's pid is in the name: a raw folder may be shared by several
    databases (--raw-dir), whose locks are not ours.
    """
    if not raw_dir.is_dir():
        return
    for part in raw_dir.glob("*.part"):
        pid = part.name.rsplit(".", 2)[-2]
        if not (pid.isdigit() and files.alive(int(pid))):
            part.unlink(missing_ok=True)


class _Args:
    """ingest()'s arguments under the names the steps read."""

    def __init__(
        self, source, db, common_uses, raw_dir, force, allow_shrink, timeout, deadline, retries, max_bytes, lock_wait
    ):
        self.source, self.db, self.common_uses, self.raw_dir = source, db, common_uses, raw_dir
        self.force, self.allow_shrink, self.timeout, self.deadline = force, allow_shrink, timeout, deadline
        self.retries, self.max_bytes, self.lock_wait = retries, max_bytes, lock_wait
