"""How fast `iana-ports` starts: `iana-ports 22 --json` and `iana-ports listening --json` beside a bare Python.

    python -m bench.cli [RUNS]

Runs the installed console script (.venv/bin/iana-ports, as a user runs it)
on a build of the 2026-02-25 snapshot, and `python -c "import sqlite3, json"`
with the same interpreter, RUNS times each (default 60), alternating so both
see the same machine load, after a few warm-up runs (the page cache). The
package's bytecode is compiled first, as pip does when it installs a wheel: a
checkout's environment may never write it (PYTHONDONTWRITEBYTECODE), and then
every start would compile the package again (110-120 ms against 70 ms here).
Prints the medians, their ratio and whether it meets the target of
3x: the command is meant to answer as fast as a shell one-liner. `listening`
(psutil, every socket and its process, each port read from the build) is
printed beside both anchors, `python -c pass` too, with no target: what it
costs over a lookup is the price of the local view.
"""

import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import iana_ports
from deploy.harness import SNAPSHOT_2026, build

TARGET = 3.0
WARM_UP = 5
SCRIPT = Path(sys.executable).parent / "iana-ports"


def run_once(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def measure(commands: dict[str, list[str]], runs: int) -> dict[str, float]:
    times = {name: [] for name in commands}
    for i in range(WARM_UP + runs):
        for name, command in commands.items():
            elapsed = run_once(command)
            if i >= WARM_UP:
                times[name].append(elapsed)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 60
    if not SCRIPT.is_file():
        raise SystemExit(f"bench.cli: {SCRIPT} is missing; `make install` installs the console script")
    compileall.compile_dir(Path(iana_ports.__file__).parent, quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        db = build(SNAPSHOT_2026, Path(tmp) / "iana.db")
        medians = measure(
            {
                "python": [sys.executable, "-c", "import sqlite3, json"],
                "iana-ports": [str(SCRIPT), "22", "--json", "--db", str(db)],
                "bare": [sys.executable, "-c", "pass"],
                "listening": [str(SCRIPT), "listening", "--json", "--db", str(db)],
            },
            runs,
        )
    ratio = medians["iana-ports"] / medians["python"]
    print(f"cli: python -c 'import sqlite3, json'   {medians['python'] * 1000:6.1f} ms (median of {runs})")
    print(f"cli: iana-ports 22 --json              {medians['iana-ports'] * 1000:6.1f} ms (median of {runs})")
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(f"cli: ratio {ratio:.2f}x (target <= {TARGET:.0f}x: {verdict})")
    listening = medians["listening"]
    print(f"cli: python -c pass                    {medians['bare'] * 1000:6.1f} ms (median of {runs})")
    print(f"cli: iana-ports listening --json       {listening * 1000:6.1f} ms (median of {runs})")
    print(
        f"cli: listening {listening / medians['python']:.2f}x the import anchor, "
        f"{listening / medians['bare']:.2f}x python -c pass"
    )


if __name__ == "__main__":
    main()
