"""The site in front of Datasette: its own pages, guards, CORS and caching (iana_ports.web.front),
and the served build, loaded into memory and swapped when rebuilt (iana_ports.web.builds)."""

from datasette import hookimpl

from iana_ports.web import builds, front


@hookimpl
def startup(datasette):
    builds.start(datasette)


@hookimpl
def asgi_wrapper(datasette):
    return lambda app: front.Front(datasette, app)
