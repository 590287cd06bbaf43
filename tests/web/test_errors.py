"""Errors: URLs no route matches are the site's own 404 page (with the lookup box), as HTML or JSON;
nothing answers a 5xx, plain text, a 200 for a failure or the server's own files (the second half,
against the real server `make serve` runs)."""

import errno
import json
import socket
from urllib.parse import quote

import httpx
import pytest

from deploy.harness import process
from deploy.harness import free_port, serve_command
from iana_ports.schema import TABLES
from iana_ports.web.pages import BROKEN

NO_PAGE = "There is no page at this address."
SITE_NAME = (
    '<a class="site-name" href="/"><img class="site-icon" src="/icon.svg" alt="" width="24" height="24">IANA ports</a>'
)
LOOKUP = '<form class="lookup" action="/lookup" method="get" role="search">'


@pytest.mark.parametrize(
    "path", ["/nope", "/a/b/c/d/e", "/ports//0", "/services", "/iana/ports/1/2/3/4", "/-/nothing/here"]
)
async def test_unrouted_paths_are_the_sites_404_page(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<title>Page not found · IANA ports</title>" in page
    assert "<h1>Page not found</h1>" in page
    assert f'<p class="error-message">{NO_PAGE}</p>' in page
    assert SITE_NAME in page
    assert LOOKUP in page
    assert '<meta name="robots" content="noindex">' in page
    assert (
        '<p class="error-next">Or start from the <a href="/">home page</a>, the <a href="/map">port map</a> '
        'or a <a href="/search">search of the registry</a>.</p>'
    ) in page
    # Datasette's words for a path it cannot route mean nothing to a visitor.
    assert "Database not found" not in page


@pytest.mark.parametrize("path", ["/nope.json", "/a/b/c/d/e.json"])
async def test_unrouted_json_is_a_json_404(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error": NO_PAGE, "status": 404, "title": None}
    assert response.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("path", ["/99999", "/0443", "/65536"])
async def test_a_number_that_is_no_port_is_a_404(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in response.text
    assert (
        '<p class="error-message">There is no page at this address: ports are numbers from 0 to 65535.</p>'
        in response.text
    )
    assert LOOKUP in response.text


async def test_datasette_errors_keep_their_messages(datasette):
    response = await datasette.client.get("/iana/ports/99999999.json")
    assert response.status_code == 404
    assert response.json()["error"] == "Record not found"
    response = await datasette.client.get("/iana/nosuch")
    assert response.status_code == 404
    assert '<p class="error-message">Table not found</p>' in response.text
    assert "<h1>Page not found</h1>" in response.text
    response = await datasette.client.get("/iana.json?sql=select+nosuch")
    assert response.status_code == 400
    assert response.json()["error"] == "no such column: nosuch"


def failure(fn):
    try:
        fn()
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


def test_the_status_of_an_exception_on_datasettes_pages():
    from iana_ports.web import errors, render

    port_link = render.link_filters(lambda path: path)["port_link"]
    unreadable = (400, "Bad request: a parameter of this URL cannot be read.")
    assert errors.error_status(failure(lambda: int("x"))) == unreadable
    # The same kind of exception raised in the project's own code is a bug, and says nothing of itself.
    assert errors.error_status(failure(lambda: port_link("x"))) == (500, BROKEN)
    assert errors.error_status(RuntimeError("/srv/secret")) == (500, BROKEN)
    assert errors.error_status(OSError(errno.ENAMETOOLONG, "File name too long")) == (404, "Not found")
    assert errors.error_status(OSError(errno.EMFILE, "Too many open files")) == (500, BROKEN)


async def test_a_query_over_the_time_limit_says_so_in_plain_words(datasette):
    endless = "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"
    response = await datasette.client.get("/iana.json", params={"sql": endless, "_timelimit": "20"})
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "The SQL query took too long and was stopped; ask for less.",
        "status": 400,
        "title": None,
    }
    page = await datasette.client.get("/iana", params={"sql": endless, "_timelimit": "20"})
    assert page.status_code == 400
    assert '<p class="error-message">The SQL query took too long and was stopped; ask for less.</p>' in page.text
    assert "&lt;textarea" not in page.text


async def test_datasettes_bad_request_keeps_its_status_and_words(datasette):
    response = await datasette.client.get("/iana/registrations.json?_size=x")
    assert (response.status_code, response.json()) == (
        400,
        {"ok": False, "error": "_size must be a positive integer", "status": 400, "title": None},
    )


# Against the real server `make serve` runs: what Datasette 0.65.5 answered 500, plain text,
# a 200 for a failure, or with the server's own files.

PAST_INT64 = str(2**63)
INTEGER_COLUMNS = [(t.name, c) for t in TABLES for c, kind in t.types.items() if kind is int]
TOO_BIG = "A number in this request is too large: SQLite integers run to 9,223,372,036,854,775,807."


def shape(status: int, message: str) -> dict:
    return {"ok": False, "error": message, "status": status, "title": None}


@pytest.fixture(scope="module")
def live(db_2026):
    port = free_port()
    with process(serve_command(db_2026, port), port) as (base, _):
        yield base, port, db_2026


def test_the_integer_columns_are_found():
    assert ("ports", "port") in INTEGER_COLUMNS and ("registrations", "port_low") in INTEGER_COLUMNS
    assert len(INTEGER_COLUMNS) > 20


@pytest.mark.parametrize("op", ["gt", "gte", "lt", "lte"])
def test_integers_past_int64_on_every_integer_filter_are_400(live, op):
    base, _, _ = live
    with httpx.Client(base_url=base, timeout=10) as client:
        for table, column in INTEGER_COLUMNS:
            response = client.get(f"/iana/{table}.json?{column}__{op}={PAST_INT64}")
            assert (response.status_code, response.json()) == (400, shape(400, TOO_BIG)), (table, column)
        page = client.get(f"/iana/ports?port__{op}={PAST_INT64}")
        assert page.status_code == 400
        assert f'<p class="error-message">{TOO_BIG}</p>' in page.text


def test_an_integer_past_int64_compared_as_equal_matches_nothing(live):
    base, _, _ = live
    response = httpx.get(f"{base}/iana/ports.json?port={PAST_INT64}&_shape=array", timeout=10)
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize(
    "path, status, message, cache",
    [
        (
            "/iana/ports.json?_where=" + quote("randomblob(1000000000)"),
            400,
            "string or blob too big",
            "public, max-age=60",
        ),
        (
            "/iana.json?sql=" + quote("select * from pragma_database_list"),
            400,
            "access to pragma_database_list.seq is prohibited",
            "public, max-age=60",
        ),
        (
            "/iana.json?sql=" + quote("select file from pragma_database_list()"),
            400,
            "access to pragma_database_list.file is prohibited",
            "public, max-age=60",
        ),
        ("/-/threads.json", 404, NO_PAGE, "no-store"),
        ("/-/static/nosuch.json", 404, NO_PAGE, "public, max-age=60"),
    ],
)
def test_refusals_are_4xx_in_the_one_shape(live, path, status, message, cache):
    base, _, db = live
    response = httpx.get(base + path, timeout=30)
    assert (response.status_code, response.json()) == (status, shape(status, message))
    assert (response.headers["content-type"], response.headers["cache-control"]) == (
        "application/json; charset=utf-8",
        cache,
    )
    assert "etag" not in response.headers
    assert str(db.parent) not in response.text


@pytest.mark.parametrize("path", ["/-/threads", "/-/static/nosuch.css", "/static/nosuch.css"])
def test_datasettes_own_404s_are_the_sites_page(live, path):
    base, _, _ = live
    response = httpx.get(base + path, timeout=10)
    assert (response.status_code, response.headers["content-type"]) == (404, "text/html; charset=utf-8")
    assert f'<p class="error-message">{NO_PAGE}</p>' in response.text
    assert LOOKUP in response.text


def test_the_database_page_still_lists_its_attached_databases(live):
    # Datasette's own `PRAGMA database_list` is not the refused table-valued function.
    base, _, _ = live
    response = httpx.get(base + "/iana.json", timeout=10)
    assert response.status_code == 200
    assert response.json()["database"] == "iana"


def test_a_failed_csv_query_is_a_400_never_cached_nor_given_the_builds_etag(live):
    base, _, _ = live
    etag = httpx.get(base + "/iana/ports.csv?_size=1", timeout=10).headers["etag"]
    for headers in ({}, {"If-None-Match": etag}):
        response = httpx.get(base + "/iana.csv?sql=select+nosuch", headers=headers, timeout=10)
        assert response.status_code == 400
        assert response.headers["cache-control"] == "no-store"
        assert "etag" not in response.headers
        assert '<p class="error-message">no such column: nosuch</p>' in response.text


@pytest.fixture(scope="module")
def roomy(db_2026):
    """A server with a 10 s time limit, so a query runs out of memory before time, and a 1 MB
    limit on a CSV's size, which the registrations pass half way."""
    port = free_port()
    settings = ["--setting", "sql_time_limit_ms", "10000", "--setting", "max_csv_mb", "1"]
    with process(serve_command(db_2026, port) + settings, port) as (base, _):
        yield base


def test_a_query_out_of_memory_is_a_400_never_cached(roomy):
    # SQLite's NOMEM at the heap limit (sqlite3 raises MemoryError): json_group_array grows past
    # the 1 MB length limit, which 3.40 checks only at the end.
    sql = "select length(json_group_array(hex(zeroblob(450000)))) from ports"
    response = httpx.get(roomy + "/iana.json?sql=" + quote(sql), timeout=30)
    assert (response.status_code, response.json()) == (
        400,
        shape(400, "The query needs more memory than the server allows its queries; ask for less."),
    )
    assert (response.headers["cache-control"], "etag" in response.headers) == ("no-store", False)
    # The server is no worse for it.
    assert httpx.get(roomy + "/iana.json?sql=select+1+as+one", timeout=10).json()["rows"] == [[1]]


def test_a_csv_that_fails_half_way_is_cut_off_not_finished_with_the_error(roomy):
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        with httpx.stream("GET", roomy + "/iana/registrations.csv?_stream=on", timeout=30) as response:
            assert response.status_code == 200
            for chunk in response.iter_raw():
                received += chunk
    assert len(received) > 500_000
    assert b"CSV contains more than" not in received
    # A CSV under the limit still ends as it should.
    whole = httpx.get(roomy + "/iana/ports.csv?_size=10", timeout=10)
    assert (whole.status_code, len(whole.text.splitlines())) == (200, 11)


@pytest.mark.parametrize(
    "request_bytes, status, message",
    [
        (b"DELETE /ports/22.json HTTP/1.1\r\nHost: x\r\n\r\n", 405, "This site only reads: GET and HEAD."),
        (
            b"GET /search.json?q=" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            414,
            "The address is too long: at most 4,096 characters.",
        ),
        (b"GET //example.com/x.json HTTP/1.1\r\nHost: x\r\n\r\n", 404, NO_PAGE),
        (b"GET /-/mcp HTTP/1.1\r\nHost: x\r\n\r\n", 405, "The MCP endpoint takes POST only."),
    ],
)
def test_what_the_stack_refuses_itself_has_the_one_shape(live, request_bytes, status, message):
    _, port, _ = live
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request_bytes.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n"))
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].startswith(b"HTTP/1.1 %d " % status)
    assert b"content-type: application/json; charset=utf-8" in head.lower()
    if b"transfer-encoding: chunked" in head.lower():
        body = body.split(b"\r\n")[1]
    assert json.loads(body) == shape(status, message)
