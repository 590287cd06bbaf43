"""Templates for the site's own pages, rendered synchronously on the event loop.

Datasette's own environment is asynchronous and runs every page through its
plugin hooks; a port page needs none of that, and rendering it here costs a
fraction. Datasette's pages (tables, queries) still use Datasette's
environment, with the same filters and the same shared partials
(_header.html, _footer.html), so they look like the rest of the site.
"""

from pathlib import Path
from urllib.parse import quote

import jinja2

from iana_ports.facts import CATEGORIES, OS_LABELS, RANGES
from iana_ports.text import and_list, en_dash

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def path_name(name: str) -> str:
    """A service name as one URL path segment (cl/1 -> cl%2F1)."""
    return quote(name, safe="")


def thousands(n: int) -> str:
    return f"{n:,}"


FILTERS = {"path_name": path_name, "and_list": and_list, "en_dash": en_dash, "thousands": thousands}
# Facts every template may show.
GLOBALS = {"os_labels": OS_LABELS, "ranges": RANGES, "categories": CATEGORIES}


def linker(datasette):
    """link("/ports/22") -> "/ports/22" under base_url: urls.path() without its
    per-call overhead, which a port page pays some twenty times."""
    prefix = datasette.setting("base_url").rstrip("/")

    def link(path: str) -> str:
        return prefix + path

    return link


def install(env: jinja2.Environment, datasette) -> None:
    """The project's filters and globals, in this environment or Datasette's."""
    env.filters.update(FILTERS)
    env.globals.update(GLOBALS, link=linker(datasette))


class FactsEnvironment(jinja2.Environment):
    """`p.port` on the read side's plain dicts looks up the key first; Jinja's
    default tries getattr() first and fails, some 160 times a port page."""

    def getattr(self, obj, attribute):
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


class Renderer:
    def __init__(self, datasette):
        self.env = FactsEnvironment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            # Templates change with a deploy, which restarts the server: no stat() per include.
            auto_reload=False,
        )
        install(self.env, datasette)
        self.env.globals["urls"] = datasette.urls

    def render(self, template: str, **context) -> str:
        return self.env.get_template(template).render(context)
