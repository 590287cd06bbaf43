"""What people type into the lookup box, the search box or the command line, read as ports or words.

22, 022, port 22, 22/tcp, tcp 22, tcp/22   -> port 22 (on tcp)
8080,8443  8080 8443                        -> ports 8080 and 8443
6000-6010                                   -> ports 6000 to 6010
ssh/tcp                                     -> the name ssh, on tcp
anything else                               -> words
"""

import re
from collections import namedtuple

from .errors import BadQuery
from .facts import MAX_PORT, TRANSPORTS

__all__ = ["BadQuery", "Query", "parse", "port_of"]

MAX_TEXT = 200
# A list or range answers with every registration on it; keep that a page, not a table.
MAX_PORTS = 1024

_T = "|".join(TRANSPORTS)
_NUMBER = r"-?[0-9]+"
_PORT_ONLY = re.compile(rf"(?:port\s+)?({_NUMBER})(?:\s*/\s*({_T}))?", re.I)
_TRANSPORT_FIRST = re.compile(rf"({_T})(?:\s+|\s*/\s*)({_NUMBER})", re.I)
_RANGE = re.compile(rf"(?:ports?\s+)?({_NUMBER})\s*[-–]\s*({_NUMBER})(?:\s*/\s*({_T}))?", re.I)
_LIST = re.compile(rf"(?:ports?\s+)?{_NUMBER}(?:\s*[,\s]\s*{_NUMBER})+", re.I)
_NAME_TRANSPORT = re.compile(rf"([^\s/]+)\s*/\s*({_T})", re.I)


# A named tuple, not a dataclass: the command line imports this module on every start, and
# dataclasses (with inspect) took a tenth of it.
class Query(namedtuple("Query", "text ports transport name", defaults=((), "", ""))):
    __slots__ = ()

    @property
    def words(self) -> str:
        """The text to search in names and descriptions (empty for a port query)."""
        return "" if self.ports else (self.name or self.text)


def port_of(text: str) -> int:
    """A typed port number, leading zeros allowed; BadQuery when it is not 0-65535."""
    digits = text.lstrip("0") or "0"
    if text.startswith("-") or len(digits) > 5 or int(digits) > MAX_PORT:
        raise BadQuery(f"Not a port number: {text[:20]}. Ports are whole numbers from 0 to 65535.")
    return int(digits)


def parse(text: str) -> Query:
    text = " ".join(text.split())
    if len(text) > MAX_TEXT:
        raise BadQuery(f"Search text is limited to {MAX_TEXT} characters.")
    if m := _PORT_ONLY.fullmatch(text):
        return Query(text, (port_of(m[1]),), (m[2] or "").lower())
    if m := _TRANSPORT_FIRST.fullmatch(text):
        return Query(text, (port_of(m[2]),), m[1].lower())
    if m := _RANGE.fullmatch(text):
        first, last = port_of(m[1]), port_of(m[2])
        if first > last:
            raise BadQuery(f"A port range goes from the lower number to the higher: {first}-{last}?")
        if last - first + 1 > MAX_PORTS:
            raise BadQuery(f"A port range may hold at most {MAX_PORTS:,} ports.")
        return Query(text, tuple(range(first, last + 1)), (m[3] or "").lower())
    if _LIST.fullmatch(text):
        ports = tuple(dict.fromkeys(port_of(n) for n in re.findall(_NUMBER, text)))
        if len(ports) > MAX_PORTS:
            raise BadQuery(f"A list may hold at most {MAX_PORTS:,} ports.")
        return Query(text, ports)
    if m := _NAME_TRANSPORT.fullmatch(text):
        return Query(text, name=m[1], transport=m[2].lower())
    return Query(text)
