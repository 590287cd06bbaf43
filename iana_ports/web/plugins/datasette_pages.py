"""Datasette's own pages as part of the site: the registry's metadata under whatever name it is
served (iana_ports.web.metadata), the site's header and footer, links from their cells to the
site's pages (iana_ports.web.cells), an honest CSV (iana_ports.web.csv_guard), and the site's
error page (iana_ports.web.errors)."""

import functools

from datasette import hookimpl

from iana_ports.web import builds, cells, csv_guard, errors, metadata, render


@hookimpl
def startup(datasette):
    csv_guard.guard_csv()


@hookimpl
def get_metadata(datasette, key, database, table):
    return metadata.metadata(datasette, key)


@hookimpl
def prepare_jinja2_environment(env, datasette):
    render.install(env, datasette)


@hookimpl
def extra_template_vars(datasette, request):
    return {
        "site": render.site_vars(datasette, builds.current(datasette)),
        # Link previews need absolute URLs.
        "origin": render.origin(datasette, request),
        # The breadcrumbs' titles (templates/_crumbs.html).
        "site_crumbs": functools.partial(metadata.crumbs, datasette),
    }


@hookimpl
def handle_exception(datasette, request, exception):
    status, message = errors.error_status(exception)
    return errors.error_for(
        datasette,
        status,
        message,
        ".json" if request.path.endswith(".json") else "",
        transient=errors.transient(exception, request.path),
    )


@hookimpl
def render_cell(value, column, table, database, datasette):
    return cells.render_cell(datasette, database, table, column, value)
