"""The publish guard: a build much smaller than the last one is not published. Pure.

A registry cut short (a close-delimited download dropped at a row boundary,
a truncated local copy) parses cleanly: nothing in the rows says rows are
missing. What does is size. The real registry grew between the two
snapshots measured (2025-03-28 -> 2026-02-25: +26 rows, +12 services, +1
assigned tcp port, System-port assignments -2, no row removed), so a drop
of more than a sliver is a broken source, not IANA's work:

- registrations and services may fall by at most 1% (145 rows, 73 services
  of today's registry): years of real shrinking, and a cut of the last 1%
  of the file is the most that can slip through;
- assigned ports, per transport and per range, by at most 5%: a single
  real de-registration can free 100 ports at once (vrml-multi-use,
  4200-4299, 1.8% of the User ports);
- never by fewer than SLACK, so the small figures (9 dccp ports) do not
  refuse one real de-registration.

A first ingest has nothing to compare with: it must reach FLOORS, 90% of
the 2026-02-25 registry's figures.
"""

from iana_ports.facts import RANGES, TRANSPORTS

from .errors import IngestError

# The figures compared, each with the fraction it may fall by.
ROWS, SERVICES = "registrations", "services"
COUNT_LIMIT, PORT_LIMIT = 0.01, 0.05
LIMITS = {
    ROWS: COUNT_LIMIT,
    **{f"assigned {t}": PORT_LIMIT for t in TRANSPORTS},
    **{f"assigned {r['name']}": PORT_LIMIT for r in RANGES},
    SERVICES: COUNT_LIMIT,
}
SLACK = 10
# The 2026-02-25 registry (README "Keeping the data fresh").
MEASURED = {
    ROWS: 14500,
    "assigned tcp": 6142,
    "assigned udp": 5747,
    "assigned sctp": 88,
    "assigned dccp": 9,
    "assigned System Ports": 686,
    "assigned User Ports": 5656,
    "assigned Dynamic Ports": 0,
    SERVICES: 7306,
}
FLOORS = {name: int(n * 0.9) for name, n in MEASURED.items()}
OVERRIDE = "--allow-shrink publishes it anyway"


def figures(rows: int, range_counts: list[dict], transport_counts: list[dict], services: int) -> dict[str, int]:
    """The compared figures of one build, from iana_ports.store's count queries.

    `range_counts` are {range, status, n} rows, `transport_counts`
    {transport, status, n} rows (Store.counts()).
    """
    found = dict.fromkeys(LIMITS, 0)
    found[ROWS], found[SERVICES] = rows, services
    for r in range_counts:
        if r["status"] == "assigned":
            found[f"assigned {r['range']}"] = r["n"]
    for t in transport_counts:
        if t["status"] == "assigned":
            found[f"assigned {t['transport']}"] = t["n"]
    return found


def shrunk(new: dict[str, int], old: dict[str, int]) -> list[str]:
    """'name old -> new (-x%)' for each figure that fell beyond its limit."""
    out = []
    for name, fraction in LIMITS.items():
        before, after = old.get(name, 0), new[name]
        if before - after > max(before * fraction, SLACK):
            out.append(f"{name} {before} -> {after} (-{(before - after) / before:.1%})")
    return out


def below_floors(new: dict[str, int]) -> list[str]:
    return [f"{name} {new[name]} (at least {floor})" for name, floor in FLOORS.items() if new[name] < floor]


def check(new: dict[str, int], old: dict[str, int] | None, allow_shrink: bool = False) -> None:
    """Raise IngestError (one line naming the figures) unless `new` may replace `old`.

    `old` is None for a first ingest (no previous build, or none readable).
    """
    if allow_shrink:
        return
    if old is None:
        low = below_floors(new)
        if low:
            raise IngestError(
                "refusing to publish a first build smaller than the registry: " + ", ".join(low) + f"; {OVERRIDE}"
            )
        return
    fell = shrunk(new, old)
    if fell:
        raise IngestError(
            f"refusing to publish: the registry shrank beyond the limits ({COUNT_LIMIT:.0%} of rows and services, "
            f"{PORT_LIMIT:.0%} of assigned ports, at least {SLACK}): " + ", ".join(fell) + f"; {OVERRIDE}"
        )
