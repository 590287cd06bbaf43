"""Live refresh figures: swap latency and throughput during rebuilds.

- latency: from the os.replace() of a rebuild (the new inode's ctime) to
  /-/healthz reporting the new sha256; median of 6 rebuilds.
- throughput: wrk on random /ports/N.json (bench.web's first visits) for a
  fixed time with no rebuilds, then the same while rebuilds run back to back;
  the ratio is what users feel.
"""

import hashlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from deploy.harness import ROOT, SNAPSHOT_2025, SNAPSHOT_2026, build, live_server
from bench.web import line, random_port, wrk

WRK_SECONDS = 10
SNAPSHOTS = (SNAPSHOT_2026, SNAPSHOT_2025)


def rebuild(source: Path, db: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "ingest", "--source", str(source), "--db", str(db), "--force"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def main() -> None:
    shas = {s: hashlib.sha256(s.read_bytes()).hexdigest() for s in SNAPSHOTS}
    with tempfile.TemporaryDirectory() as tmp:
        db = build(SNAPSHOT_2025, Path(tmp) / "iana.db")
        with live_server(db) as base:
            latencies = []
            for i in range(6):
                source = SNAPSHOTS[i % 2]
                rebuild(source, db)
                replaced_at = db.stat().st_ctime
                while httpx.get(f"{base}/-/healthz").json()["sha256"] != shas[source]:
                    time.sleep(0.01)
                latencies.append(time.time() - replaced_at)

            ports = random_port(".json")
            quiet = wrk(base, ports, seconds=WRK_SECONDS)
            stop = threading.Event()
            rebuilds = 0

            def churn():
                nonlocal rebuilds
                while not stop.is_set():
                    rebuild(SNAPSHOTS[rebuilds % 2], db)
                    rebuilds += 1

            worker = threading.Thread(target=churn)
            worker.start()
            busy = wrk(base, ports, seconds=WRK_SECONDS)
            stop.set()
            worker.join()
    print("live refresh")
    print(
        f"  swap latency (os.replace -> served), median of {len(latencies)}: "
        f"{statistics.median(latencies) * 1000:.0f} ms (max {max(latencies) * 1000:.0f} ms)"
    )
    line("/ports/<random>.json without rebuilds", quiet)
    line(f"/ports/<random>.json during {rebuilds} rebuilds", busy, f"{busy['rps'] / quiet['rps']:.0%} of quiet")


if __name__ == "__main__":
    main()
