"""Templates for the site's own pages, rendered synchronously on the event loop.

Datasette's own environment is asynchronous and runs every page through its
plugin hooks; a port page needs none of that, and rendering it here costs a
fraction. Datasette's pages (tables, queries) still use Datasette's
environment, with the same filters and the same shared partials
(_header.html, _footer.html), so they look like the rest of the site.

What does not depend on the request (the header and footer of a build, the
three ranges explained, the bigger picture) is rendered once by fragment()
and kept: a port page pastes it in rather than rendering it again.
"""

import functools
import re
import weakref
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode

import jinja2
from markupsafe import Markup, escape

from iana_ports.facts import CATEGORIES, FIELDS, IANA_REGISTRY_URL, LISTENING_COMMANDS, OS_LABELS, RANGES, RFC6335_URL
from iana_ports.enriched import FROM_ID, person_ids, shown
from iana_ports.text import CONTACT_ID, PORT_STAND_IN, and_list, contact_names, en_dash

from . import builds

# Datasette's configuration directory as the package ships it (templates, static files,
# metadata.yml, settings.json): in a checkout, links to the top level's own.
CONFIG = Path(__file__).resolve().parent / "config"
TEMPLATES = CONFIG / "templates"
# Registration cards and fragments kept at most, each (a few MB); the registry has some
# 14,500 rows, and a few thousand verdicts are worded differently.
MAX_KEPT = 4096


def path_name(name: str) -> str:
    """A service name as one URL path segment (cl/1 -> cl%2F1)."""
    return quote(name, safe="")


def thousands(n: int) -> str:
    return f"{n:,}"


def names(text: str | None) -> str:
    """An Assignee or Contact field as the names it holds: "[Kurt_Haubner]" -> "Kurt Haubner"."""
    return and_list(contact_names(text))


def people_names(text: str | None, people: dict) -> Markup:
    """An Assignee or Contact field with each id as the registry names the person (read.port's `people`);
    a name the rule guessed from the id says so. Without `people`, as names() reads it."""
    if not text:
        return Markup("")
    ids = CONTACT_ID.findall(text)
    guessed = [people.get(pid) is not None and people[pid]["from"] == FROM_ID for pid in ids]
    # All guessed (a build from the CSV alone): one label for the list, not one a name.
    label = Markup(' <span class="muted">(read from the id)</span>')
    each = any(guessed) and not all(guessed)
    shown_names = []
    for pid, guess in zip(ids, guessed):
        p = people.get(pid)
        name = escape(names(f"[{pid}]") if p is None else shown(p))
        shown_names.append(name + label if guess and each else name)
    rest = CONTACT_ID.sub(" ", text).strip()
    if rest:
        shown_names.append(escape(" ".join(rest.split())))
    listed = Markup(and_list(shown_names))
    return listed + label if guessed and all(guessed) else listed


# "RFC 6335", "RFC6335", "RFC 6335 section 8.1.2": the RFC Editor's page, at the section when one is named.
_RFC = re.compile(r"\bRFC ?([0-9]{1,5})(?:,? [Ss]ection ([0-9]+(?:\.[0-9]+)*))?")


def rfc_links(text) -> Markup:
    """Text with every RFC it names linked (escaped first, so registry text stays text)."""

    def link(m):
        url = f"https://www.rfc-editor.org/rfc/rfc{int(m.group(1))}"
        if m.group(2):
            url += f"#section-{m.group(2)}"
        return f'<a href="{url}">{m.group(0)}</a>'

    return Markup(_RFC.sub(link, str(escape(text))))


def by_registration(references: list[dict]) -> dict:
    """The read side's references, grouped under their registration's id, in order."""
    grouped: dict = {}
    for ref in references:
        grouped.setdefault(ref["registration_id"], []).append(ref)
    return grouped


# What a registry row says besides its id, line and transport: rows equal in these are one card.
_SAME_ROW = tuple(f for f in FIELDS if f != "transport")


def grouped(registrations: list[dict]) -> list[dict]:
    """Registry rows that differ only in transport as one (port 22: ssh on tcp, udp and sctp),
    `transport` naming them all; the first row's id and line stand for the group."""
    groups: dict[tuple, dict] = {}
    for reg in registrations:
        key = tuple(reg.get(k) for k in _SAME_ROW)
        if key in groups:
            first = groups[key]
            first["transport"] = f"{first['transport'] or 'any transport'}, {reg['transport'] or 'any transport'}"
        else:
            groups[key] = dict(reg)
    return list(groups.values())


def verdict_key(verdict: dict, apply: dict | None) -> tuple:
    """All a port page's verdict section shows of a verdict (read.port's) and the note on how
    to apply: what its port_fragment() is kept by."""
    return (
        verdict["level"],
        tuple(verdict["reasons"]),
        verdict["software_reasons"],
        tuple(verdict["notes"]),
        tuple(verdict["targets"]),
        apply and (apply["title"], apply["url"]),
    )


def os_key(ephemeral: list[dict]) -> str:
    """Which operating systems' ephemeral ranges hold a port: "linux,windows,macos,freebsd"."""
    return ",".join([e["os"] for e in ephemeral])


FILTERS = {
    "path_name": path_name,
    "and_list": and_list,
    "en_dash": en_dash,
    "thousands": thousands,
    "names": names,
    "people_names": people_names,
    "rfc_links": rfc_links,
    "os_key": os_key,
    "verdict_key": verdict_key,
    "os_names": lambda ids: and_list([OS_LABELS[i] for i in ids]),
}
# Facts every template may show.
GLOBALS = {
    "os_labels": OS_LABELS,
    "ranges": RANGES,
    "categories": CATEGORIES,
    "rfc6335_url": RFC6335_URL,
    "iana_registry_url": IANA_REGISTRY_URL,
    "listening_commands": LISTENING_COMMANDS,
}


def linker(datasette):
    """link("/ports/22") -> "/ports/22" under base_url: urls.path() without its
    per-call overhead, which a port page pays some twenty times."""
    prefix = datasette.setting("base_url").rstrip("/")

    def link(path: str) -> str:
        return prefix + path

    return link


def origin(datasette, request) -> str:
    """scheme://host of the request, as Datasette's absolute_url() would write it
    (force_https_urls included): link previews need absolute URLs."""
    if request is None:
        return ""
    scheme = "https" if datasette.setting("force_https_urls") else request.scheme
    return f"{scheme}://{request.host}"


def previewer(link):
    """preview(origin, title, description, canonical=None): a page's link preview (Open Graph,
    Twitter cards), as site/page.html and Datasette's base.html put it in their head. Absolute
    URLs only, so no image or address without `origin`. A function rather than an include:
    an include copies the whole template context, on every page."""
    icon = link("/icon.png")

    def preview(origin: str, title, description, canonical=None) -> Markup:
        title, description = escape(title), escape(description)
        tags = [
            f'    <meta property="og:title" content="{title}">',
            f'    <meta property="og:description" content="{description}">',
            f'    <meta name="twitter:title" content="{title}">',
            f'    <meta name="twitter:description" content="{description}">',
        ]
        if origin:
            origin = escape(origin)
            tags.append(f'    <meta property="og:image" content="{origin}{escape(icon)}">')
            if canonical is not None:
                url = f"{origin}{escape(link(canonical))}"
                tags += [f'    <meta property="og:url" content="{url}">', f'    <link rel="canonical" href="{url}">']
        return Markup("\n".join(tags))

    return preview


def link_filters(link) -> dict:
    """Filters that write whole links to port and service pages, through link().

    A port page shows some thirty such links; as filters (which Jinja calls
    directly) with the markup built here, each costs a fraction of a link()
    call and three escaped outputs in the template.
    """
    ports_path = link("/ports/")

    def port_link(port, text=None) -> Markup:
        """22 -> <a href="/ports/22">22</a>; "6000-6063" links its first port."""
        if type(port) is int and text is None:
            # A number needs no escaping.
            return Markup(f'<a href="{ports_path}{port}">{port}</a>')
        number = int(str(port).partition("-")[0])
        return Markup(f'<a href="{ports_path}{number}">{escape(port if text is None else text)}</a>')

    # The registry has some 6,000 names: each link is made once. Bounded all the same, as
    # Datasette's cells (cells.render_cell) may hold any name a visitor's SQL makes.
    @functools.lru_cache(maxsize=8192)
    def service_link(name: str) -> Markup:
        return Markup(f'<a href="{link("/services/" + path_name(name.lower()))}">{escape(name)}</a>')

    def port_links(ports) -> Markup:
        """Port numbers, or dicts with a "port" (free_nearby), as links, comma-separated."""
        return Markup(", ".join([port_link(p if type(p) is int else p["port"]) for p in ports]))

    def status_lines(transports: dict) -> Markup:
        """A port page's status, one line per set of transports that say the same
        (60878: "tcp, udp, sctp, dccp: unassigned, run 49152–65535").

        Built here rather than in the template: it is on every port page.
        Transports and statuses are the read side's fixed words; names are escaped.
        """
        groups: dict[tuple, list[str]] = {}
        for t, v in transports.items():
            run = v["unassigned_run"]
            key = (v["status"], tuple(v["services"]), (run["first"], run["last"]) if run else None)
            groups.setdefault(key, []).append(t)
        lines = []
        for (status, services, run), on in groups.items():
            names = ", ".join([service_link(n) for n in services])
            detail = f" to {names}" if names else ""
            if run:
                detail += f", unassigned run {port_link(run[0])}–{port_link(run[1])}"
            lines.append(
                f'<li><strong>{escape(", ".join(on))}</strong>: <span class="badge badge-{escape(status)}">'
                f"{escape(status)}</span>{detail}</li>"
            )
        return Markup("\n".join(lines))

    kind_notes = {"example": " (documented example)", "range": " (a block it draws from)"}

    def use_items(uses: list, show_port: bool) -> Markup:
        """Common uses as list items: software, kind, role, ports, transports, category, source.
        Built here: port 8080's page lists dozens."""
        items = []
        for u in uses:
            if u["first"] != u["last"]:
                where = f"ports {u['first']}–{u['last']}, "
            else:
                where = f"port {port_link(u['first'])}, " if show_port else ""
            items.append(
                f"<li><strong>{escape(u['software'])}</strong>{kind_notes.get(u['kind'], '')}: "
                f'{escape(u["description"])} <span class="muted">({where}{escape(" and ".join(u["transports"]))}; '
                f"{escape(CATEGORIES[u['category']])})</span> "
                f'<a class="source" href="{escape(u["source"])}" rel="nofollow">source</a></li>'
            )
        return Markup("\n".join(items))

    return {
        "use_items": use_items,
        "port_link": port_link,
        "port_links": port_links,
        "service_link": service_link,
        "status_lines": status_lines,
    }


def table_helpers(datasette, link) -> dict:
    """What Datasette's table page (templates/table.html, _table.html) repeats most,
    as single calls: in its asynchronous environment every loop step and output
    is a step of its own, and the table's cells and the filters' options were
    most of the page's rendering time."""
    from datasette.utils import to_css_class

    css = functools.lru_cache(maxsize=4096)(to_css_class)
    ports_path = link("/ports/")

    def table_rows(display_rows, database: str, table: str) -> Markup:
        """The rows of a table page, as _table.html wrote them cell by cell."""
        registry = builds.current(datasette)
        port_pages = table == "ports" and registry is not None and database == registry.name
        rows = []
        # Each column's opening tag, made once a page rather than once a cell.
        opening: dict = {}
        for row in display_rows:
            cells = []
            for cell in row:
                column, kind = cell["column"], cell["value_type"]
                if port_pages and kind == "pk" and column == "port":
                    # A port's row links to the port's own page, which shows that row and more.
                    inner = f'<a href="{ports_path}{escape(cell["raw"])}">{escape(cell["raw"])}</a>'
                else:
                    inner = escape(cell["value"])
                td = opening.get((column, kind))
                if td is None:
                    td = opening[(column, kind)] = f'<td class="col-{escape(css(column))} type-{escape(kind)}">'
                cells.append(f"{td}{inner}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        return Markup("\n".join(rows))

    def options(values, selected=None) -> Markup:
        """<option>s of the filter form's column select."""
        return Markup("".join(f"<option{' selected' if v == selected else ''}>{escape(v)}</option>" for v in values))

    def lookup_options(lookups, selected=None) -> Markup:
        """<option>s of the filter form's operation select (Datasette's lookups)."""
        return Markup(
            "".join(
                f'<option value="{escape(key)}{"__1" if no_argument else ""}"{" selected" if key == selected else ""}>'
                f"{escape(display)}</option>"
                for key, display, no_argument in lookups
            )
        )

    def table_headers(display_columns, request, sort, sort_desc) -> Markup:
        """The header cells of a table page, sort links included, as _table.html wrote them
        (Datasette's path_with_replaced_args(), with the query string read once, not per column)."""
        kept = [(k, v) for k, v in parse_qsl(request.query_string) if k not in ("_sort", "_sort_desc", "_next")]

        def sorted_by(key: str, name: str) -> str:
            return escape(datasette.urls.path(f"{request.path}?{urlencode([*kept, (key, name)])}"))

        cells = []
        for column in display_columns:
            name = column["name"]
            description = column.get("description")
            attributes = (
                (f'data-column-description="{escape(description)}" ' if description else "")
                + f'class="col-{escape(css(name))}" scope="col" data-column="{escape(name)}" '
                f'data-column-type="{escape(column["type"].lower())}" '
                f'data-column-not-null="{escape(column["notnull"])}" data-is-pk="{1 if column["is_pk"] else 0}"'
            )
            if not column["sortable"]:
                inner = escape(name)
            elif name == sort:
                inner = f'<a href="{sorted_by("_sort_desc", name)}" rel="nofollow">{escape(name)}&nbsp;▼</a>'
            else:
                arrow = "&nbsp;▲" if name == sort_desc else ""
                inner = f'<a href="{sorted_by("_sort", name)}" rel="nofollow">{escape(name)}{arrow}</a>'
            cells.append(f"<th {attributes}>{inner}</th>")
        return Markup("\n".join(cells))

    return {
        "table_rows": table_rows,
        "table_headers": table_headers,
        "options": options,
        "lookup_options": lookup_options,
    }


def install(env: jinja2.Environment, datasette) -> None:
    """The project's filters and globals, in this environment or Datasette's."""
    link = linker(datasette)
    env.filters.update(FILTERS, **link_filters(link))
    env.globals.update(GLOBALS, link=link, preview=previewer(link), **table_helpers(datasette, link))


class FactsEnvironment(jinja2.Environment):
    """`p.port` on the read side's plain dicts looks up the key first; Jinja's
    default tries getattr() first and fails, some 160 times a port page.
    Templates' globals are a plain dict (make_globals())."""

    def make_globals(self, d):
        # A plain dict, not Jinja's ChainMap over the environment's globals: every render
        # copies its template's globals, and a ChainMap is copied key by key in Python (a
        # tenth of a port page). Renderer sets every global before any template loads.
        return {**self.globals, **(d or {})}

    def getattr(self, obj, attribute):
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)


class Renderer:
    def __init__(self, datasette):
        self.datasette = datasette
        self.env = FactsEnvironment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            # Templates change with a deploy, which restarts the server: no stat() per include.
            auto_reload=False,
        )
        install(self.env, datasette)
        self.env.globals["urls"] = datasette.urls
        # What Datasette's own pages put on app.css's address, so both share one cached copy.
        self.env.globals["app_css_hash"] = datasette.app_css_hash()
        self.env.globals["fragment"] = self.fragment
        self.env.globals["port_fragment"] = self.port_fragment
        self.env.globals["registration_cards"] = self.registration_cards
        self._fragments: dict = {}
        self._cards: dict = {}

    def render(self, template: str, request=None, **context) -> str:
        context["origin"] = origin(self.datasette, request)
        return self.env.get_template(template).render(context)

    def fragment(self, template: str, key=None, **context) -> Markup:
        """`template` rendered once per `key` and kept. The caller vouches that
        the output depends on nothing but the key (and the globals)."""
        found = self._fragments.get((template, key))
        if found is None:
            found = self._fragments[(template, key)] = Markup(self.env.get_template(template).render(context))
        return found

    def registration_cards(
        self,
        registrations: list,
        references: list,
        show_port: bool,
        site: dict,
        people: dict | None = None,
        footnotes: list | None = None,
    ) -> Markup:
        """One card per registry row (site/_registration.html), each rendered once per content.

        A card shows nothing of the page it is on, and the registry rows most port
        pages show are the Unassigned ranges covering hundreds of ports each: the
        cards are kept, keyed on everything they show, so the key changes with the row.
        """
        by_id = by_registration(references)
        people, notes = people or {}, {f["anchor"]: f["text"] for f in footnotes or ()}
        cards = []
        for reg in grouped(registrations):
            refs = by_id.get(reg["id"], ())
            # The people and footnotes the card shows are part of what it is kept by.
            own = {i: people[i] for i in person_ids([reg]) if i in people}
            cited = {r["reference"]: notes[r["reference"]] for r in refs if r["reference"] in notes}
            key = (
                show_port,
                site["registrations_url"],
                tuple(reg.items()),
                tuple(tuple(r.items()) for r in refs),
                tuple((i, tuple(p.items())) for i, p in own.items()),
                tuple(cited.items()),
            )
            card = self._cards.get(key)
            if card is None:
                if len(self._cards) >= MAX_KEPT:
                    self._cards.clear()
                card = self._cards[key] = self.env.get_template("site/_registration.html").render(
                    reg=reg, refs=refs, show_port=show_port, site=site, people=own, footnotes=cited
                )
            cards.append(card)
        return Markup("".join(cards))

    def port_fragment(self, template: str, port: int, key=None, **context) -> Markup:
        """Like fragment(), for a part that depends on the port only through its number:
        rendered once per key with PORT_STAND_IN standing for the number, which is put in
        afterwards (digits need no escaping)."""
        found = self._fragments.get((template, key))
        if found is None:
            if len(self._fragments) >= MAX_KEPT:
                self._fragments.clear()
            html = self.env.get_template(template).render(context, port=PORT_STAND_IN)
            found = self._fragments[(template, key)] = html
        return Markup(found.replace(PORT_STAND_IN, str(port)))


# One template environment per Datasette instance, shared by its pages and its error answers.
_renderers: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def renderer_for(datasette) -> Renderer:
    renderer = _renderers.get(datasette)
    if renderer is None:
        renderer = _renderers[datasette] = Renderer(datasette)
    return renderer


def site_vars(datasette, build) -> dict:
    """Links the shared page parts (header, footer) show, for whichever build is served."""
    urls = datasette.urls
    if build is None:
        return {"database": None, "data_url": None, "registrations_url": None}
    return {
        "database": build.name,
        "data_url": urls.database(build.name),
        "registrations_url": urls.table(build.name, "registrations"),
    }
