"""Through a cache: the random-port mix via nginx in front of replicas, beside one replica direct.

deploy/replicas.py starts REPLICAS replicas of `make serve` on copies of a
fresh build and Debian's nginx with proxy_cache in front. wrk (bench.web's
settings: THREADS threads, CONNECTIONS connections, RUN_SECONDS a run) asks
for /ports/<random 0-65535> as HTML or JSON, half and half, as a long tail of
visitors and crawlers would; no request header asks caches to step aside.

- one replica, direct: what each miss costs;
- through nginx, twice in a row on one cache: cold (from empty) and warm
  (the second run finds what the first one fetched);
- through nginx, one page already cached (/ports/22): what a hit costs.

The hit ratio counts nginx's $upstream_cache_status over every request of
the run, from its access log (HIT: answered from the cache without asking a
replica).
"""

import shutil
import tempfile
from pathlib import Path

import httpx

from deploy.harness import SNAPSHOT_2026, build
from bench.web import CONNECTIONS, LUA_HEAD, RUN_SECONDS, THREADS, line, wrk
from deploy.replicas import NGINX, Cluster

# Two cores on the benchmark machine: more replicas would only share them.
REPLICAS = 2
HIT_PATH = "/ports/22"
# bench.web's head, but its no-cache headers are left unused: caches may answer here.
MIX = (
    LUA_HEAD
    + """
request = function()
  local port = math.random(0, 65535)
  if math.random() < 0.5 then
    return wrk.format("GET", "/ports/" .. port .. ".json")
  end
  return wrk.format("GET", "/ports/" .. port)
end
"""
)


def ratio(statuses) -> str:
    total = sum(statuses.values())
    breakdown = ", ".join(f"{k} {v:,}" for k, v in statuses.most_common())
    return f"hit ratio {statuses['HIT'] / total:.0%} ({breakdown})"


def main() -> None:
    for tool in ("wrk", str(NGINX)):
        if shutil.which(tool) is None:
            raise SystemExit(f"bench.proxy: {tool} is not installed (make bench installs it)")
    print(
        f"proxy: wrk -t{THREADS} -c{CONNECTIONS} -d{RUN_SECONDS}s on 127.0.0.1, /ports/<random> HTML or JSON;"
        f" {REPLICAS} replicas of make serve behind nginx proxy_cache"
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = build(SNAPSHOT_2026, Path(tmp) / "build" / "iana.db")
        with Cluster(db, REPLICAS, Path(tmp) / "replicas") as cluster:
            direct = wrk(cluster.replicas[0].base, MIX)
            runs = []
            for label in ("cold", "warm"):
                start = cluster.log_size()
                runs.append((label, wrk(cluster.proxy, MIX), cluster.cache_statuses(start)))
            # Cached first: a run that starts on a miss measures nginx's cache lock, not hits.
            httpx.get(cluster.proxy + HIT_PATH, timeout=30).raise_for_status()
            start = cluster.log_size()
            hits = wrk(cluster.proxy, None, HIT_PATH)
            hit_statuses = cluster.cache_statuses(start)
    line("one replica, direct", direct, "every request a miss")
    for label, result, statuses in runs:
        line(
            f"nginx, {REPLICAS} replicas, {label} cache",
            result,
            f"{result['rps'] / direct['rps']:.1f}x direct, {ratio(statuses)}",
        )
    line(f"nginx, {HIT_PATH} (cached)", hits, f"{hits['rps'] / direct['rps']:.1f}x direct, {ratio(hit_statuses)}")


if __name__ == "__main__":
    main()
