"""/-/healthz for load balancers: 200 with the loaded build, 503 when none is loaded."""

from datasette import hookimpl
from datasette.utils import add_cors_headers
from datasette.utils.asgi import Response

DATABASE = "iana"


async def healthz(datasette):
    headers = {"Cache-Control": "no-store"}
    if datasette.cors:
        add_cors_headers(headers)
    build = getattr(datasette.databases.get(DATABASE), "build", None)
    if build is None:
        return Response.json(
            {"status": "unavailable", "error": f"no {DATABASE} database is loaded"},
            status=503,
            headers=headers,
        )
    return Response.json(
        {
            "status": "ok",
            "database": DATABASE,
            "sha256": build["sha256"],
            "etag": build["etag"].strip('"'),
            "ingested_at": build["fetched_at"],
            "source": build["source"],
            "registrations": build["row_count"],
            "newest_registry_date": build["newest"],
        },
        headers=headers,
    )


@hookimpl
def register_routes():
    return [(r"^/-/healthz$", healthz)]
