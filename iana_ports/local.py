"""This machine: what listens here, the ports its kernel hands out or keeps back, and whether a port binds now.

The sockets and their processes come from psutil (on Linux it reads /proc/net and
maps each socket's inode to the process holding it through /proc/PID/fd, which
only works for another user's processes as root: their sockets are listed with
no pid, and said once as hidden). On macOS psutil.net_connections needs root;
without it the sockets of the processes this user may inspect are listed. The
site never calls any of this: it is not the user's machine (README, "On this machine").

The ephemeral and reserved ranges are the kernel's own settings: Linux's
/proc/sys/net/ipv4 files (per network namespace), macOS's and FreeBSD's
net.inet.ip.portrange sysctls, Windows's netsh dynamic port range and the
excluded ranges (Hyper-V and WinNAT reserve blocks there).
"""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

from . import read
from .facts import EVERYDAY_TRANSPORTS, MAX_PORT
from .verdict import use_order

LINUX_SYSCTL = Path("/proc/sys/net/ipv4")
TRANSPORT_OF = {socket.SOCK_STREAM: "tcp", socket.SOCK_DGRAM: "udp"}
# Words in process names and command lines that say nothing about which software it is.
GENERIC = frozenset(
    {"bin", "usr", "local", "lib", "opt", "sbin", "run", "server", "service", "daemon", "agent", "main", "app"}
)
# The command-line arguments read for the software's name (the interpreter, the module or script, its command).
ARGS_READ = 4
# Why a socket has no process, said once: as a user, other users' processes (Linux maps a socket
# to its process through /proc/PID/fd, which only root may read for them); as root, processes
# outside this PID namespace (another container's).
HIDDEN = {
    False: "{n} not shown: only root can name other users' processes (run it with sudo to see them).",
    True: "{n} not shown: even root cannot see processes outside this PID namespace (another container's).",
}


def hidden_note(n: int) -> str | None:
    if not n:
        return None
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    which = "1 socket's process, pid and user are" if n == 1 else f"{n} sockets' processes, pids and users are"
    return HIDDEN[root].format(n=which)


# What listens


def sockets() -> dict:
    """{"sockets": [...], "hidden": N, "note": ...}: every listening TCP socket and every unconnected
    (bound) UDP socket, each {address, port, transport, pid, process, user}, sorted by port."""
    import psutil

    try:
        conns = psutil.net_connections(kind="inet")
    except psutil.AccessDenied:
        # macOS without root: each process this user may inspect, one by one.
        conns = []
        for proc in psutil.process_iter():
            try:
                conns += [c._replace(pid=proc.pid) for c in proc.net_connections(kind="inet")]
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
    processes: dict = {}
    found = []
    for c in conns:
        transport = TRANSPORT_OF.get(c.type)
        if transport == "tcp" and c.status != psutil.CONN_LISTEN or transport == "udp" and c.raddr:
            continue
        if transport is None or not c.laddr:
            continue
        pid = c.pid
        if pid is not None and pid not in processes:
            processes[pid] = _process(psutil, pid)
        name, user, _ = processes.get(pid) or (None, None, ())
        found.append(
            {
                "address": c.laddr.ip,
                "port": c.laddr.port,
                "transport": transport,
                "pid": pid,
                "process": name,
                "user": user,
            }
        )
    found = sorted({tuple(s.items()): s for s in found}.values(), key=_order)
    hidden = sum(s["pid"] is None for s in found)
    words = {pid: info[2] for pid, info in processes.items() if info}
    return {"sockets": found, "hidden": hidden, "note": hidden_note(hidden), "_words": words}


def _order(s: dict) -> tuple:
    return (s["port"], s["transport"], ":" in s["address"], s["address"], s["pid"] or 0)


def _process(psutil, pid: int):
    """(name, user, the words naming its software) of a process, or None once it is gone."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            name = proc.name()
            try:
                user = proc.username()
            except (psutil.AccessDenied, KeyError):
                user = None
            try:
                args = proc.cmdline()[:ARGS_READ]
            except psutil.AccessDenied:
                args = []
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return (None, None, ())
    # Names, not code: `python -c CODE` is an interpreter and a script, not software named by the code's words.
    named = [a.replace("\\", "/").rsplit("/", 1)[-1] for a in args if a[:1] != "-" and not any(map(str.isspace, a))]
    return name, user, words_of([name, *named])


def words_of(texts) -> tuple[str, ...]:
    """Lower-case words of names, trailing version digits dropped (python3.11 -> python), generic words out."""
    words = []
    for text in texts:
        for w in re.split(r"[^a-z0-9]+", text.lower()):
            w = re.sub(r"[0-9]+$", "", w)
            if len(w) >= 3 and w not in GENERIC and w not in words:
                words.append(w)
    return tuple(words)


# How much longer one word may be than the other it starts with: a daemon's d (sshd, mysqld,
# mongod), postgres and PostgreSQL; not net and netdata.
SUFFIX = 2


def known_for(words, names) -> str | None:
    """The first of `names` (services, software) the process's words name: a word of one is a
    word of the other or it with a short ending (sshd and ssh, postgres and PostgreSQL, flask and Flask)."""
    for name in names:
        for w in words_of([name]):
            for p in words:
                short, long_ = sorted((w, p), key=len)
                if long_.startswith(short) and len(long_) - len(short) <= SUFFIX:
                    return name
    return None


def annotate(store, found: dict) -> dict:
    """The sockets with the registry's and the project's reading of their ports: status, services,
    verdict, the software known there, and `known_for`/`unexpected` where a process is named."""
    briefs: dict[int, dict] = {}
    rows = []
    for s in found["sockets"]:
        brief = briefs.get(s["port"])
        if brief is None:
            brief = briefs[s["port"]] = read.brief(store, s["port"])
        wanted = [u for u in brief["common_uses"] if s["transport"] in u["transports"]]
        software = list(dict.fromkeys(u["software"] for u in sorted(wanted, key=use_order)))
        on = brief["transports"][s["transport"]]
        names = [*on["services"], *software]
        words = found["_words"].get(s["pid"], ())
        match = known_for(words, names) if words else None
        rows.append(
            dict(
                s,
                status=on["status"],
                services=on["services"],
                verdict=brief["verdict"],
                common_uses=software,
                known_for=match,
                # Only when there is a process to name and something the port is known for.
                unexpected=None if not words or not names else match is None,
            )
        )
    return {"sockets": rows, "hidden": found["hidden"], "note": found["note"]}


def listening(store) -> dict:
    return annotate(store, sockets())


def on_port(store, port: int) -> dict:
    """What listens on one port here: the sockets, annotated, and the hidden note when it applies."""
    found = sockets()
    mine = [s for s in found["sockets"] if s["port"] == port]
    hidden = sum(s["pid"] is None for s in mine)
    return annotate(store, dict(found, sockets=mine, hidden=hidden, note=hidden_note(hidden)))


# What the kernel hands out or keeps


def spans(text: str) -> list[dict]:
    """'8005,8010-8012' (Linux's ip_local_reserved_ports) -> [{first, last}, ...]; '' -> []."""
    found = []
    for part in text.replace("\n", ",").split(","):
        part = part.strip()
        if part:
            first, _, last = part.partition("-")
            found.append({"first": int(first), "last": int(last or first)})
    return found


def linux_ports(sysctl: Path = LINUX_SYSCTL) -> dict:
    """This network namespace's ephemeral range and reserved ports, from the kernel's own files."""
    first, last = (int(n) for n in (sysctl / "ip_local_port_range").read_text().split())
    reserved_file = sysctl / "ip_local_reserved_ports"
    reserved = spans(reserved_file.read_text()) if reserved_file.exists() else []
    return {
        "ephemeral": {"first": first, "last": last},
        "reserved": reserved,
        "source": f"{sysctl / 'ip_local_port_range'}, {reserved_file}",
    }


def bsd_ports(output: str) -> dict:
    """`sysctl -n net.inet.ip.portrange.first net.inet.ip.portrange.last` -> the ephemeral range."""
    first, last = (int(n) for n in output.split()[:2])
    return {"ephemeral": {"first": first, "last": last}, "reserved": [], "source": "sysctl net.inet.ip.portrange"}


def windows_ports(dynamic: str, excluded: str) -> dict:
    """`netsh int ipv4 show dynamicport tcp` and `netsh int ipv4 show excludedportrange protocol=tcp`
    -> the dynamic range and the excluded blocks."""
    numbers = [int(n) for n in re.findall(r":\s*([0-9]+)", dynamic)]
    start, size = numbers[:2]
    reserved = [
        {"first": int(a), "last": int(b)}
        for a, b in re.findall(r"^\s*([0-9]+)\s+([0-9]+)\b", excluded, re.M)
        if int(a) <= int(b) <= MAX_PORT
    ]
    return {
        "ephemeral": {"first": start, "last": min(start + size - 1, MAX_PORT)},
        "reserved": reserved,
        "source": "netsh int ipv4 show dynamicport, excludedportrange",
    }


def kernel_ports(platform: str = sys.platform, sysctl: Path = LINUX_SYSCTL) -> dict | None:
    """This machine's ephemeral range and reserved ports; None where the platform has no known way."""
    if platform.startswith("linux"):
        return linux_ports(sysctl)
    if platform == "darwin" or platform.startswith("freebsd"):
        names = ["net.inet.ip.portrange.first", "net.inet.ip.portrange.last"]
        return bsd_ports(_run(["sysctl", "-n", *names]))
    if platform == "win32":
        netsh = ["netsh", "int", "ipv4", "show"]
        return windows_ports(_run([*netsh, "dynamicport", "tcp"]), _run([*netsh, "excludedportrange", "protocol=tcp"]))
    return None


def _run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


# Whether a port binds now


def bindable(port: int, transports=EVERYDAY_TRANSPORTS) -> bool:
    """Whether `port` binds on every local address (0.0.0.0, and :: where there is IPv6) on each of
    `transports` right now. No SO_REUSEADDR: a socket on any one address, or a TCP connection
    still closing, holds the port, as it would for a service started next."""
    kinds = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}
    families = [(socket.AF_INET, "0.0.0.0")] + ([(socket.AF_INET6, "::")] if socket.has_ipv6 else [])
    for transport in transports:
        for family, address in families:
            try:
                s = socket.socket(family, kinds[transport])
            except OSError:
                continue  # no IPv6 on this host
            try:
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((address, port))
            except OSError:
                return False
            finally:
                s.close()
    return True


def merged(spans: list[dict]) -> list[tuple[int, int]]:
    """Blocks of ports, overlapping or touching ones joined, in order."""
    out: list[list[int]] = []
    for first, last in sorted((r["first"], r["last"]) for r in spans):
        if out and first <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], last)
        else:
            out.append([first, last])
    return [(a, b) for a, b in out]


def free(store, near, transports=EVERYDAY_TRANSPORTS, count: int = 10, on=read.DEFAULT_TARGETS, kernel="auto") -> dict:
    """read.free()'s answer, less the ports this machine hands out (its ephemeral range), keeps back
    (reserved) or has bound now; `local` says what it read and which good ports it skipped.
    `kernel`: kernel_ports()'s answer ("auto": this machine's)."""
    count = read.whole_number(count, "count", 1, read.MAX_FREE)
    base = read.free(store, near, transports, read.MAX_FREE, on)
    near = base["near"]
    kernel = kernel_ports() if kernel == "auto" else kernel
    ephemeral = kernel["ephemeral"] if kernel else None
    reserved = kernel["reserved"] if kernel else []
    blocks = merged([ephemeral, *reserved] if ephemeral else reserved)
    # The nearest good ports outside a block are near `near` or just outside the block's ends.
    candidates = {p["port"] for p in base["ports"]}
    for first, last in blocks:
        for edge in (first - 1, last + 1):
            if 0 <= edge <= MAX_PORT:
                candidates.update(p["port"] for p in read.free(store, edge, transports, read.MAX_FREE, on)["ports"])
    kept, skipped = [], []
    for n in sorted(candidates, key=lambda p: (abs(p - near), p)):
        if len(kept) == count:
            break
        if ephemeral and ephemeral["first"] <= n <= ephemeral["last"]:
            why = "ephemeral here"
        elif any(r["first"] <= n <= r["last"] for r in reserved):
            why = "reserved here"
        elif not bindable(n, base["transports"]):
            why = "bound here"
        else:
            kept.append({"port": n, "distance": abs(n - near)})
            continue
        # The skipped among the nearest only: a block's thousands of good ports are said by `ephemeral`.
        if len(skipped) < read.MAX_FREE:
            skipped.append({"port": n, "why": why})
    note = base["note"]
    if len(kept) < count:
        short = f"Only {len(kept)} of the good ports near {near} {'is' if len(kept) == 1 else 'are'} free here."
        note = f"{note} {short}" if note else short
    return dict(
        base,
        count=count,
        ports=kept,
        note=note,
        local={
            "ephemeral": ephemeral,
            "reserved": reserved,
            "source": kernel["source"] if kernel else None,
            "skipped": skipped,
        },
    )
