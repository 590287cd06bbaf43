"""The lines that open a port (or a block of ports) in a host's firewall, for each common tool.

Pure functions from (first, last, transport) to command lines; nothing here runs
them. Each line is what a person types as root (sudo) or, for Windows, in an
elevated PowerShell. Only tcp and udp: ufw and Windows Firewall open no SCTP or
DCCP ports, and a line that works for some tools only would be a trap.

The syntax of each is checked by the real parsers in tests/core/test_firewall.py
(nft --check, iptables-restore --test, ufw --dry-run, firewall-offline-cmd), inside
a fresh network and mount namespace; the PowerShell lines by their exact text.
"""

import functools
import re

from .errors import BadQuery
from .facts import EVERYDAY_TRANSPORTS, MAX_PORT, TRANSPORTS
from .text import PORT_STAND_IN, Lines

# tool -> what it is, in the order the page and the command line show them.
TOOLS = {
    "ufw": "ufw (Ubuntu, Debian)",
    "firewalld": "firewalld (Fedora, RHEL, openSUSE)",
    # The table and chain Debian's /etc/nftables.conf defines.
    "nftables": "nftables (table inet filter, chain input)",
    "iptables": "iptables and ip6tables",
    "windows": "Windows (PowerShell as administrator)",
}


def opening(first: int, last: int, transport: str) -> None:
    """Refuses what no tool can open: a transport other than tcp and udp, or a bad block."""
    if transport not in EVERYDAY_TRANSPORTS:
        raise BadQuery(f"Firewall lines are for tcp and udp only, not {transport}.")
    if not 1 <= first <= last <= MAX_PORT:
        raise BadQuery(f"A firewall opens ports 1 to {MAX_PORT}, the first not above the last.")


def _span(first: int, last: int, joiner: str) -> str:
    return str(first) if first == last else f"{first}{joiner}{last}"


def ufw(first: int, last: int, transport: str) -> list[str]:
    # A block needs its transport in ufw (6000:6010/tcp), so every line names one.
    return [f"ufw allow {_span(first, last, ':')}/{transport}"]


def firewalld(first: int, last: int, transport: str) -> list[str]:
    # --permanent survives a restart; the reload makes the permanent set the running one.
    return [f"firewall-cmd --permanent --add-port={_span(first, last, '-')}/{transport}"]


def nftables(first: int, last: int, transport: str) -> list[str]:
    # insert, not add: before any final drop or reject rule of the chain.
    return [f"nft insert rule inet filter input {transport} dport {_span(first, last, '-')} accept"]


def iptables(first: int, last: int, transport: str) -> list[str]:
    # -I puts the rule before a final DROP or REJECT; ip6tables for IPv6, which iptables does not touch.
    rule = f"-I INPUT -p {transport} --dport {_span(first, last, ':')} -j ACCEPT"
    return [f"iptables {rule}", f"ip6tables {rule}"]


def windows(first: int, last: int, transport: str) -> list[str]:
    where = _span(first, last, "-")
    return [
        f'New-NetFirewallRule -DisplayName "Port {where}/{transport}" -Direction Inbound '
        f"-Protocol {transport.upper()} -LocalPort {where} -Action Allow"
    ]


# 8080, 8080/tcp, 6000-6010/udp (or 6000:6010, as ufw and iptables write a block); else a service name.
_PORTS = re.compile(r"([0-9]{1,5})(?:[-:]([0-9]{1,5}))?(?:/([a-z]+))?", re.I)
_NAME = re.compile(r"([^/\s]{1,64})(?:/([a-z]+))?", re.I)


def target(text: str) -> tuple[str, object, tuple[str, ...]]:
    """What to open: ("ports", (first, last), transports) or ("service", name, transports).
    Without a transport, tcp and udp (for a service, those it is registered on)."""
    text = " ".join(str(text).split())
    m = _PORTS.fullmatch(text) or _NAME.fullmatch(text)
    if not m:
        raise BadQuery("Open what? A port (8080, 8080/tcp), a block (6000-6010/udp) or a service name (ssh).")
    transport = ((m[2] if m.re is _NAME else m[3]) or "").lower()
    if transport and transport not in TRANSPORTS:
        raise BadQuery(f"Transport must be one of {', '.join(TRANSPORTS)}.")
    wanted = (transport,) if transport else EVERYDAY_TRANSPORTS
    if m.re is _NAME:
        return "service", m[1], wanted
    first, last = int(m[1]), int(m[2] or m[1])
    return "ports", (first, last), wanted


def tools_named(text: str | None) -> tuple[str, ...]:
    """--for / `for`: a comma-separated list of TOOLS; empty means all."""
    if not text:
        return tuple(TOOLS)
    chosen = [t.strip().lower() for t in str(text)[:200].split(",") if t.strip()]
    if not chosen or any(t not in TOOLS for t in chosen):
        raise BadQuery(f"The firewall must be some of {', '.join(TOOLS)} (comma-separated).")
    return tuple(t for t in TOOLS if t in chosen)


# What a tool needs once, after its rules.
AFTER = {"firewalld": ["firewall-cmd --reload"]}
LINES = {"ufw": ufw, "firewalld": firewalld, "nftables": nftables, "iptables": iptables, "windows": windows}


def lines(openings, tools=tuple(TOOLS)) -> dict[str, list[str]]:
    """{tool: the lines that open every (first, last, transport) of `openings`}, in TOOLS order."""
    openings = list(dict.fromkeys(openings))
    for first, last, transport in openings:
        opening(first, last, transport)
    return _written(openings, tools)


def _written(openings, tools=tuple(TOOLS)) -> dict[str, list[str]]:
    return {
        tool: [line for o in openings for line in LINES[tool](*o)] + AFTER.get(tool, [])
        for tool in TOOLS
        if tool in tools
    }


def of_port(port: int, transports=EVERYDAY_TRANSPORTS) -> dict[str, list[str]] | None:
    """The lines that open `port` on `transports`, as the port page and its JSON give them;
    None for port 0, which nothing listens on."""
    if port == 0:
        return None
    return _one_port(transports).filled(port)


def of_any_port(transports=EVERYDAY_TRANSPORTS) -> dict[str, list[str]]:
    """of_port()'s lines with text.PORT_STAND_IN for the number: for a page part written once
    for every port (the web pages' port fragments)."""
    return _one_port(transports).lines


@functools.cache
def _one_port(transports: tuple) -> Lines:
    for t in transports:
        opening(1, 1, t)
    return Lines(_written([(PORT_STAND_IN, PORT_STAND_IN, t) for t in transports]))
