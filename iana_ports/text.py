"""Small text helpers shared by the read side, the pages and the command line."""

import re


def and_list(items) -> str:
    """["tcp", "udp", "sctp"] -> "tcp, udp and sctp"."""
    items = [str(i) for i in items]
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def en_dash(text: str) -> str:
    """"32768-61000" -> "32768–61000", matching how the pages write ranges."""
    return re.sub(r"(?<=[0-9])-(?=[0-9])", "–", text)
