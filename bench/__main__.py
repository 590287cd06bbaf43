"""python -m bench (`make bench`): every benchmark, each printing its own figures."""

import importlib

BENCHMARKS = ("bench.ingest", "bench.pages", "bench.web", "bench.refresh", "bench.cli", "bench.proxy")


def main() -> None:
    for name in BENCHMARKS:
        importlib.import_module(name).main()


if __name__ == "__main__":
    main()
