"""Get the registry's bytes: over HTTP with httpx, or from a local file."""

import dataclasses
import datetime
import hashlib
import io
import sys
import time
from pathlib import Path

import click
import httpx

from .errors import IngestError

MAX_BYTES = 64 * 1024 * 1024  # the real file is ~4 MB; anything near this is not it
RETRY_STATUSES = frozenset({500, 502, 503, 504})


@dataclasses.dataclass(frozen=True)
class Fetched:
    source: str
    data: bytes
    fetched_at: str
    sha256: str
    etag: str | None = None
    last_modified: str | None = None
    final_url: str | None = None


@dataclasses.dataclass(frozen=True)
class Unchanged:
    reason: str


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def read_local(path: str, max_bytes: int = MAX_BYTES) -> Fetched:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise IngestError(f"{path}: {size} bytes is over the {max_bytes}-byte cap")
        data = p.read_bytes()
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror}") from None
    return Fetched(str(p), data, now(), hashlib.sha256(data).hexdigest())


def download(
    url: str,
    previous: dict | None = None,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 0.5,
    max_bytes: int = MAX_BYTES,
    progress: bool | None = None,
) -> Fetched | Unchanged:
    """GET `url`, conditionally on the last ingest's validators.

    httpx's transport retries only failed connects, so read timeouts,
    dropped connections and 5xx answers are retried here with backoff.
    """
    if retries < 0:
        raise IngestError(f"retries must be 0 or more, got {retries}")
    previous = previous or {}
    headers = {"User-Agent": "iana-ports (+https://github.com/iana-ports)"}
    if previous.get("etag"):
        headers["If-None-Match"] = previous["etag"]
    if previous.get("last_modified"):
        headers["If-Modified-Since"] = previous["last_modified"]
    if progress is None:
        progress = sys.stderr.isatty()
    limits = httpx.Timeout(timeout, connect=min(timeout, 10.0))
    with httpx.Client(timeout=limits, follow_redirects=True, headers=headers) as client:
        for attempt in range(retries + 1):
            last = attempt == retries
            try:
                result = _get_once(client, url, previous, max_bytes, progress)
            except _Retryable as exc:
                if last:
                    raise IngestError(f"download failed after {retries + 1} attempts: {exc}") from None
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if last:
                    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
                    raise IngestError(
                        f"download {kind} after {retries + 1} attempts: {url}: "
                        f"{type(exc).__name__}{': ' + str(exc) if str(exc) else ''}"
                    ) from None
            else:
                return result
            time.sleep(backoff * 2**attempt)
    raise AssertionError("unreachable")


class _Retryable(Exception):
    pass


def _get_once(client, url, previous, max_bytes, progress) -> Fetched | Unchanged:
    with client.stream("GET", url) as response:
        if response.status_code == 304:
            return Unchanged("the server answered 304 Not Modified")
        if response.status_code in RETRY_STATUSES:
            raise _Retryable(f"HTTP {response.status_code} from {url}")
        if response.status_code != 200:
            raise IngestError(f"download failed: HTTP {response.status_code} from {url}")
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise IngestError(f"download refused: {declared} bytes is over the {max_bytes}-byte cap")
        data = _read_body(response, max_bytes, progress, int(declared) if declared and declared.isdigit() else None)
        fetched = Fetched(
            source=url,
            data=data,
            fetched_at=now(),
            sha256=hashlib.sha256(data).hexdigest(),
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
        )
    if fetched.sha256 == previous.get("sha256"):
        return Unchanged("the downloaded file is identical to the last ingest (same sha256)")
    return fetched


def _read_body(response, max_bytes, progress, total) -> bytes:
    chunks, size = [], 0
    # click comes with Datasette; its bar draws nothing when stderr is not a TTY.
    with click.progressbar(
        length=total, label="downloading", file=sys.stderr if progress else io.StringIO()
    ) as bar:
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                raise IngestError(f"download refused: body exceeds the {max_bytes}-byte cap")
            chunks.append(chunk)
            bar.update(len(chunk))
    return b"".join(chunks)
