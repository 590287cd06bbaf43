"""The project's icon: the three port ranges as a 16x16 pixel drawing.

Three rows of cells on a dark tile: the System range (blue), the User range
(light, with one amber cell: the port you are looking up) and the Dynamic
range (green), in the colours of the port map. One drawing, PIXELS, makes
the SVG (/icon.svg), the PNG (/icon.png, for previews and home screens) and
the ICO (/favicon.ico, for browsers and tools that ask for it by name), so
they cannot drift apart. Encoded with zlib and struct, like the port map.
"""

import struct

from .portmap import palette_png

SIDE = 16
COLOURS = {
    "I": (0x1D, 0x27, 0x33),  # the tile: the site header's ink
    "S": (0x5B, 0x9B, 0xD5),  # System Ports
    "U": (0xE3, 0xE8, 0xEE),  # User Ports (unassigned grey)
    "A": (0xF0, 0xB4, 0x29),  # the port being looked up (the map's marker colour)
    "D": (0x9B, 0xD4, 0xB0),  # Dynamic Ports
}
TRANSPARENT = "."
PIXELS = (
    ".IIIIIIIIIIIIII.",
    "ISSSSISSSSISSSSI",
    "ISSSSISSSSISSSSI",
    "IIIIIIIIIIIIIIII",
    "IUUUUIUUUUIUUUUI",
    "IUUUUIAAAAIUUUUI",
    "IUUUUIAAAAIUUUUI",
    "IUUUUIAAAAIUUUUI",
    "IUUUUIUUUUIUUUUI",
    "IIIIIIIIIIIIIIII",
    "IDDDDIDDDDIDDDDI",
    "IDDDDIDDDDIDDDDI",
    "IDDDDIDDDDIDDDDI",
    "IDDDDIDDDDIDDDDI",
    "IDDDDIDDDDIDDDDI",
    ".IIIIIIIIIIIIII.",
)
assert len(PIXELS) == SIDE and all(len(row) == SIDE for row in PIXELS)
# Sizes the ICO holds: what browsers, bookmarks and Windows ask for.
ICO_SIZES = (16, 32, 48)
# The PNG served for link previews and home screens.
PNG_SIZE = 512


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def svg() -> bytes:
    """One rect per run of a colour in a row; crisp edges so it scales like the pixels."""
    rects = []
    for y, row in enumerate(PIXELS):
        x = 0
        while x < SIDE:
            colour = row[x]
            run = 1
            while x + run < SIDE and row[x + run] == colour:
                run += 1
            if colour != TRANSPARENT:
                rects.append(f'<rect x="{x}" y="{y}" width="{run}" height="1" fill="{_hex(COLOURS[colour])}"/>')
            x += run
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIDE} {SIDE}" shape-rendering="crispEdges">'
        "<title>IANA ports</title>" + "".join(rects) + "</svg>\n"
    ).encode()


def png(size: int) -> bytes:
    """The drawing as a palette PNG of size x size (a whole multiple of 16), corners transparent."""
    scale, extra = divmod(size, SIDE)
    assert scale >= 1 and not extra, size
    keys = [TRANSPARENT, *COLOURS]
    index = {k: i for i, k in enumerate(keys)}
    rows = []
    for row in PIXELS:
        line = b"\x00" + bytes(index[c] for c in row for _ in range(scale))
        rows.extend([line] * scale)
    palette = b"\x00\x00\x00" + b"".join(bytes(COLOURS[k]) for k in keys[1:])
    # Palette entry 0 (the corners) fully transparent, the rest opaque.
    return palette_png(size, palette, b"".join(rows), transparency=b"\x00")


def ico() -> bytes:
    """An ICO holding one PNG per size (PNG entries: every browser since IE 9 reads them)."""
    images = [png(s) for s in ICO_SIZES]
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries = b""
    for size, image in zip(ICO_SIZES, images):
        entries += struct.pack("<BBBBHHII", size % 256, size % 256, 0, 0, 1, 32, len(image), offset)
        offset += len(image)
    return header + entries + b"".join(images)


SVG = svg()
PNG = png(PNG_SIZE)
ICO = ico()
