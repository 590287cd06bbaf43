"""Small text helpers shared by the read side, the pages and the command line."""

import re

# Stands for a port number in text written once for every port (Lines below, the pages'
# port fragments): NUL, which escaping leaves alone and no command, template or registry
# text holds (the ingest refuses control characters). ASCII, so text that is ASCII stays
# on str's fast paths (a non-ASCII stand-in made filling in twice as slow).
PORT_STAND_IN = "\x00"


class Lines:
    """{key: lines} that differ from port to port only in its number, written once with
    PORT_STAND_IN for it. Kept as one text, so filling a port in is one replace and one
    split rather than one per line: a port page shows some twenty such lines."""

    def __init__(self, lines: dict[str, list[str]]):
        self.lines = lines
        written, self.spans = [], []
        for key, each in lines.items():
            self.spans.append((key, len(written), len(written) + len(each)))
            written += each
        self.text = "\n".join(written)

    def filled(self, port: int) -> dict[str, list[str]]:
        lines = self.text.replace(PORT_STAND_IN, str(port)).split("\n")
        return {key: lines[start:end] for key, start, end in self.spans}


def and_list(items) -> str:
    """["tcp", "udp", "sctp"] -> "tcp, udp and sctp"."""
    items = [str(i) for i in items]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def en_dash(text: str) -> str:
    """ "32768-61000" -> "32768–61000", matching how the pages write ranges."""
    return re.sub(r"(?<=[0-9])-(?=[0-9])", "–", text)


def headline(facts: dict) -> dict:
    """Who holds a port on which transports, for a page's first sentence.

    `holders`: services grouped by the transports they are assigned on, in the
    registry's order (port 80: http on tcp, udp, sctp; www and www-http on tcp,
    udp). `reserved_on`: transports whose status is reserved. `others`: the
    statuses of the transports the first sentence does not cover, each with
    its transports.
    """
    transports = facts["transports"]
    on = {s: [t for t, v in transports.items() if v["status"] == s] for s in ("assigned", "reserved", "unassigned")}
    holders = []
    for name in facts["services"]:
        held = [t for t in on["assigned"] if name in transports[t]["services"]]
        if not held:
            continue
        for group in holders:
            if group["transports"] == held:
                group["services"].append(name)
                break
        else:
            holders.append({"services": [name], "transports": held})
    main = facts["status"]
    others = [{"status": s, "transports": ts} for s, ts in on.items() if s != main and ts]
    return {"holders": holders, "reserved_on": on["reserved"], "others": others}


# IANA's contact ids: "[Kurt_Haubner]", "[Eric_Soderberg_2][Edward_Yim]", "[IETF_Chair]".
CONTACT_ID = re.compile(r"\[([^\[\]]+)\]")
# "_2" tells two people of the same name apart in IANA's contact list; it is not part of the name.
_SAME_NAME_SUFFIX = re.compile(r"_[0-9]+$")


def contact_names(text: str | None) -> list[str]:
    """The people or organisations an Assignee or Contact field names, as names:
    "[Kurt_Haubner]" -> ["Kurt Haubner"], "[Dave_Mills_2]" -> ["Dave Mills"].
    Organisations keep their spelling ("[Amazon.com_Services_LLC]" -> "Amazon.com
    Services LLC"); text outside brackets is kept as written."""
    if not text:
        return []
    names = [_SAME_NAME_SUFFIX.sub("", m).replace("_", " ").strip() for m in CONTACT_ID.findall(text)]
    rest = CONTACT_ID.sub(" ", text).strip()
    if rest:
        names.append(" ".join(rest.split()))
    return [n for n in names if n]


LEAD_SOFTWARE = 4


def lead(facts: dict) -> str:
    """What a port is, in a sentence or two, for the top of its page (and `lead` in its JSON):
    IANA's holder and description, else its range, and the software people meet there."""
    n, uses = facts["port"], facts["common_uses"]
    software, named, defaults = [], "", []
    if uses:
        software = list(dict.fromkeys(u["software"] for u in uses))
        more = [f"{len(software) - LEAD_SOFTWARE} more"] if len(software) > LEAD_SOFTWARE else []
        named = and_list(software[:LEAD_SOFTWARE] + more)
        defaults = [u for u in uses if u["kind"] == "default"]
    if facts["status"] == "assigned":
        group = headline(facts)["holders"][0]
        name = group["services"][0]
        description = next(
            (r["description"] for r in facts["registrations"] if r["service_name"] == name and r["description"]), ""
        )
        others = [s for s in facts["services"] if s != name]
        what = f"Port {n} is {name}" + (f", “{description}”" if description and description != name else "")
        what += f", assigned by IANA on {and_list(group['transports'])}"
        what += f" (also {and_list(others)})." if others else "."
        return what + (f" Software you will meet there: {named}." if software else "")
    if facts["range"]["name"] == "Dynamic Ports":
        r = facts["range"]
        what = (
            f"Port {n} is unassigned, with no RFC, protocol or owner, by design: it is in the Dynamic range "
            f"({r['first']}–{r['last']}), {r['size']:,} ports IANA never assigns."
        )
        return what + (f" Software that may use it: {named}." if software else "")
    if defaults:
        makers = list(dict.fromkeys(u["software"] for u in defaults))
        verb = "listens" if len(makers) == 1 else "listen"
        rest = [s for s in software if s not in makers]
        what = f"Port {n} is where {and_list(makers[:LEAD_SOFTWARE])} {verb} by default"
        what += f"; IANA has {'reserved' if facts['status'] == 'reserved' else 'not assigned'} it."
        return what + (f" Also met there: {and_list(rest[:LEAD_SOFTWARE])}." if rest else "")
    if facts["status"] == "reserved":
        what = f"IANA has reserved port {n} on {and_list(headline(facts)['reserved_on'])}"
        what += f"; the registry says “{facts['registry_words']}”." if facts["registry_words"] else "."
    else:
        what = f"IANA has not assigned port {n} to any service."
    return what + (f" Software you will meet there: {named}." if software else "")
