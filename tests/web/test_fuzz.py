"""Fuzzing every route, the site's and Datasette's own: never a 5xx, never a filesystem path.

Datasette 0.65.5 answered 500 to `?_through=notjson`, to row pages of tables
with a compound key given one value, to `?_facet={x` and to a static path too
long for the filesystem, whose page also printed the checkout's path; and to
an integer past 2**63 on any integer column's filter (OverflowError).
"""

from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import ROOT
from iana_ports.schema import TABLES

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# Paths a body must never show: the checkout, the virtualenv, the temporary database.
SECRETS = (str(ROOT), "site-packages", "/tmp/", "Traceback")

segments = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(10**22), max_value=10**22).map(str),
    st.from_regex(r"[0-9]{1,7}", fullmatch=True),
    st.text(alphabet='%~./\\+-_*,0123456789abcdefABCDEF\x00 {}[]":', max_size=30),
    st.binary(max_size=30).map(lambda b: "".join(f"%{x:02X}" for x in b)),
)
encodings = st.sampled_from(["quoted", "raw-safe"])
site_targets = st.sampled_from(
    [
        "/ports/",
        "/services/",
        "/search?q=",
        "/search?q=http&_next=",
        "/lookup?q=",
        "/",
        "/free?near=",
        "/free.json?near=8000&transports=",
        "/changes?port=",
        "/changes.atom?kind=",
        "/static/",
        "/-/static/",
    ]
)
tables = st.sampled_from([t.name for t in TABLES])
# Datasette's own query-string parameters on table pages, and what follows them.
table_params = st.sampled_from(
    [
        "_through",
        "_facet",
        "_facet_array",
        "_facet_date",
        "_sort",
        "_sort_desc",
        "_size",
        "_next",
        "_search",
        "_where",
        "_col",
        "_nocol",
        "_shape",
        "_labels",
        "_fts_table",
        "_searchmode",
        "_stream",
        "_ttl",
        "port__gt",
        "status__in",
        "transport__isnull",
        "_json",
    ]
)
formats = st.sampled_from(["", ".json", ".csv"])
# Every integer column of every table, every filter Datasette offers on it, and integers
# past what SQLite's 64 bits hold, either side, as typed or with a sign.
integer_columns = st.sampled_from([(t.name, c) for t in TABLES for c, kind in t.types.items() if kind is int])
filter_ops = st.sampled_from(
    [
        "",
        "__exact",
        "__not",
        "__gt",
        "__gte",
        "__lt",
        "__lte",
        "__in",
        "__notin",
        "__contains",
        "__startswith",
        "__endswith",
        "__glob",
        "__like",
        "__isnull",
    ]
)
past_int64 = st.one_of(
    st.integers(min_value=2**63, max_value=2**200), st.integers(min_value=-(2**200), max_value=-(2**63) - 1)
).map(str)
TOO_BIG = "A number in this request is too large: SQLite integers run to 9,223,372,036,854,775,807."


def encode(segment: str, how: str) -> str:
    if how == "quoted":
        return quote(segment, safe="")
    # Leave the characters URLs may carry literally, so %-sequences reach the router as typed.
    return quote(segment, safe="%~./+-_*,")


async def check(datasette, path):
    response = await datasette.client.get(path)
    assert response.status_code < 500, (path, response.text[:300])
    body = response.text
    assert not any(s in body for s in SECRETS), (path, body[:300])
    if response.status_code in (301, 302, 307, 308):
        location = response.headers["location"]
        assert not location.replace("\\", "/").startswith("//"), (path, location)
    return response


@FUZZ
@given(target=site_targets, segment=segments, how=encodings, suffix=st.sampled_from(["", ".json"]))
async def test_site_routes(datasette, target, segment, how, suffix):
    await check(datasette, target + encode(segment, how) + (suffix if "?" not in target else ""))


@FUZZ
@given(table=tables, fmt=formats, param=table_params, value=segments, how=encodings)
async def test_datasette_table_pages(datasette, table, fmt, param, value, how):
    await check(datasette, f"/iana/{table}{fmt}?{param}={encode(value, how)}")


@FUZZ
@given(column=integer_columns, op=filter_ops, value=past_int64, fmt=formats, plus=st.booleans())
async def test_integers_past_int64_on_every_filter(datasette, column, op, value, fmt, plus):
    table, name = column
    typed = "+" + value if plus and not value.startswith("-") else value
    path = f"/iana/{table}{fmt}?{name}{op}={quote(typed, safe='')}"
    response = await check(datasette, path)
    # Either a comparison SQLite cannot make, refused in the one shape, or an answer (text
    # compared as text matches nothing, or whatever the filter means for it).
    assert response.status_code in (200, 400), (path, response.status_code)
    if response.status_code == 400 and fmt == ".json":
        assert response.json() == {"ok": False, "error": TOO_BIG, "status": 400, "title": None}, path


@pytest.mark.parametrize("op", ["__gt", "__gte", "__lt", "__lte"])
async def test_a_comparison_past_int64_is_the_400(datasette, op):
    response = await datasette.client.get(f"/iana/ports.json?port{op}={2**63}")
    assert (response.status_code, response.json()) == (
        400,
        {"ok": False, "error": TOO_BIG, "status": 400, "title": None},
    )


@FUZZ
@given(table=tables, fmt=formats, key=segments, how=encodings)
async def test_datasette_row_pages(datasette, table, fmt, key, how):
    await check(datasette, f"/iana/{table}/{encode(key, how)}{fmt}")


@pytest.mark.parametrize(
    "path",
    [
        "/iana/ports?_through=notjson",
        "/iana/registrations.csv?_through=",
        "/iana/references/1",
        "/iana/references/1.json",
        "/iana/unassigned_ranges/tcp",
        "/iana/registrations?_facet=%7Bx",
        "/iana/registrations.json?_facet_array=%7Bx",
        "/static/" + "a" * 300,
        "/static/" + "a" * 3000,
        "/-/static/" + "a" * 300,
        "/static/../../etc/passwd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
    ],
)
async def test_what_used_to_fail(datasette, path):
    await check(datasette, path)
