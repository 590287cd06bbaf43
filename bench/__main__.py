"""python -m bench (`make bench`): every benchmark, each printing its own figures."""

import importlib
import logging

BENCHMARKS = ("bench.ingest", "bench.pages", "bench.web", "bench.refresh", "bench.cli", "bench.proxy")


def main() -> None:
    # Datasette, run in this process by bench.pages, turns on logging at INFO: the
    # benchmarks' own polls of /-/healthz would print a line each.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    for name in BENCHMARKS:
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
