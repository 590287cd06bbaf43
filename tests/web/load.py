"""A bounded load generator for the live-refresh test, run as its own process.

usage: python tests/web/load.py BASE_URL SECONDS CONNECTIONS
Prints one JSON object: request count, statuses, and every /ports/300.json
answer classified as "2025" (unassigned), "2026" (tacacss) or "bad".
"""

import collections
import json
import sys
import threading
import time

import httpx

PATHS = ("/ports/300.json", "/ports/22", "/ports/60878.json", "/services/ssh.json", "/-/healthz")


def classify_300(body: dict) -> str:
    tcp = body["transports"]["tcp"]
    if tcp["status"] == "unassigned" and not tcp["services"]:
        return "2025"
    if tcp["status"] == "assigned" and "tacacss" in json.dumps(tcp["services"]):
        return "2026"
    return "bad"


def worker(base, until, statuses, answers, errors, lock):
    etags = {}
    with httpx.Client(base_url=base, timeout=10) as client:
        i = 0
        while time.monotonic() < until:
            path = PATHS[i % len(PATHS)]
            i += 1
            headers = {"If-None-Match": etags[path]} if path in etags and i % 3 == 0 else {}
            try:
                r = client.get(path, headers=headers)
            except httpx.HTTPError as exc:
                with lock:
                    errors.append(f"{path}: {type(exc).__name__}")
                continue
            kind = None
            if path == "/ports/300.json" and r.status_code == 200:
                try:
                    kind = classify_300(r.json())
                except (ValueError, KeyError, TypeError):
                    kind = "bad"
            if "etag" in r.headers:
                etags[path] = r.headers["etag"]
            with lock:
                statuses[r.status_code] += 1
                if kind:
                    answers[kind] += 1


def main(base: str, seconds: float, connections: int) -> None:
    until = time.monotonic() + seconds
    statuses, answers, errors = collections.Counter(), collections.Counter(), []
    lock = threading.Lock()
    threads = [
        threading.Thread(target=worker, args=(base, until, statuses, answers, errors, lock)) for _ in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"statuses": statuses, "answers_300": answers, "errors": errors[:20]}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]))
