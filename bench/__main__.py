"""python -m bench (`make bench`): every benchmark, each printing its own figures."""

import importlib
import sys

# In order; a benchmark module not written yet is reported, not fatal.
BENCHMARKS = ("bench.ingest", "bench.web", "bench.refresh", "bench.cli", "bench.proxy")


def main() -> int:
    for name in BENCHMARKS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            print(f"{name}: not present, skipped")
            continue
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
