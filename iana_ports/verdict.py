"""Can I run my own service on this port? The project's reading of the facts, not IANA's.

One rule, used at build time for every port (the `ports.verdict` column, for
tcp and udp) and at read time for the reasons shown on a page:

- avoid: IANA has assigned or reserved the port on a transport you want, or
  it is port 0 (asking to listen on 0 means "give me any free port");
- caution: otherwise, when the port needs privileges (System range), when an
  operating system may hand it out as a temporary client port (the Dynamic
  range, and every listed OS default ephemeral range), or when well-known
  software uses it by default;
- good: unassigned on the transports you want, in the User range, outside
  every listed ephemeral range, and no known common use.
"""

from .facts import (
    DYNAMIC_RANGE,
    EVERYDAY_TRANSPORTS,
    OS_EPHEMERAL,
    SYSTEM_RANGE,
    UNASSIGNED,
    ephemeral_of,
    range_of,
)
from .text import and_list

GOOD, CAUTION, AVOID = "good", "caution", "avoid"

# Every port from here up is Dynamic or inside some OS's default ephemeral range.
FIRST_SHARED_PORT = min(DYNAMIC_RANGE["first"], *(o["first"] for o in OS_EPHEMERAL))
# The only ports level() can call good, so a search for them can stop at the edges.
GOOD_SPAN = (SYSTEM_RANGE["last"] + 1, FIRST_SHARED_PORT - 1)


def level(port: int, statuses, used: bool) -> str:
    """The verdict for `port`, given the IANA statuses of the wanted transports and
    whether known software uses it on one of them. Kept tiny: the build calls it
    for all 65,536 ports."""
    if port == 0 or any(s != UNASSIGNED for s in statuses):
        return AVOID
    if used or port <= SYSTEM_RANGE["last"] or port >= FIRST_SHARED_PORT:
        return CAUTION
    return GOOD


def assess(port: int, transports: dict, uses: list[dict], wanted=EVERYDAY_TRANSPORTS) -> dict:
    """{"level", "reasons"} for `port`.

    transports: {transport: {"status", "services"}} as the read side gives it;
    uses: the common uses covering the port; wanted: the transports the
    service would use. The first reason is the one a page leads with.
    """
    wanted_uses = [u for u in uses if set(u["transports"]) & set(wanted)]
    verdict = level(port, (transports[t]["status"] for t in wanted), bool(wanted_uses))
    reasons = []
    if port == 0:
        reasons.append(
            "Port 0 cannot be listened on: asking for it makes the operating system pick a free port."
        )
    # One sentence per (status, holders), naming its transports: "to ssh on tcp and udp".
    held: dict[tuple, list[str]] = {}
    for t in wanted:
        v = transports[t]
        if v["status"] != UNASSIGNED:
            held.setdefault((v["status"], tuple(v["services"])), []).append(t)
    for (status, services), on in held.items():
        holders = f" to {and_list(services)}" if services else ""
        reasons.append(f"IANA has {status} it{holders} on {and_list(on)}.")
    rng = range_of(port)
    if rng is SYSTEM_RANGE and port:
        reasons.append(
            "It is a System port: on Linux and other Unix-like systems, listening on it needs root "
            "or CAP_NET_BIND_SERVICE."
        )
    elif rng is DYNAMIC_RANGE:
        reasons.append(
            "It is in the Dynamic range, which operating systems use for temporary client ports: "
            "an outgoing connection may already hold it."
        )
    covering = [o["label"] for o in ephemeral_of(port)]
    if covering:
        reasons.append(f"It is inside the default ephemeral port range of {and_list(covering)}.")
    for u in wanted_uses:
        reasons.append(f"{u['software']} uses it by default ({u['description']}).")
    if verdict == GOOD:
        reasons.append(
            f"Unassigned on {and_list(list(wanted))}, in the User range, outside every listed "
            "ephemeral range, with no known common use."
        )
    return {"level": verdict, "reasons": reasons}

