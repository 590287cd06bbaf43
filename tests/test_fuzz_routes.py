"""Route fuzz: whatever follows /ports/, /services/ (or any other prefix), never a 5xx."""

from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

segments = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-10**22, max_value=10**22).map(str),
    st.from_regex(r"[0-9]{1,7}", fullmatch=True),
    st.text(alphabet="%~./\\+-_*0123456789abcdefABCDEF\x00 ", max_size=30),
    st.binary(max_size=30).map(lambda b: "".join(f"%{x:02X}" for x in b)),
)
encodings = st.sampled_from(["quoted", "raw-safe"])
targets = st.sampled_from([
    "/ports/", "/services/", "/search?q=", "/search?q=http&_next=", "/lookup?q=", "/", "/iana/", "/iana/ports/",
])
suffixes = st.sampled_from(["", ".json"])

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def encode(segment: str, how: str) -> str:
    if how == "quoted":
        return quote(segment, safe="")
    # Leave the characters URLs may carry literally, so %-sequences reach the router as typed.
    return quote(segment, safe="%~./+-_*")


@FUZZ
@given(target=targets, segment=segments, how=encodings, suffix=suffixes)
async def test_no_server_errors(datasette, target, segment, how, suffix):
    path = target + encode(segment, how) + (suffix if "?" not in target else "")
    response = await datasette.client.get(path)
    assert response.status_code < 500, (path, response.text[:300])
    if response.status_code in (301, 302, 307, 308):
        location = response.headers["location"]
        assert not location.replace("\\", "/").startswith("//"), (path, location)
