"""Can I run my own service on this port? The project's reading of the facts, not IANA's.

One rule (version 2), used at build time for every port (the `ports.verdict`
column, for tcp and udp and the default target platforms) and at read time
for the reasons shown on a page:

- avoid: IANA has assigned or reserved the port on a transport you want, or
  it is port 0 (asking to listen on 0 means "give me any free port");
- caution: otherwise, when known software holds it on a transport you want
  (a built-in default, or an example port or block of at most WIDE_BLOCK
  ports), when browsers refuse it (the Fetch standard's bad ports), when it
  needs privileges (System range), or when a target platform may hand it out
  as a temporary client port (the Dynamic range, and the default ephemeral
  range of each target: Linux, Windows and macOS unless asked otherwise);
- good: none of these.

A port the registry's own footnote reserves for experiments ("MUST NOT be
shipped as defaults", RFC 3692: exp1 and exp2 on 1021 and 1022) is avoid as
a default whatever else holds, and the footnote is the reason.

What does not lower the level is still said, as a note: another platform's
ephemeral range (FreeBSD's starts at 10000), and example ports or blocks
wider than WIDE_BLOCK (a sample configuration's 10,000-port RTP range).
Reasons come in the order a user trips on them: software that listens
there (built-in defaults first, the narrowest entries first), then IANA,
then browsers, then the platform.
"""

import functools

from .facts import (
    BROWSER_BLOCKED_PORTS,
    DEFAULT_TARGETS,
    DYNAMIC_RANGE,
    EVERYDAY_TRANSPORTS,
    OS_EPHEMERAL,
    SYSTEM_RANGE,
    UNASSIGNED,
    USE_KINDS,
    ephemeral_ids,
    range_of,
)
import re

from .text import and_list

GOOD, CAUTION, AVOID = "good", "caution", "avoid"
# An example port or a block wider than this is a pool the software draws from (or a
# number a sample configuration happened to pick); the chance that it holds one
# given port is small, so it is a note rather than a lower level.
WIDE_BLOCK = 128


# A registry footnote saying values are for experiments only (RFC 3692 section 1): never a default.
NOT_A_DEFAULT = re.compile(r"MUST NOT be shipped as defaults", re.IGNORECASE)


def not_a_default(footnotes) -> list[str]:
    """The footnote texts that forbid shipping the port as a default, from those the port's rows cite."""
    return [text for text in map(one_line, footnotes) if NOT_A_DEFAULT.search(text)]


def one_line(text: str) -> str:
    """A footnote's lines as one: "explicitly-\nconfigured" -> "explicitly-configured"."""
    return " ".join(re.sub(r"-\n\s*", "-", text).split())


def weighs(use: dict) -> bool:
    """Whether a common use lowers the verdict (a built-in default, or a narrow example or block)."""
    return use["kind"] == "default" or use["last"] - use["first"] + 1 <= WIDE_BLOCK


def shared(port: int, targets=DEFAULT_TARGETS) -> bool:
    """Whether a target platform may hand `port` out as a temporary client port."""
    if port >= DYNAMIC_RANGE["first"]:
        return True
    return any(os_id in targets for os_id in ephemeral_ids(port))


def level(port: int, statuses, used: bool, is_shared: bool) -> str:
    """The verdict for `port`, given the IANA statuses of the wanted transports, whether
    known software holds it in a way that weighs (weighs()), and whether a target
    platform shares it (shared()). Kept tiny: the build calls it for all 65,536 ports."""
    if port == 0 or any(s != UNASSIGNED for s in statuses):
        return AVOID
    if used or is_shared or port <= SYSTEM_RANGE["last"] or port in BROWSER_BLOCKED_PORTS:
        return CAUTION
    return GOOD


def use_order(use: dict) -> tuple:
    """The order a user trips on common uses: those that weigh, built-in defaults, narrowest first."""
    return (not weighs(use), list(USE_KINDS).index(use["kind"]), use["last"] - use["first"], use["software"].lower())


def _use_sentence(software: str, kind: str, first: int, last: int, descriptions: list[str]) -> str:
    what = "; ".join(descriptions)
    if kind == "default":
        return f"{software} listens here by default ({what})."
    block = f"{first}–{last}"
    if kind == "example":
        if first == last:
            return f"{software}'s documentation uses it as an example ({what})."
        return f"It is inside the {block} block {software}'s documentation uses as an example ({what})."
    return f"It is inside the {block} block {software} draws ports from ({what})."


def assess(
    port: int, transports: dict, uses: list[dict], wanted=EVERYDAY_TRANSPORTS, targets=DEFAULT_TARGETS, footnotes=()
) -> dict:
    """{"level", "reasons", "software_reasons", "notes", "targets", "browser_blocked"} for `port`.

    transports: {transport: {"status", "services"}} as the read side gives it;
    uses: the common uses covering the port; wanted: the transports the
    service would use; targets: the platforms it must run on; footnotes: the
    texts of the registry footnotes its rows cite. `reasons` say what decides
    the level, first reason first; `notes` what does not.
    """
    wanted, targets = tuple(wanted), tuple(targets)
    said = ()
    if uses:
        on = set(wanted)
        wanted_uses = sorted([u for u in uses if on.intersection(u["transports"])], key=use_order)
        said = tuple(
            [(u["software"], u["kind"], u["first"], u["last"], u["description"], weighs(u)) for u in wanted_uses]
        )
    held = tuple([(transports[t]["status"], tuple(transports[t]["services"])) for t in wanted])
    verdict = level(port, [status for status, _ in held], any(weighty for *_, weighty in said), shared(port, targets))
    inside = ephemeral_ids(port)
    blocked = port in BROWSER_BLOCKED_PORTS
    # The port itself matters only through these: ports alike in them (most of a range) share one answer.
    reasons, software_reasons, notes, verdict = _judged(
        verdict, port == 0, blocked, range_of(port)["name"], inside, wanted, targets, held, said, tuple(footnotes)
    )
    return {
        "level": verdict,
        "reasons": list(reasons),
        # How many of the first reasons name software (a page that lists the software says them once).
        "software_reasons": software_reasons,
        "notes": list(notes),
        "targets": list(targets),
        "browser_blocked": blocked,
    }


@functools.lru_cache(maxsize=4096)
def _judged(verdict, port_zero, blocked, range_name, inside, wanted, targets, held, uses, footnotes) -> tuple:
    """assess()'s sentences: (reasons, software_reasons, notes, level), from what they depend on."""
    reasons, notes = [], []
    if port_zero:
        reasons.append("Port 0 cannot be listened on: asking for it makes the operating system pick a free port.")
    # One sentence per software and kind, its roles joined: "Minecraft ... (players; status queries)".
    by_software: dict[tuple, list] = {}
    for software, kind, first, last, description, weighty in uses:
        by_software.setdefault((software, kind, first, last), [weighty]).append(description)
    for (software, kind, first, last), (weighty, *descriptions) in by_software.items():
        (reasons if weighty else notes).append(_use_sentence(software, kind, first, last, descriptions))
    # Port 0's own reason, when given, comes before them and names no software.
    software_reasons = sum(weighty for weighty, *_ in by_software.values())
    # One sentence per (status, holders), naming its transports: "to ssh on tcp and udp".
    holding: dict[tuple, list[str]] = {}
    for t, (status, services) in zip(wanted, held):
        if status != UNASSIGNED:
            holding.setdefault((status, services), []).append(t)
    for (status, services), on in holding.items():
        holders = f" to {and_list(services)}" if services else ""
        reasons.append(f"IANA has {status} it{holders} on {and_list(on)}.")
    for text in not_a_default(footnotes):
        verdict = AVOID
        reasons.append(f"The registry's footnote on it: “{text}” Software must not ship it as a default.")
    if blocked and not port_zero:
        reasons.append(
            "Browsers refuse to connect to it (the Fetch standard's bad ports; Chrome shows ERR_UNSAFE_PORT): "
            "nothing a browser must reach can listen here."
        )
    platform, platform_notes = _platform(range_name, port_zero, inside, targets)
    reasons += platform
    notes += platform_notes
    if verdict == GOOD:
        reasons.append(_good(wanted, targets))
    return tuple(reasons), software_reasons, tuple(notes), verdict


# The platform's part of the reasons depends only on the port's range, the ephemeral ranges
# holding it and the targets: a few dozen combinations, each written once.
@functools.lru_cache(maxsize=512)
def _platform(range_name: str, port_zero: bool, inside: tuple, targets: tuple) -> tuple[tuple, tuple]:
    reasons, notes = [], []
    if range_name == SYSTEM_RANGE["name"] and not port_zero:
        reasons.append(
            "It is a System port: on Linux and other Unix-like systems, listening on it needs root "
            "or CAP_NET_BIND_SERVICE."
        )
    covering = and_list([o["label"] for o in OS_EPHEMERAL if o["os"] in inside and o["os"] in targets])
    dynamic = range_name == DYNAMIC_RANGE["name"]
    if dynamic:
        reasons.append(
            f"It is in the Dynamic range ({_span(DYNAMIC_RANGE)}), which "
            f"{covering or 'operating systems'} hand{'s' if covering and ' and ' not in covering else ''} "
            "out as temporary client ports: "
            "an outgoing connection may already hold it."
        )
    elif covering:
        reasons.append(
            f"{covering} hand{'s' if ' and ' not in covering else ''} it out as a temporary client port "
            "(it is inside the default ephemeral range): an outgoing connection may already hold it."
        )
    others = [o for o in OS_EPHEMERAL if o["os"] in inside and o["os"] not in targets]
    if others and not dynamic:
        ranges = and_list([f"{o['label']} ({_span(o)})" for o in others])
        notes.append(
            f"Not judged here, but the default ephemeral range of {ranges} holds it: "
            "on such a host an outgoing connection may take it."
        )
    return tuple(reasons), tuple(notes)


@functools.lru_cache(maxsize=64)
def _good(wanted: tuple, targets: tuple) -> str:
    return (
        f"Unassigned on {and_list(list(wanted))}, outside the System and Dynamic ranges and the ephemeral "
        f"ranges of {and_list([_label(t) for t in targets])}, and no known software listens here."
    )


def _span(r: dict) -> str:
    return f"{r['first']}–{r['last']}"


def _label(os_id: str) -> str:
    return next(o["label"] for o in OS_EPHEMERAL if o["os"] == os_id)
