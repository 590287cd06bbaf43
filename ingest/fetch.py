"""Get the registry's bytes: over HTTP with httpx, or from a local file.

A download streams whatever framing the server picks (Content-Length,
chunked, or a body ended by closing the connection) and whatever
Content-Encoding it applies (gzip, deflate, br). The size cap holds for the
bytes received and for the decoded bytes, so a compressed bomb is stopped
after at most `max_bytes` of output. Each read waits at most `timeout`
seconds and the whole download, retries included, at most `deadline`
seconds, checked whenever data arrives (so a read under way when it passes
may still take its `timeout`): a server that trickles a few bytes a second
is cut off.

Redirects: at most MAX_REDIRECTS, to http or https only, never from https
down to http. A redirect to another host is followed (IANA may move the file
to a mirror or CDN); the URL the download ended at is returned as
`Fetched.final_url` and kept in `ingests.final_url`. Both URLs kept, and
those in error lines, are redacted: no userinfo, query or fragment.

Every failure raises DownloadError (one line naming the URL and the cause);
connect errors, timeouts, dropped bodies and 5xx answers are retried with
backoff first.
"""

import dataclasses
import datetime
import errno
import hashlib
import io
import os
import ssl
import stat
import sys
import time
import zlib
from pathlib import Path

import brotli
import click
import httpx

from .errors import IngestError

MAX_BYTES = 64 * 1024 * 1024  # the real file is ~1 MB; anything near this is not it
DEADLINE = 300.0  # seconds for a whole download; the real file takes a second or two
MAX_REDIRECTS = 5
RETRY_STATUSES = frozenset({500, 502, 503, 504})
ACCEPT_ENCODING = "gzip, deflate, br"  # exactly what _DECODERS below can decode
PIECE = 64 * 1024  # decoded bytes produced per step: bounds memory between cap checks


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


class DownloadError(IngestError):
    """The download failed; nothing was built."""


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def redact(url: str | None) -> str | None:
    """`url` without its userinfo, query string and fragment: what may be stored or shown.

    A token in the query or a password in the authority would otherwise be
    published in `ingests` (pages, healthz, the exported database). The
    authority is taken up to the first "/", and everything up to its last
    "@" dropped, so an unencoded "?" or "#" inside a password goes too.
    """
    if url is None:
        return None
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = authority.rpartition("@")[2]
    authority = authority.split("?", 1)[0].split("#", 1)[0]
    path = path.split("?", 1)[0].split("#", 1)[0] if slash else ""
    return f"{scheme}://{authority}{slash}{path}"


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def read_local(path: str, max_bytes: int = MAX_BYTES, deadline: float = DEADLINE) -> Fetched:
    """A local registry copy: a regular file only, read PIECE bytes at a time.

    Opened without blocking and checked before any read, so a FIFO (which
    would wait for a writer forever) or a device such as /dev/zero (which
    never ends) is refused at once; the cap and the deadline hold while
    reading, whatever the file does meanwhile.
    """
    p = Path(path)
    end = time.monotonic() + deadline
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        mode = info.st_mode
        if stat.S_ISDIR(mode):
            raise IngestError(f"cannot read {path}: {os.strerror(errno.EISDIR)}")
        if not stat.S_ISREG(mode):
            raise IngestError(f"cannot read {path}: not a regular file ({_kind(mode)})")
        if info.st_size > max_bytes:
            raise IngestError(f"{path}: {info.st_size} bytes is over the {max_bytes}-byte cap (--max-bytes)")
        chunks, size = [], 0
        while piece := os.read(fd, PIECE):
            size += len(piece)
            if size > max_bytes:
                raise IngestError(f"{path}: over the {max_bytes}-byte cap (--max-bytes)")
            if time.monotonic() > end:
                raise IngestError(f"cannot read {path}: not read within the {deadline:g}-second deadline (--deadline)")
            chunks.append(piece)
    except OSError as exc:
        raise IngestError(f"cannot read {path}: {exc.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    # The file's name only: where it sat on the server is nobody's business on the web pages.
    return Fetched(p.name, data, now(), hashlib.sha256(data).hexdigest())


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a file"


def download(
    url: str,
    previous: dict | None = None,
    *,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 0.5,
    max_bytes: int = MAX_BYTES,
    deadline: float = DEADLINE,
    progress: bool | None = None,
) -> Fetched | Unchanged:
    """GET `url`, conditionally on the last ingest's validators.

    httpx's transport retries only failed connects, so read timeouts,
    dropped connections and 5xx answers are retried here with backoff.
    """
    if retries < 0:
        raise IngestError(f"retries must be 0 or more, got {retries}")
    previous = previous or {}
    headers = {
        "User-Agent": "iana-ports (+https://github.com/iana-ports)",
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    if previous.get("etag"):
        headers["If-None-Match"] = previous["etag"]
    if previous.get("last_modified"):
        headers["If-Modified-Since"] = previous["last_modified"]
    if progress is None:
        progress = sys.stderr.isatty()
    shown = redact(url)  # what error lines and the database may show of the URL
    clock = _Clock(shown, deadline)
    for attempt in range(1, retries + 2):
        try:
            result = _get_once(url, shown, headers, previous, timeout, max_bytes, clock, progress)
        except _Retryable as exc:
            failure = f"download failed after {_attempts(attempt)}: {exc}"
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
            clock.check()
            if _tls_verification(exc):
                # A certificate does not get better in a few seconds.
                raise DownloadError(f"download failed: {shown}: {_describe(exc)}") from None
            kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
            failure = f"download {kind} after {_attempts(attempt)}: {shown}: {_describe(exc)}"
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            # Unsupported protocols, invalid URLs and Location headers, local protocol errors.
            raise DownloadError(f"download failed: {shown}: {_describe(exc)}") from None
        else:
            return result
        pause = backoff * 2 ** (attempt - 1)
        if attempt > retries or clock.left() <= pause:
            raise DownloadError(failure)
        time.sleep(pause)
    raise AssertionError("unreachable")


class _Retryable(Exception):
    pass


class _Clock:
    """The download's deadline; read timeouts are shortened to fit inside it."""

    def __init__(self, url: str, seconds: float):
        self.url, self.seconds = url, seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def check(self) -> None:
        if self.left() <= 0:
            raise DownloadError(
                f"download timed out: {self.url}: not finished within the {self.seconds:g}-second deadline (--deadline)"
            )

    def timeout(self, read: float) -> httpx.Timeout:
        self.check()
        left = self.left()
        return httpx.Timeout(min(read, left), connect=min(read, 10.0, left))


def _get_once(url, shown, headers, previous, timeout, max_bytes, clock, progress) -> Fetched | Unchanged:
    # Redirects are followed here, not by httpx, which reads each redirect's
    # body whole (with no cap) before following it.
    with httpx.Client(headers=headers, timeout=clock.timeout(timeout), follow_redirects=False) as client:
        request = client.build_request("GET", url)
        hops = [request.url]
        while True:
            response = client.send(request, stream=True)
            try:
                if response.next_request is None:
                    return _answer(response, shown, previous, max_bytes, clock, progress)
                request = response.next_request
            finally:
                response.close()
            _check_redirect(shown, hops, request.url)
            hops.append(request.url)


def _check_redirect(url: str, hops: list[httpx.URL], to: httpx.URL) -> None:
    """`url` is the redacted URL asked for; the hops are redacted too when shown."""
    chain = " -> ".join(redact(str(u)) for u in [*hops, to])
    shown_to = redact(str(to))
    if to.scheme not in ("http", "https"):
        raise DownloadError(f"download refused: {url}: redirected to {shown_to}; only http and https are followed")
    if hops[-1].scheme == "https" and to.scheme == "http":
        raise DownloadError(f"download refused: {url}: redirected from https down to {shown_to}; not followed")
    if to in hops:
        raise DownloadError(f"download failed: {url}: redirect loop: {chain}")
    if len(hops) > MAX_REDIRECTS:
        raise DownloadError(f"download failed: {url}: more than {MAX_REDIRECTS} redirects: {chain}")


def _answer(response, url, previous, max_bytes, clock, progress) -> Fetched | Unchanged:
    if response.status_code == 304:
        return Unchanged("the server answered 304 Not Modified")
    if response.status_code in RETRY_STATUSES:
        raise _Retryable(f"HTTP {response.status_code} from {url}")
    if response.status_code != 200:
        raise DownloadError(f"download failed: HTTP {response.status_code} from {url}")
    declared = response.headers.get("Content-Length", "")
    total = int(declared) if declared.isdigit() else None
    if total is not None and total > max_bytes:
        raise DownloadError(f"download refused: {url}: Content-Length {total} is over the {max_bytes}-byte cap")
    encoding = response.headers.get("Content-Encoding", "identity")
    stages = _stages(url, encoding)
    raw = _raw(response, url, max_bytes, clock)
    chunks, size = [], 0
    # click comes with Datasette; its bar draws nothing when stderr is not a TTY.
    with click.progressbar(
        iterable=raw,  # read by the loop below, not by the bar: given for its unknown length
        length=total,  # None: a moving marker instead of a percentage
        label="downloading",
        item_show_func=lambda n: f"{n / 1e6:.1f} MB" if n else None,
        file=sys.stderr if progress else io.StringIO(),
    ) as bar:
        pieces = _shown(raw, bar)
        for stage in stages:
            pieces = stage(pieces)
        try:
            for piece in pieces:
                size += len(piece)
                if size > max_bytes:
                    raise DownloadError(
                        f"download refused: {url}: the body decodes ({encoding}) to more than the {max_bytes}-byte cap"
                    )
                chunks.append(piece)
        except (zlib.error, brotli.error, _Unfinished) as exc:
            raise DownloadError(f"download failed: {url}: the body is not valid {encoding}: {exc}") from None
    data = b"".join(chunks)
    fetched = Fetched(
        source=url,
        data=data,
        fetched_at=now(),
        sha256=hashlib.sha256(data).hexdigest(),
        etag=response.headers.get("ETag"),
        last_modified=response.headers.get("Last-Modified"),
        final_url=redact(str(response.url)),
    )
    if fetched.sha256 == previous.get("sha256"):
        return Unchanged("the downloaded file is identical to the last ingest (same sha256)")
    return fetched


def _raw(response, url, max_bytes, clock):
    """The body as sent (before decoding), counted against the cap and the deadline."""
    size = 0
    # iter_raw, not iter_bytes: httpx decodes each network read whole, and
    # 64 KiB of brotli can decode to gigabytes before any cap is checked.
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise DownloadError(f"download refused: {url}: the body is over the {max_bytes}-byte cap")
        clock.check()
        yield chunk
    clock.check()


def _shown(chunks, bar):
    seen = 0
    for chunk in chunks:
        seen += len(chunk)
        bar.update(len(chunk), seen)
        yield chunk


class _Unfinished(Exception):
    pass


def _stages(url: str, encoding: str) -> list:
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    unknown = [c for c in codings if c not in _DECODERS]
    if unknown:
        raise DownloadError(f"download failed: {url}: unsupported Content-Encoding {unknown[0]!r}")
    # Listed in the order they were applied: undo the last one first.
    return [_DECODERS[c] for c in reversed(codings)]


def _inflate(chunks, wbits: int, members: bool = False):
    """zlib's decompressobj, at most PIECE bytes out per call."""
    d = zlib.decompressobj(wbits)
    for data in chunks:
        out = b""
        while data or len(out) == PIECE:  # a full piece may leave output pending inside zlib
            out = d.decompress(data, PIECE)
            data = d.unconsumed_tail
            if out:
                yield out
            if d.eof and d.unused_data:
                if not members:
                    raise _Unfinished("data after the end of the compressed body")
                # RFC 1952: a gzip file may be several members one after another.
                data, d = d.unused_data + data, zlib.decompressobj(wbits)
    tail = d.flush()
    if tail:
        yield tail
    if not d.eof:
        raise _Unfinished("the compressed body ends early")


def _gunzip(chunks):
    return _inflate(chunks, zlib.MAX_WBITS | 16, members=True)


def _deflate_any(chunks):
    # HTTP's deflate is zlib-wrapped (RFC 9110 8.4.1.2) but some servers send
    # it raw; browsers and httpx accept both, told apart by the zlib header.
    chunks = iter(chunks)
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= 2:
            break
    wrapped = len(head) >= 2 and head[0] & 0x0F == 8 and int.from_bytes(head[:2], "big") % 31 == 0
    yield from _inflate(_prepend(head, chunks), zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)


def _prepend(first: bytes, rest):
    yield first
    yield from rest


def _unbrotli(chunks):
    d = brotli.Decompressor()
    for data in chunks:
        # With an output limit the decoder keeps the rest for the next calls:
        # drain it before feeding more, so it never piles up.
        out = d.process(data, output_buffer_limit=PIECE)
        while out or not d.can_accept_more_data():
            yield out
            out = d.process(b"", output_buffer_limit=PIECE)
    if not d.is_finished():
        raise _Unfinished("the compressed body ends early")


def _identity(chunks):
    return chunks


_DECODERS = {
    "identity": _identity,
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _deflate_any,
    "br": _unbrotli,
}


def _describe(exc: Exception) -> str:
    message = str(exc)
    return f"{type(exc).__name__}{': ' + message if message else ''}"


def _tls_verification(exc: BaseException) -> bool:
    while exc is not None:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _attempts(n: int) -> str:
    return "1 attempt" if n == 1 else f"{n} attempts"
