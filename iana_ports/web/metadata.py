"""The registry database's metadata on Datasette's pages, whatever the database is called:
titles, descriptions, facets and sort from iana_ports.schema, the canned queries, the breadcrumbs."""

import functools

from iana_ports import schema

from . import builds

CANNED_QUERIES = {
    "port_lookup": {
        "title": "Port lookup",
        "description": "Status of one port and every registry row that covers it.",
        "sql": """select ports.port, ports.status, ports.tcp, ports.udp, ports.sctp, ports.dccp,
  ports.range, ports.verdict, registrations.service_name, registrations.transport,
  registrations.description, registrations.id as registration
from ports
left join registrations
  on registrations.port_low <= ports.port and registrations.port_high >= ports.port
where ports.port = :port
order by registrations.id""",
    },
    "service_lookup": {
        "title": "Service lookup",
        "description": "Every registry row for a service name (case-insensitive).",
        "sql": "select * from registrations where service_key = lower(trim(:name)) order by id",
    },
    "unassigned_between": {
        "title": "Unassigned ports between two numbers",
        "description": (
            "Ports from first to last that are unassigned on every transport listed in transports "
            "(comma-separated, e.g. tcp,udp); an empty list means all four, a list naming none of the "
            "four finds nothing."
        ),
        "sql": """with listed as (
  select
    instr(',' || replace(lower(:transports), ' ', '') || ',', ',tcp,') > 0 as tcp,
    instr(',' || replace(lower(:transports), ' ', '') || ',', ',udp,') > 0 as udp,
    instr(',' || replace(lower(:transports), ' ', '') || ',', ',sctp,') > 0 as sctp,
    instr(',' || replace(lower(:transports), ' ', '') || ',', ',dccp,') > 0 as dccp
),
wanted as (
  select trim(:transports) = '' as every, tcp, udp, sctp, dccp from listed
)
select port, range, ports.tcp, ports.udp, ports.sctp, ports.dccp
from ports, wanted
where port between :first and :last
  and (wanted.every or wanted.tcp or wanted.udp or wanted.sctp or wanted.dccp)
  and (ports.tcp = 'unassigned' or not (wanted.tcp or wanted.every))
  and (ports.udp = 'unassigned' or not (wanted.udp or wanted.every))
  and (ports.sctp = 'unassigned' or not (wanted.sctp or wanted.every))
  and (ports.dccp = 'unassigned' or not (wanted.dccp or wanted.every))
order by port""",
    },
    # Named safe_ports in its URL since the first release; titled in the site's words (/free).
    "safe_ports": {
        "title": "Free ports from a port",
        "description": (
            "Ports from start (a port number) up that are good for your own service: unassigned by IANA "
            "on tcp and udp, in the User range, outside every listed operating system's default ephemeral "
            "range, and not the known default of other software."
        ),
        "sql": """select port, range from ports
where verdict = 'good' and port >= coalesce(nullif(:start, ''), 0)
order by port""",
    },
}


# Titles of the registry and its tables on Datasette's pages (headings, breadcrumbs), in the site's words.
DATABASE_TITLE = "IANA registry"
TABLE_TITLES = {
    "registrations": "Registrations",
    "ingests": "Ingests",
    "ports": "Ports",
    "ranges": "Ranges",
    "os_ephemeral_ranges": "OS ephemeral ranges",
    "unassigned_ranges": "Unassigned runs",
    "services": "Services",
    "references": "References",
    "changes": "Changes",
    "common_uses": "Common uses",
    "people": "People and organisations",
    "footnotes": "Footnotes",
    "registry_notes": "Registry notes",
    "registry_xml": "Registry XML",
}


@functools.lru_cache(maxsize=1)
def database_metadata() -> dict:
    """The registry database's metadata, from the schema module: made once.

    Datasette merges a hook's answer into a dict of its own, and its permission
    checks deep-copy it; nothing changes this one (metadata.yml holds no
    `databases`, the only key merged into it)."""
    tables = {}
    for t in schema.TABLES:
        meta = {
            "title": TABLE_TITLES.get(t.name, t.name),
            "description": t.description,
            "columns": {c: d for c, (_, d) in t.columns.items()},
        }
        if t.facets:
            meta["facets"] = list(t.facets)
        if t.sort:
            meta["sort"] = t.sort
        if t.sort_desc:
            meta["sort_desc"] = t.sort_desc
        tables[t.name] = meta
    return {
        "title": DATABASE_TITLE,
        "description": "The registry as published (registrations), and tables derived from it for every port.",
        "tables": tables,
        "queries": CANNED_QUERIES,
    }


# Keys the registry's metadata has nothing for, which Datasette asks for on every page:
# the instance-wide ones metadata.yml answers, and "tables", asked only by the
# permission checks (Datasette 0.65.5's _table_permission_allows), which deep-copy
# what they get several times a page and read nothing but `allow` from it.
NOTHING_FOR = frozenset(
    {
        "source",
        "source_url",
        "license",
        "license_url",
        "about",
        "about_url",
        "title",
        "description_html",
        "extra_css_urls",
        "extra_js_urls",
        "allow",
        "allow_sql",
        "plugins",
        "tables",
    }
)


def metadata(datasette, key=None) -> dict:
    """The get_metadata hook's answer: the registry's metadata, under the served name."""
    if key in NOTHING_FOR:
        return {}
    build = builds.current(datasette)
    return {"databases": {build.name: database_metadata()}} if build else {}


def crumbs(datasette, database: str | None = None, table: str | None = None) -> list[tuple[str, str]]:
    """(href, label) of the breadcrumbs above one of Datasette's pages, titled as the site
    writes them ("Home", "IANA registry", "Ports"); another database keeps its own names."""
    urls = datasette.urls
    items = [(urls.instance(), "Home")]
    if database:
        build = builds.current(datasette)
        meta = database_metadata() if build and build.name == database else {}
        items.append((urls.database(database), meta.get("title", database)))
        if table:
            items.append((urls.table(database, table), meta.get("tables", {}).get(table, {}).get("title", table)))
    return items
