"""/portmap.png and /portmap-dark.png: all 65,536 ports as a 256x256 image, one pixel per port.

Row r, column c is port r * 256 + c, so static/portmap.js can turn a click
into a port number. The palette PNG is about 2 KB, encoded here with zlib and
struct so the page needs no image library and no CDN.
"""

import struct
import zlib

from iana_ports.facts import DYNAMIC_RANGE, PORT_COUNT, UNASSIGNED

SIDE = 256
# Palette index per status (and the never-assigned Dynamic range); the colours match static/site.css
# (--map-*), light and dark. Dark: no bright quarter on a dark page; assigned and reserved keep at
# least 3:1 against unassigned (WCAG's non-text contrast), the Dynamic range stays green.
STATUSES = ("assigned", "reserved", "unassigned", "dynamic")
PALETTES = {
    "light": ((0x1F, 0x5F, 0xA8), (0xD9, 0x8A, 0x1C), (0xE3, 0xE8, 0xEE), (0x9B, 0xD4, 0xB0)),
    "dark": ((0x4A, 0x90, 0xE2), (0xE0, 0xA0, 0x40), (0x2A, 0x34, 0x40), (0x3A, 0x7A, 0x57)),
}
INDEX = {name: i for i, name in enumerate(STATUSES)}


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def palette_png(side: int, palette: bytes, rows: bytes, transparency: bytes = b"") -> bytes:
    """A square 8-bit palette PNG; `rows` are its filtered scanlines (each a 0 byte, then
    one palette index per pixel), `transparency` the alpha of the first palette entries."""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 3, 0, 0, 0))
        + _chunk(b"PLTE", palette)
        + (_chunk(b"tRNS", transparency) if transparency else b"")
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


def encode_png(indexes: bytes, scheme: str = "light") -> bytes:
    """256x256 8-bit palette PNG from one palette index per port, in the scheme's colours."""
    raw = b"".join(b"\x00" + indexes[r * SIDE : (r + 1) * SIDE] for r in range(SIDE))
    return palette_png(SIDE, b"".join(bytes(rgb) for rgb in PALETTES[scheme]), raw)


def indexes(store) -> bytes:
    """One palette index per port of one build, from the overall status of every port."""
    found = bytearray(PORT_COUNT)
    for port in range(PORT_COUNT):
        status = store.port_row(port)["status"]
        dynamic = status == UNASSIGNED and port >= DYNAMIC_RANGE["first"]
        found[port] = INDEX["dynamic" if dynamic else status]
    return bytes(found)
