"""What a rolling rebuild must look like from outside, shared by the replicas behind nginx
(test_replicas.py) and the Kubernetes manifests under podman (tests/deploy/test_k8s.py): every
kind of answer from the build, the errors, and clients that tell which build answered."""

import itertools
import random
import threading
from collections import Counter

import httpx

from load import classify_300

HOST = {"Host": "ports.example"}
BUILD_CACHE = "public, max-age=300, stale-while-revalidate=86400"
# Every kind of answer from the build: the site's pages and their JSON, feeds and images,
# crawler files, Datasette's database, table, row, query and canned-query pages in HTML, JSON
# and CSV, the download, static files of both kinds.
URLS = [
    "/",
    "/ports/22",
    "/ports/22.json",
    "/ports/60878",
    "/services/ssh",
    "/services/ssh.json",
    "/services/cl%2F1",
    "/search?q=kerberos",
    "/search.json?q=kerberos",
    "/changes",
    "/changes.json",
    "/changes.atom",
    "/free?near=8000",
    "/free.json?near=8000",
    "/portmap.png",
    "/robots.txt",
    "/sitemap.xml",
    "/sitemap-ports-0.xml",
    "/sitemap-services-0.xml",
    "/iana",
    "/iana.json",
    "/iana/ports",
    "/iana/ports.json?_size=5",
    "/iana/ports.csv?_size=5",
    "/iana/ports.csv?_size=5&_dl=1",
    "/iana/ports?_facet=range&status=assigned",
    "/iana/ports.json?_facet=status",
    "/iana/registrations?_search=http",
    "/iana/ports/22",
    "/iana/ports/22.json",
    "/iana/port_lookup?port=22",
    "/iana/port_lookup.json?port=22",
    "/iana/port_lookup.csv?port=22",
    "/iana?sql=select+count(*)+from+ports",
    "/iana.json?sql=select+1",
    "/iana.csv?sql=select+1",
    "/iana.db",
    "/static/site.css",
    "/-/static/app.css",
    "/exports/services",
    "/exports/ports.json",
    "/exports/ports.csv",
    "/exports/iana.db",
]
ERRORS = ["/ports/65536", "/services/no-such-service", "/iana/nope", "/iana/ports?_sort=nosuch"]


def classify(path: str, response) -> str | None:
    """Which build an answer about port 300 is from: "2025" (unassigned), "2026" (tacacss), "bad";
    None for other paths."""
    page = path.partition("?")[0]
    try:
        if page == "/ports/300.json":
            return classify_300(response.json())
        if page == "/ports/300":
            if "tacacss" in response.text:
                return "2026"
            return "2025" if "Port 300" in response.text else "bad"
        if page == "/iana/ports/300.json":
            body = response.json()
            status = body[0]["status"] if isinstance(body, list) else body["rows"][0][1]  # _shape=array or not
            return {"unassigned": "2025", "assigned": "2026"}.get(status, "bad")
    except (ValueError, KeyError, TypeError, IndexError):
        return "bad"
    return None


class Load:
    """Clients through the proxy until stopped: the same URLs (served from nginx's cache,
    revalidated now and then) and unique ones (a miss every time, so the replicas' own answers)."""

    CACHED = ("/ports/300.json", "/ports/300", "/ports/22.json", "/", "/iana/ports/300.json", "/robots.txt")
    # Each a miss: the site's pages and Datasette's (a SQL query on a worker thread), and a search.
    FRESH = ("/ports/300.json", "/ports/300", "/iana/ports/300.json", "/search.json?q=tacacs")

    def __init__(self, base: str, clients: int = 4):
        self.base, self.stopping = base, threading.Event()
        self.answers, self.errors, self.lock = [], [], threading.Lock()
        self.unique = itertools.count()
        self.threads = [threading.Thread(target=self.client, args=(i,)) for i in range(clients)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        for t in self.threads:
            t.join(30)

    def client(self, seed: int) -> None:
        rng, seen = random.Random(seed), {}
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self.stopping.is_set():
                roll = rng.random()
                if roll < 0.5:
                    path = rng.choice(self.CACHED)
                elif roll < 0.8:
                    path = rng.choice(self.FRESH)
                    path += ("&" if "?" in path else "?") + f"u={next(self.unique)}"
                else:
                    path = f"/ports/{rng.randrange(65536)}.json"
                headers = {}
                if path in seen and rng.random() < 0.3:
                    headers["If-None-Match"] = seen[path][0]
                try:
                    r = client.get(path, headers=headers)
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.errors.append(f"{path}: {type(exc).__name__}: {exc}")
                    continue
                if r.status_code == 304:
                    # What the client holds stays right: same ETag, same build.
                    kind = seen[path][1] if r.headers.get("etag") == headers["If-None-Match"] else "bad"
                else:
                    kind = classify(path, r)
                    if r.status_code == 200:
                        seen[path] = (r.headers.get("etag"), kind)
                with self.lock:
                    self.answers.append(
                        (path, r.status_code, r.headers.get("etag"), kind, r.headers.get("x-cache-status"))
                    )


def check_roll(load: Load, served: list[dict], old: set, at_least: int) -> dict:
    """What a rolling rebuild from the 2025 to the 2026 snapshot under `load` must look like: no
    failed request, every answer one build's (its body and its ETag agree), the replicas' own
    answers all the new build's at the end. `served`: each replica's healthz after the roll.
    Returns the figures (requests, statuses, unlabelled)."""
    new = {h["etag"] for h in served}
    assert not new & old
    assert all(h["newest_registry_date"] == "2026-02-25" for h in served)
    etags = {"2025": old, "2026": new}
    assert load.errors == []
    statuses = Counter(status for _, status, *_ in load.answers)
    assert set(statuses) <= {200, 304}, statuses
    assert statuses[200] > at_least and statuses[304] > 0
    kinds = Counter(kind for _, _, _, kind, _ in load.answers if kind)
    assert kinds["bad"] == 0 and kinds["2025"] > 0 and kinds["2026"] > 0, kinds
    unlabelled = 0
    for path, status, etag, kind, _ in load.answers:
        # Only a Datasette page that straddled a swap goes without an ETag (finish.Finisher.recheck),
        # and no cache keeps it.
        if etag is None and path.startswith("/iana/") and "u=" in path:
            unlabelled += 1
            continue
        assert etag in (etags[kind] if kind else old | new), (path, status, etag, kind)
    assert unlabelled < len(load.answers) / 20
    # After the roll, the replicas' own answers (misses) are all the new build's.
    fresh = [kind for path, _, _, kind, _ in load.answers if "u=" in path and kind]
    assert fresh[-20:] == ["2026"] * 20
    return {"requests": len(load.answers), "statuses": dict(statuses), "unlabelled": unlabelled}
