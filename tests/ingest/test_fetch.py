"""ingest/fetch.py through `python -m ingest --source URL`, against real servers on 127.0.0.1.

The server (servers.py) serves the real snapshot bytes in whatever framing
and encoding a test asks for, scripts failures, and records the requests it
got and how it sent each body. Every failure must be one `error:` line and
leave the previous database byte-identical.
"""

import hashlib
import os
import pty
import select
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest
import servers
from servers import ETAG, LAST_MODIFIED, NAME, Handler, Registry, Server, start, stop, tls_context
from support import Kept, command, environment, ingests, listing

from helpers import ROOT
from ingest.__main__ import main
from ingest.fetch import ACCEPT_ENCODING, download

serve, certificate = servers.serve, servers.certificate  # fixtures


def ingest(url: str, db: Path, *flags: str) -> int:
    # The CSV alone: the XML beside it has tests of its own (test_xml_source.py).
    return main(["--source", url, "--db", str(db), "--timeout", "5", "--xml", "none", *flags])


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory, snapshot_2026) -> Path:
    """A database built from a download of the 2026 snapshot (ETag and Last-Modified kept)."""
    registry = Registry(snapshot_2026.read_bytes())
    server, thread = start(registry)
    try:
        db = tmp_path_factory.mktemp("downloaded") / "iana.db"
        assert ingest(registry.url(), db) == 0
    finally:
        stop(server, thread)
    return db


@pytest.fixture
def previous(downloaded, tmp_path) -> Path:
    """A copy of `downloaded` with its raw/ folder, for a test to try to replace."""
    db = tmp_path / "data" / "iana.db"
    shutil.copytree(downloaded.parent, db.parent)
    return db


def one_error_line(capsys) -> str:
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.count("\n") == 1 and out.err.startswith("error: ")
    assert "Traceback" not in out.err
    return out.err.rstrip("\n")


def test_200_then_304_by_etag(serve, snapshot_2026, tmp_path, capsys):
    data = snapshot_2026.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    url, registry = serve(data)
    db = tmp_path / "data" / "iana.db"

    assert ingest(url, db) == 0
    [row] = ingests(db)
    assert {k: row[k] for k in ("source", "final_url", "sha256", "bytes", "etag", "last_modified", "row_count")} == {
        "source": url,
        "final_url": url,
        "sha256": sha,
        "bytes": len(data),
        "etag": ETAG,
        "last_modified": LAST_MODIFIED,
        "row_count": 14500,
    }
    raw = db.parent / "raw" / f"{row['fetched_at'][:10]}-{sha}.csv"
    assert capsys.readouterr() == (
        f"built {db}: 14500 registrations, newest registry date 2026-02-25, sha256 {sha[:12]}, raw copy {raw}\n",
        "",
    )
    assert listing(db.parent) == ["iana.db", "raw", f"raw/{raw.name}"]
    assert raw.read_bytes() == data
    assert "If-None-Match" not in registry.requests[0]

    kept = Kept(db)
    assert ingest(url, db) == 0
    assert capsys.readouterr().out == (f"unchanged: the server answered 304 Not Modified; {db} not rebuilt\n")
    assert registry.requests[1]["If-None-Match"] == ETAG
    assert len(registry.requests) == 2
    kept.check()


def test_304_by_last_modified(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes(), etag=None)
    kept = Kept(previous)
    assert ingest(url, previous) == 0
    assert capsys.readouterr().out == (f"unchanged: the server answered 304 Not Modified; {previous} not rebuilt\n")
    assert registry.requests[0]["If-Modified-Since"] == LAST_MODIFIED
    kept.check()


def test_same_sha256_without_validators_is_unchanged(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes(), etag=None, last_modified=None)
    kept = Kept(previous)
    assert ingest(url, previous) == 0
    assert capsys.readouterr().out == (
        f"unchanged: the downloaded file is identical to the last ingest (same sha256); {previous} not rebuilt\n"
    )
    assert len(registry.requests) == 1
    kept.check()


@pytest.mark.slow
def test_500_twice_then_200_is_retried(serve, snapshot_2025, previous, capsys):
    data = snapshot_2025.read_bytes()
    url, registry = serve(data, etag='"iana-2025-03-28"', last_modified="Fri, 28 Mar 2025 16:40:02 GMT")
    registry.script = ["error500", "error500"]
    assert ingest(url, previous, "--retries", "2") == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.startswith(f"built {previous}: 14474 registrations,")
    assert len(registry.requests) == 3
    assert [row["id"] for row in ingests(previous)] == [1, 2]
    newest = ingests(previous)[-1]
    assert (newest["sha256"], newest["etag"], newest["row_count"]) == (
        hashlib.sha256(data).hexdigest(),
        '"iana-2025-03-28"',
        14474,
    )


def test_500_beyond_the_retries_fails(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = ["error500", "error500"]
    kept = Kept(previous)
    assert ingest(url, previous, "--retries", "1") == 1
    assert one_error_line(capsys) == f"error: download failed after 2 attempts: HTTP 500 from {url}"
    assert len(registry.requests) == 2
    kept.check()


@pytest.mark.parametrize("behaviour", ["stall", "stall_body"])
def test_stalled_server_times_out(serve, snapshot_2026, previous, capsys, behaviour):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = [behaviour]
    kept = Kept(previous)
    assert main(["--source", url, "--db", str(previous), "--timeout", "1", "--retries", "0"]) == 1
    assert one_error_line(capsys) == (f"error: download timed out after 1 attempt: {url}: ReadTimeout: timed out")
    kept.check()


def test_html_page_with_status_200(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = ["html"]
    kept = Kept(previous)
    assert ingest(url, previous, "--force") == 1
    assert one_error_line(capsys) == (
        "error: not a registry CSV: line 1 must be the 12 registry columns, got '<!DOCTYPE html>'"
    )
    kept.check()


def test_truncated_body(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = ["truncated"]
    kept = Kept(previous)
    assert ingest(url, previous, "--force", "--retries", "0") == 1
    assert one_error_line(capsys) == (
        f"error: download failed after 1 attempt: {url}: RemoteProtocolError: "
        "peer closed connection without sending complete message body "
        f"(received {len(registry.body) // 2} bytes, expected {len(registry.body)})"
    )
    kept.check()


def test_404(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = ["not_found"]
    kept = Kept(previous)
    assert ingest(url, previous, "--force") == 1
    assert one_error_line(capsys) == f"error: download failed: HTTP 404 from {url}"
    assert len(registry.requests) == 1
    kept.check()


def test_size_cap_refuses_before_reading(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    kept = Kept(previous)
    assert ingest(url, previous, "--force", "--max-bytes", "1000") == 1
    assert one_error_line(capsys) == (
        f"error: download refused: {url}: Content-Length {len(registry.body)} is over the 1000-byte cap"
    )
    kept.check()


def test_nothing_listening(previous, capsys):
    server = Server(("127.0.0.1", 0), Handler)  # bound then closed: a port nobody serves
    host, port = server.server_address
    server.server_close()
    url = f"http://{host}:{port}/registry.csv"
    kept = Kept(previous)
    assert ingest(url, previous, "--retries", "0") == 1
    assert one_error_line(capsys) == (
        f"error: download failed after 1 attempt: {url}: ConnectError: [Errno 111] Connection refused"
    )
    kept.check()


def test_negative_retries(previous, capsys):
    kept = Kept(previous)
    assert ingest("http://127.0.0.1:9/registry.csv", previous, "--retries", "-1") == 1
    assert one_error_line(capsys) == "error: retries must be 0 or more, got -1"
    kept.check()


# -- framings, encodings, redirects that work ------------------------------


@pytest.mark.parametrize(
    "behaviour, sent",
    [
        ("ok", ("length", "identity")),
        ("chunked", ("chunked", "identity")),
        ("close", ("close", "identity")),
        ("gzip", ("chunked", "gzip")),
        ("gzip_close", ("close", "gzip")),
        ("gzip_length", ("length", "gzip")),
        ("deflate", ("chunked", "deflate")),
        ("raw_deflate", ("chunked", "deflate")),
        ("br", ("chunked", "br")),
    ],
)
def test_every_framing_and_encoding_gives_the_same_bytes(serve, snapshot_2026, behaviour, sent):
    data = snapshot_2026.read_bytes()
    _, registry = serve(data)
    url = registry.url(behaviour)
    got = download(url, timeout=5, retries=0)
    assert (got.data, got.sha256, got.final_url, got.etag) == (data, hashlib.sha256(data).hexdigest(), url, ETAG)
    assert registry.sent == [sent]
    assert registry.requests[0]["Accept-Encoding"] == ACCEPT_ENCODING == "gzip, deflate, br"


def test_a_relative_redirect_is_followed_and_the_final_url_kept(serve, snapshot_2026):
    data = snapshot_2026.read_bytes()
    _, registry = serve(data)
    got = download(registry.url("moved"), timeout=5, retries=0)
    assert (got.data, got.source, got.final_url) == (data, registry.url("moved"), registry.url("ok"))
    assert [r["path"] for r in registry.requests] == [f"/moved/{NAME}", f"/ok/{NAME}"]


def test_a_redirect_body_is_never_read(serve, snapshot_2026):
    data = snapshot_2026.read_bytes()
    _, registry = serve(data)
    started = time.monotonic()
    got = download(registry.url("moved_endless"), timeout=5, retries=0)
    assert (got.data, got.final_url) == (data, registry.url("ok"))
    assert time.monotonic() - started < 5  # the server sends that body for 30 s


def test_build_over_a_chunked_gzip_download_on_another_host(serve, snapshot_2025, tmp_path, capsys):
    """127.0.0.1 redirects to 127.0.0.2, which sends the registry gzip-compressed on the fly, chunked."""
    data = snapshot_2025.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    url, first = serve(data)
    _, other = serve(data, host="127.0.0.2")
    first.other = other.base
    db = tmp_path / "data" / "iana.db"

    assert ingest(first.url("to_other_gzip"), db) == 0
    [row] = ingests(db)
    raw = db.parent / "raw" / f"{row['fetched_at'][:10]}-{sha}.csv"
    assert capsys.readouterr() == (
        f"built {db}: 14474 registrations, newest registry date 2025-03-28, sha256 {sha[:12]}, raw copy {raw}\n",
        "",
    )
    assert {k: row[k] for k in ("source", "final_url", "sha256", "bytes", "etag", "row_count")} == {
        "source": first.url("to_other_gzip"),
        "final_url": other.url("gzip"),
        "sha256": sha,
        "bytes": len(data),
        "etag": ETAG,
        "row_count": 14474,
    }
    assert other.base.startswith("http://127.0.0.2:")
    assert other.sent == [("chunked", "gzip")]
    assert raw.read_bytes() == data
    assert listing(db.parent) == ["iana.db", "raw", f"raw/{raw.name}"]


def test_https_download(serve, snapshot_2026, certificate, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))  # httpx trusts it, as it would a site's CA
    data = snapshot_2026.read_bytes()
    _, registry = serve(data, tls=tls_context(certificate))
    got = download(registry.url("gzip"), timeout=5, retries=0)
    assert (got.data, got.final_url) == (data, registry.url("gzip"))
    assert registry.base.startswith("https://127.0.0.1:")


# -- failures: one line, nothing replaced -----------------------------------

BASE = "{base}"
FAILURES = {
    "loop": (
        [],
        "error: download failed: {url}: redirect loop: {url} -> {base}/loop/b -> {url}",
    ),
    "hops": (
        [],
        "error: download failed: {url}: more than 5 redirects: {url} -> "
        + " -> ".join(f"{BASE}/hops/{n}" for n in range(1, 7)),
    ),
    "to_ftp": (
        [],
        f"error: download refused: {{url}}: redirected to ftp://127.0.0.1/{NAME}; only http and https are followed",
    ),
    "to_file": (
        [],
        "error: download refused: {url}: redirected to file://127.0.0.1/etc/passwd; only http and https are followed",
    ),
    "false_gzip": (
        [],
        "error: download failed: {url}: the body is not valid gzip: "
        "Error -3 while decompressing data: incorrect header check",
    ),
    "false_br": ([], "error: download failed: {url}: the body is not valid br: brotli: decoder failed"),
    "cut_gzip_close": ([], "error: download failed: {url}: the body is not valid gzip: the compressed body ends early"),
    "compress": ([], "error: download failed: {url}: unsupported Content-Encoding 'compress'"),
    "over_cap_chunked": (
        ["--max-bytes", "2000000"],
        "error: download refused: {url}: the body is over the 2000000-byte cap",
    ),
    "gzip_bomb": (
        ["--max-bytes", "2000000"],
        "error: download refused: {url}: the body decodes (gzip) to more than the 2000000-byte cap",
    ),
    "br_bomb": (
        ["--max-bytes", "2000000"],
        "error: download refused: {url}: the body decodes (br) to more than the 2000000-byte cap",
    ),
}


@pytest.mark.parametrize("behaviour", FAILURES)
def test_failure_is_one_line_and_nothing_is_replaced(serve, snapshot_2026, previous, capsys, behaviour):
    flags, expected = FAILURES[behaviour]
    _, registry = serve(snapshot_2026.read_bytes())
    url = registry.url(behaviour)
    kept = Kept(previous)
    assert ingest(url, previous, "--force", "--retries", "0", *flags) == 1
    assert one_error_line(capsys) == expected.format(url=url, base=registry.base)
    kept.check()


@pytest.mark.slow
def test_a_trickling_server_is_cut_off_at_the_deadline(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = ["trickle"]
    kept = Kept(previous)
    started = time.monotonic()
    assert ingest(url, previous, "--force", "--deadline", "2") == 1
    took = time.monotonic() - started
    assert one_error_line(capsys) == (
        f"error: download timed out: {url}: not finished within the 2-second deadline (--deadline)"
    )
    assert 2 <= took < 4
    assert len(registry.requests) == 1  # the deadline is not a reason to try again
    kept.check()


def test_retries_stop_at_the_deadline(serve, snapshot_2026, previous, capsys):
    url, registry = serve(snapshot_2026.read_bytes())
    registry.script = ["error500"] * 10
    kept = Kept(previous)
    # Backoff 0.5 s then 1 s: the second pause would end after the deadline.
    assert ingest(url, previous, "--force", "--retries", "9", "--deadline", "1") == 1
    assert one_error_line(capsys) == f"error: download failed after 2 attempts: HTTP 500 from {url}"
    assert len(registry.requests) == 2
    kept.check()


@pytest.mark.parametrize(
    "url, cause",
    [
        ("http://", "UnsupportedProtocol: Request URL is missing an 'http://' or 'https://' protocol."),
        ("http://[::1", "InvalidURL: Invalid port: ':1'"),
    ],
)
def test_invalid_url(previous, capsys, url, cause):
    kept = Kept(previous)
    assert ingest(url, previous, "--force") == 1
    assert one_error_line(capsys) == f"error: download failed: {url}: {cause}"
    kept.check()


def verify_error(host: str, port: int) -> str:
    """What Python's own TLS says about the server's certificate."""
    context = ssl.create_default_context()
    with socket.create_connection((host, port), timeout=5) as sock:
        with pytest.raises(ssl.SSLCertVerificationError) as refused:
            context.wrap_socket(sock, server_hostname=host)
    return str(refused.value)


def test_untrusted_certificate_is_one_line_and_not_retried(serve, snapshot_2026, certificate, previous, capsys):
    _, registry = serve(snapshot_2026.read_bytes(), tls=tls_context(certificate))
    url = registry.url()
    cause = verify_error("127.0.0.1", int(registry.base.rsplit(":", 1)[1]))
    assert registry.connections == 1
    kept = Kept(previous)
    assert ingest(url, previous, "--force", "--retries", "3") == 1
    assert one_error_line(capsys) == f"error: download failed: {url}: ConnectError: {cause}"
    assert cause.startswith("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate")
    assert registry.connections == 2  # one attempt, not four
    kept.check()


def test_https_redirect_down_to_http_is_refused(serve, snapshot_2026, certificate, previous, capsys, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    _, plain = serve(snapshot_2026.read_bytes())
    _, secure = serve(snapshot_2026.read_bytes(), tls=tls_context(certificate))
    secure.other = plain.base
    url = secure.url("to_other")
    kept = Kept(previous)
    assert ingest(url, previous, "--force", "--retries", "0") == 1
    assert one_error_line(capsys) == (
        f"error: download refused: {url}: redirected from https down to {plain.url()}; not followed"
    )
    assert plain.requests == []
    kept.check()


# -- the progress display --------------------------------------------------


def test_progress_on_a_terminal_with_no_content_length(serve, snapshot_2026, tmp_path):
    """stderr on a pseudo-terminal: the bar is drawn for a chunked body of unknown length."""
    url, registry = serve(snapshot_2026.read_bytes())
    db = tmp_path / "iana.db"
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        command("--source", registry.url("chunked"), "--db", str(db), "--xml", "none"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=follower,
        env=environment(COLUMNS="100"),
    )
    os.close(follower)
    drawn = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        assert ready, "no output from the ingest for 30 s"
        try:
            more = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not more:
            break
        drawn += more
    out, _ = proc.communicate(timeout=30)
    os.close(leader)
    assert proc.returncode == 0
    assert out.decode().startswith(f"built {db}: 14500 registrations")
    assert registry.sent == [("chunked", "identity")]
    hide, show = "\x1b[?25l", "\x1b[?25h"  # click hides the cursor while drawing
    text = drawn.decode()
    assert text.startswith("\r") and text.endswith(show + "\r\n")
    frames = text.removesuffix(show + "\r\n").split("\r")[1:]
    assert all(f.startswith(hide + "downloading  [") for f in frames)
    # No percentage and no end to aim at, as the length is unknown: the size so far.
    assert frames[-1] == hide + "downloading  [------------------------------------]  1.1 MB"
    assert len(frames) > 2


# -- memory under a decompression bomb -------------------------------------


def peak_memory(url: str, db: Path, *flags: str) -> tuple[int, str, int]:
    """(exit status, stderr, peak resident memory in bytes) of `python -m ingest --source URL` as a process."""
    with open(db.parent / "stderr", "w+") as err:
        proc = subprocess.Popen(
            command("--source", url, "--db", str(db), "--retries", "0", *flags),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=environment(),
        )
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return proc.returncode, err.read(), usage.ru_maxrss * 1024


@pytest.mark.parametrize("bomb", ["gzip_bomb", "br_bomb"])
def test_a_bomb_is_stopped_at_the_cap_without_eating_memory(serve, snapshot_2026, previous, bomb):
    """256 MiB of zeros in 260 KB (gzip) or 405 bytes (br): refused after the cap, memory as for a 404."""
    _, registry = serve(snapshot_2026.read_bytes())
    kept = Kept(previous)
    status, err, baseline = peak_memory(registry.url("not_found"), previous, "--max-bytes", "2000000")
    assert (status, err) == (1, f"error: download failed: HTTP 404 from {registry.url('not_found')}\n")
    status, err, peak = peak_memory(registry.url(bomb), previous, "--max-bytes", "2000000")
    encoding = bomb.split("_")[0]
    assert (status, err) == (
        1,
        f"error: download refused: {registry.url(bomb)}: the body decodes ({encoding}) to more than the "
        "2000000-byte cap\n",
    )
    # httpx alone decodes a whole network read at once: 64 MiB (gzip) or all 256 MiB (br).
    assert peak - baseline < 16 * 1024 * 1024, (peak, baseline)
    (previous.parent / "stderr").unlink()
    kept.check()
