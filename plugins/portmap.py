"""/portmap.png: all 65,536 ports as a 256x256 image, one pixel per port, drawn from the db.

Row r, column c is port r * 256 + c, so static/portmap.js can turn a click
into a port number. The palette PNG is about 2 KB, encoded here with zlib and
struct so the page needs no image library and no CDN.
"""

import struct
import sqlite3
import weakref
import zlib

from datasette import hookimpl
from datasette.utils.asgi import Response

DATABASE = "iana"
SIDE = 256
STATUS_SQL = "select port, status, range from ports order by port"

# Palette index per (status, range); the colours match static/site.css.
DYNAMIC = "Dynamic Ports"
PALETTE = (
    ("assigned", (0x1F, 0x5F, 0xA8)),
    ("reserved", (0xD9, 0x8A, 0x1C)),
    ("unassigned", (0xE3, 0xE8, 0xEE)),
    ("dynamic", (0x9B, 0xD4, 0xB0)),
)
INDEX = {name: i for i, (name, _) in enumerate(PALETTE)}

# One image per Database object: a rebuilt db is a new object, so a swap
# draws a new map and the old one goes with the old Database.
_images: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def encode_png(indexes: bytes) -> bytes:
    """256x256 8-bit palette PNG from one palette index per port."""
    raw = b"".join(b"\x00" + indexes[r * SIDE : (r + 1) * SIDE] for r in range(SIDE))
    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 3, 0, 0, 0)
    palette = b"".join(bytes(rgb) for _, rgb in PALETTE)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", palette)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def draw(conn) -> bytes:
    indexes = bytearray(SIDE * SIDE)
    for port, status, rng in conn.execute(STATUS_SQL):
        key = "dynamic" if status == "unassigned" and rng == DYNAMIC else status
        indexes[port] = INDEX[key]
    return encode_png(bytes(indexes))


UNAVAILABLE = "The registry database is not loaded yet."


async def portmap_view(datasette):
    db = datasette.databases.get(DATABASE)
    if db is None:
        return Response.text(UNAVAILABLE, status=503)
    png = _images.get(db)
    if png is None:
        try:
            png = _images[db] = await db.execute_fn(draw)
        except sqlite3.OperationalError:
            # A file without the ports table: not a registry build.
            return Response.text(UNAVAILABLE, status=503)
    return Response(png, content_type="image/png", headers={"Cache-Control": "max-age=300"})


@hookimpl
def register_routes():
    return [(r"^/portmap\.png$", portmap_view)]
