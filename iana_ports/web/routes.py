"""The route table: every page the site answers itself, ahead of Datasette's router."""

import re

from . import crawlers, exports, pages

# Every page the site answers itself: each web module's ROUTES, (pattern, view), in order.
ROUTES = tuple((re.compile(pattern), view) for module in (pages, exports, crawlers) for pattern, view in module.ROUTES)


def match(path: str):
    """(view, url vars) for a path the site answers itself, else None (Datasette's)."""
    for pattern, view in ROUTES:
        m = pattern.fullmatch(path)
        if m:
            return view, m.groupdict()
    return None
