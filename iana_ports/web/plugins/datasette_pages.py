"""Datasette's own pages as part of the site: the registry's metadata under whatever name it is
served, the site's header and footer, links from their cells to the site's pages, and the site's
error page (iana_ports.web.datasette_pages)."""

import functools

from datasette import hookimpl

from iana_ports.web import builds, datasette_pages, front, render


@hookimpl
def startup(datasette):
    datasette_pages.guard_csv()


@hookimpl
def get_metadata(datasette, key, database, table):
    return datasette_pages.metadata(datasette, key)


@hookimpl
def prepare_jinja2_environment(env, datasette):
    render.install(env, datasette)


@hookimpl
def extra_template_vars(datasette, request):
    return {
        "site": front.site_vars(datasette, builds.current(datasette)),
        # Link previews need absolute URLs.
        "origin": render.origin(datasette, request),
        # The breadcrumbs' titles (templates/_crumbs.html).
        "site_crumbs": functools.partial(datasette_pages.crumbs, datasette),
    }


@hookimpl
def handle_exception(datasette, request, exception):
    status, message = datasette_pages.error_status(exception)
    return front.error_for(
        datasette,
        status,
        message,
        ".json" if request.path.endswith(".json") else "",
        transient=datasette_pages.transient(exception, request.path),
    )


@hookimpl
def render_cell(value, column, table, database, datasette):
    return datasette_pages.render_cell(datasette, database, table, column, value)
