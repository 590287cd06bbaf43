"""Datasette 0.65.5's CSV made honest: a failed query is a 4xx, and a stream that fails half
way is cut off rather than finished with an error line."""

import functools
import sys

from datasette.utils.asgi import AsgiStream
from datasette.views.base import DataView, DatasetteError


def guard_csv() -> None:
    """Datasette 0.65.5's CSV, made honest; once per process.

    Its query view returns its status beside the data, which the CSV view
    drops: `/db.csv?sql=select+nosuch` answered 200 with an empty body, under
    the build's ETag. And its stream catches any exception half way, writes
    the exception's text (and the SQL) as the last line and ends the answer
    normally, so a client keeps a cut file as whole. Here the first is raised
    for the one error path, and the second ends the response without its last
    chunk, which every HTTP client reads as a broken transfer.
    """
    if getattr(DataView.as_csv, "guarded", False):
        return
    original = DataView.as_csv

    async def as_csv(self, request, database):
        data = self.data

        async def checked(request, **kwargs):
            answer = await data(request, **kwargs)
            if isinstance(answer, tuple) and len(answer) == 4 and answer[3] >= 400:
                raise DatasetteError(answer[0].get("error") or "Bad request", status=answer[3])
            return answer

        # The view object is made for this one request (BaseView.as_view).
        self.data = checked
        response = await original(self, request, database)
        if isinstance(response, AsgiStream):
            response.asgi_send = functools.partial(_stream_or_abort, response)
        return response

    as_csv.guarded = True
    DataView.as_csv = as_csv


async def _stream_or_abort(stream: AsgiStream, send) -> None:
    """AsgiStream.asgi_send, without the final chunk when the stream failed."""
    headers = {k: v for k, v in stream.headers.items() if k.lower() != "content-type"}
    headers["content-type"] = stream.content_type
    await send(
        {
            "type": "http.response.start",
            "status": stream.status,
            "headers": [(k.encode("utf-8"), v.encode("utf-8")) for k, v in headers.items()],
        }
    )
    writer = _UntilFailure(send)
    await stream.stream_fn(writer)
    if not writer.failed:
        await send({"type": "http.response.body", "body": b""})


class _UntilFailure:
    """Datasette's AsgiWriter, which notices the stream's own error handler writing: the
    only write made while an exception is being handled (the stream's `except` block)."""

    def __init__(self, send):
        self.send = send
        self.failed = False

    async def write(self, chunk):
        if sys.exc_info()[1] is not None:
            self.failed = True
        if not self.failed:
            await self.send({"type": "http.response.body", "body": chunk.encode("utf-8"), "more_body": True})


# guard_csv()'s wrappers only pass Datasette's own exceptions on (web.errors.error_status).
PASS_THROUGH = frozenset({"as_csv", "checked", "_stream_or_abort"})
