"""This machine's view (iana_ports/local.py, `iana-ports listening`, `PORT --local`, `free --local`,
iana_ports.free_port) with real sockets held by child processes whose names the tests choose
(a symlink to Python named iana-listener or flask: the kernel names a process after the file it
ran), and the kernel's real settings.

What must not meet the rest of the machine runs in a network namespace of its own (unshare -n,
as root): a fixed port such as 5000, and the ephemeral range and reserved ports, which are
per-namespace kernel settings a test may write there (/proc/sys/net/ipv4). The view as another
user is the installed command run as nobody (setpriv).
"""

import csv
import json
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from iana_ports import local
from iana_ports.facts import COMMON_USES_CSV
from iana_ports.verdict import WIDE_BLOCK

SCRIPT = Path(sys.executable).parent / "iana-ports"
ME = pwd.getpwuid(os.geteuid()).pw_name
# A child holding sockets: each argument is TRANSPORT:PORT (0: any); it prints the ports, then
# holds them until its stdin closes.
LISTENER = textwrap.dedent(
    """
    import socket, sys
    held = []
    for spec in sys.argv[1:]:
        transport, port = spec.split(":")
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", int(port)))
        if transport == "tcp":
            s.listen()
        held.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in held), flush=True)
    sys.stdin.read()
    """
)
# Run in a new network namespace: lo up, the kernel settings given, the listeners started,
# then one command; prints {"pids", "ports", "status", "stdout", "stderr"} as JSON.
DRIVER = textwrap.dedent(
    """
    import json, subprocess, sys
    job = json.loads(sys.argv[1])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for name, value in job["sysctl"].items():
        with open("/proc/sys/net/ipv4/" + name, "w") as f:
            f.write(value)
    children, ports = [], []
    for program, specs in job["listeners"]:
        command = [program, "-c", job["listener"], *specs]
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ports.append([int(p) for p in child.stdout.readline().split()])
        children.append(child)
    done = subprocess.run(job["command"], capture_output=True, text=True)
    for child in children:
        child.stdin.close()
        child.wait()
    print(json.dumps({"pids": [c.pid for c in children], "ports": ports, "status": done.returncode,
                      "stdout": done.stdout, "stderr": done.stderr}))
    """
)


@pytest.fixture(scope="module")
def shared():
    """A folder nobody may read (pytest's own are root's alone), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="iana-local-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
def named(shared):
    """name -> a Python the kernel calls by that name (a symlink)."""
    made = {}
    for name in ("iana-listener", "flask"):
        (shared / name).symlink_to(os.path.realpath(sys.executable))
        made[name] = str(shared / name)
    return made


@pytest.fixture(scope="module")
def db(db_2026, shared):
    """The 2026 build, where nobody can read it."""
    copy = shared / "iana.db"
    copy.write_bytes(Path(db_2026).read_bytes())
    copy.chmod(0o644)
    return copy


def in_namespace(command, listeners=(), sysctl=None) -> dict:
    job = {"listener": LISTENER, "listeners": list(listeners), "sysctl": sysctl or {}, "command": command}
    done = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", DRIVER, json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=120,
        # The text's width, whatever the terminal running the tests.
        env=dict(os.environ, COLUMNS="80"),
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Listener:
    """A child named `program` holding `specs` (TRANSPORT:PORT) on 127.0.0.1 in this namespace."""

    def __init__(self, program: str, *specs: str):
        self.child = subprocess.Popen(
            [program, "-c", LISTENER, *specs], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.ports = [int(p) for p in self.child.stdout.readline().split()]
        self.pid = self.child.pid

    def close(self):
        self.child.stdin.close()
        self.child.wait(30)


@pytest.fixture
def listener(named):
    held = Listener(named["iana-listener"], "tcp:0", "udp:0")
    yield held
    held.close()


def uses_oracle(port: int, transport: str) -> list[str]:
    """The software curated/common_uses.csv lists on `port` and `transport`, the port page's order:
    those that weigh (a default, or a block of at most WIDE_BLOCK ports) first, defaults before
    examples before blocks, narrowest first, then by name; each once."""
    kinds = ["default", "example", "range"]
    found = []
    with open(COMMON_USES_CSV, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            first, _, last = row["port"].partition("-")
            first, last = int(first), int(last or first)
            if first <= port <= last and transport in row["transports"].split("/"):
                weighs = row["kind"] == "default" or last - first + 1 <= WIDE_BLOCK
                found.append(((not weighs, kinds.index(row["kind"]), last - first, row["software"].lower()), row))
    return list(dict.fromkeys(row["software"] for _, row in sorted(found, key=lambda x: x[0])))


def good_ports(db) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("select port from ports where verdict = 'good' order by port")]
    finally:
        conn.close()


def runs(ports: list[int]) -> list[dict]:
    found: list[dict] = []
    for p in ports:
        if found and found[-1]["last"] == p - 1:
            found[-1]["last"] = p
        else:
            found.append({"first": p, "last": p})
    return found


def nearest(ports, near: int, count: int) -> list[dict]:
    chosen = sorted(ports, key=lambda p: (abs(p - near), p))[:count]
    return [{"port": p, "distance": abs(p - near)} for p in chosen]


# What listens


def test_listening_sees_the_tests_own_tcp_and_udp_sockets_with_their_process(listener):
    tcp, udp = listener.ports
    found = local.sockets()
    mine = [s for s in found["sockets"] if s["pid"] == listener.pid]
    assert mine == [
        {"address": "127.0.0.1", "port": p, "transport": t, "pid": listener.pid, "process": "iana-listener", "user": ME}
        for p, t in sorted([(tcp, "tcp"), (udp, "udp")])
    ]


def test_a_port_nothing_listens_on_is_said_so(db, named):
    got = in_namespace([str(SCRIPT), "8000", "--local", "--json", "--db", str(db)])
    assert (got["status"], got["stderr"]) == (0, "")
    found = json.loads(got["stdout"])
    assert found["local"] == {"sockets": [], "hidden": 0, "note": None}
    # The rest is the port's JSON, as `iana-ports 8000 --json` gives it.
    plain = subprocess.run([str(SCRIPT), "8000", "--json", "--db", str(db)], capture_output=True, check=True)
    assert {k: v for k, v in found.items() if k != "local"} == json.loads(plain.stdout)


def test_listening_names_flask_on_5000_and_flags_what_is_not_known_there(db, named):
    got = in_namespace(
        [str(SCRIPT), "listening", "--json", "--db", str(db)],
        [(named["flask"], ["tcp:5000"]), (named["iana-listener"], ["tcp:5001", "udp:5000"])],
    )
    assert (got["status"], got["stderr"]) == (0, "")
    flask, other = got["pids"]

    def row(port, transport, pid, process, services, verdict, known_for, unexpected):
        return {
            "address": "127.0.0.1",
            "port": port,
            "transport": transport,
            "pid": pid,
            "process": process,
            "user": ME,
            "status": "assigned",
            "services": services,
            "verdict": verdict,
            "common_uses": uses_oracle(port, transport),
            "known_for": known_for,
            "unexpected": unexpected,
        }

    assert json.loads(got["stdout"]) == {
        "sockets": [
            row(5000, "tcp", flask, "flask", ["commplex-main"], "avoid", "Flask", False),
            row(5000, "udp", other, "iana-listener", ["commplex-main"], "avoid", None, True),
            row(5001, "tcp", other, "iana-listener", ["commplex-link"], "avoid", None, True),
        ],
        "hidden": 0,
        "note": None,
    }


def test_port_local_answers_who_listens_there_and_the_usual_answer(db, named):
    got = in_namespace([str(SCRIPT), "5000", "--local", "--db", str(db)], [(named["flask"], ["tcp:5000"])])
    assert (got["status"], got["stderr"]) == (0, "")
    (pid,) = got["pids"]
    lines = got["stdout"].splitlines()
    assert lines[:5] == [
        "On this machine, port 5000",
        f"  127.0.0.1:5000/tcp flask (pid {pid}, {ME})",
        "      IANA: assigned to commplex-main; for your own service: avoid.",
        "      Known there (not from IANA): ASP.NET Core Kestrel, Datadog Agent,",
        "      Distribution (Docker Registry), Firebase Local Emulator Suite, Flask,",
    ]
    assert "      It looks like Flask." in lines
    # Then the port's usual answer, as `iana-ports 5000` gives it.
    assert lines[lines.index("") + 1].startswith("Port 5000 is commplex-main")


def test_another_users_sockets_are_listed_without_a_process_and_said_once(db, named):
    # nobody, allowed to read and search folders (a checkout may sit in a 0700 one, as under
    # mktemp -d) but not to look into other users' processes (that needs CAP_SYS_PTRACE).
    read_search = ["--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search"]
    nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *read_search]
    got = in_namespace(
        [*nobody, str(SCRIPT), "listening", "--json", "--db", str(db)],
        [(named["iana-listener"], ["tcp:7000", "udp:7001"])],
    )
    assert (got["status"], got["stderr"]) == (0, "")
    found = json.loads(got["stdout"])
    assert [(s["port"], s["transport"], s["pid"], s["process"], s["user"]) for s in found["sockets"]] == [
        (7000, "tcp", None, None, None),
        (7001, "udp", None, None, None),
    ]
    assert found["hidden"] == 2
    assert found["note"] == (
        "2 sockets' processes, pids and users are not shown: only root can name other users' processes "
        "(run it with sudo to see them)."
    )
    assert {s["unexpected"] for s in found["sockets"]} == {None}


# Free here


def test_free_local_skips_a_held_port_and_the_reserved_ones_and_reads_the_real_kernel_setting(db, named):
    good = good_ports(db)
    first4 = [p["port"] for p in nearest(good, 8000, 4)]
    held, reserved = first4[0], first4[1:]
    got = in_namespace(
        [str(SCRIPT), "free", "--near", "8000", "--count", "3", "--local", "--json", "--db", str(db)],
        [(named["iana-listener"], [f"tcp:{held}"])],
        sysctl={
            "ip_local_port_range": "20000 29999",
            "ip_local_reserved_ports": f"{reserved[0]},{min(reserved[1:])}-{max(reserved[1:])}",
        },
    )
    assert (got["status"], got["stderr"]) == (0, "")
    found = json.loads(got["stdout"])
    assert found["ports"] == nearest([p for p in good if p not in first4], 8000, 3)
    assert found["local"] == {
        "ephemeral": {"first": 20000, "last": 29999},
        # The kernel keeps a bitmap and prints it back as runs: touching blocks come back as one.
        "reserved": runs(sorted(reserved)),
        "source": "/proc/sys/net/ipv4/ip_local_port_range, /proc/sys/net/ipv4/ip_local_reserved_ports",
        "skipped": [{"port": held, "why": "bound here"}] + [{"port": p, "why": "reserved here"} for p in reserved],
    }
    assert (found["near"], found["count"], found["transports"], found["note"]) == (8000, 3, ["tcp", "udp"], None)


def test_free_local_inside_this_machines_ephemeral_range_answers_from_outside_it(db):
    good = good_ports(db)
    got = in_namespace(
        [str(SCRIPT), "free", "--near", "25000", "--count", "4", "--local", "--json", "--db", str(db)],
        sysctl={"ip_local_port_range": "20000 29999"},
    )
    assert (got["status"], got["stderr"]) == (0, "")
    found = json.loads(got["stdout"])
    assert found["ports"] == nearest([p for p in good if not 20000 <= p <= 29999], 25000, 4)
    assert found["local"]["ephemeral"] == {"first": 20000, "last": 29999}
    assert found["local"]["skipped"][:3] == [
        {"port": p["port"], "why": "ephemeral here"}
        for p in nearest([p for p in good if 20000 <= p <= 29999], 25000, 3)
    ]


def test_the_ephemeral_range_is_the_kernels_own_setting():
    # What sysctl(8) reads, on this machine, and in a namespace where the test set it.
    out = subprocess.run(["sysctl", "-n", "net.ipv4.ip_local_port_range"], capture_output=True, text=True, check=True)
    first, last = map(int, out.stdout.split())
    assert local.kernel_ports()["ephemeral"] == {"first": first, "last": last}
    got = in_namespace(
        [sys.executable, "-c", "import json; from iana_ports import local; print(json.dumps(local.kernel_ports()))"],
        sysctl={"ip_local_port_range": "40000 40999", "ip_local_reserved_ports": "8005,8010-8012"},
    )
    assert json.loads(got["stdout"])["ephemeral"] == {"first": 40000, "last": 40999}
    assert json.loads(got["stdout"])["reserved"] == [{"first": 8005, "last": 8005}, {"first": 8010, "last": 8012}]


def test_the_settings_can_come_from_files(tmp_path):
    (tmp_path / "ip_local_port_range").write_text("1024\t65000\n")
    (tmp_path / "ip_local_reserved_ports").write_text("\n")
    assert local.linux_ports(tmp_path) == {
        "ephemeral": {"first": 1024, "last": 65000},
        "reserved": [],
        "source": f"{tmp_path}/ip_local_port_range, {tmp_path}/ip_local_reserved_ports",
    }
    (tmp_path / "ip_local_reserved_ports").write_text("8000-8100,9000\n")
    assert local.linux_ports(tmp_path)["reserved"] == [{"first": 8000, "last": 8100}, {"first": 9000, "last": 9000}]


def test_macos_and_windows_settings_are_read_from_their_commands_output():
    # The documented output of `sysctl -n net.inet.ip.portrange.first net.inet.ip.portrange.last`
    # and of netsh (Windows 10 and 11, English), as the functions that run them read it.
    assert local.bsd_ports("49152\n65535\n")["ephemeral"] == {"first": 49152, "last": 65535}
    dynamic = "\nProtocol tcp Dynamic Port Range\n---------------------------------\nStart Port      : 49152\n"
    dynamic += "Number of Ports : 16384\n"
    excluded = "\nProtocol tcp Port Exclusion Ranges\n\nStart Port    End Port\n----------    --------\n"
    excluded += "      5357        5357\n     50000       50059     *\n\n* - Administered port exclusions.\n"
    assert local.windows_ports(dynamic, excluded) == {
        "ephemeral": {"first": 49152, "last": 65535},
        "reserved": [{"first": 5357, "last": 5357}, {"first": 50000, "last": 50059}],
        "source": "netsh int ipv4 show dynamicport, excludedportrange",
    }


def test_a_port_bound_on_one_address_is_not_bindable(listener):
    tcp, udp = listener.ports
    assert not local.bindable(tcp, ["tcp"])
    assert not local.bindable(udp, ["udp"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert local.bindable(free, ["tcp", "udp"])


# The Python API


def test_free_port_skips_what_is_held_here_and_can_hand_back_a_bound_socket(db, named):
    good = good_ports(db)
    first2 = [p["port"] for p in nearest(good, 8000, 2)]
    program = (
        "import json, iana_ports; db = %r; s = iana_ports.free_port(near=8000, db=db, bind=True);"
        "print(json.dumps([iana_ports.free_port(near=8000, db=db), iana_ports.free_port(near=8000, local=False, db=db),"
        "s.getsockname()[1], iana_ports.lookup(5432, db=db)['services']]))"
    ) % str(db)
    got = in_namespace([sys.executable, "-c", program], [(named["iana-listener"], [f"udp:{first2[0]}"])])
    assert (got["status"], got["stderr"]) == (0, "")
    # Held on udp: skipped here; the socket handed back holds the next, so it is skipped too.
    after = nearest([p for p in good if p not in first2], 8000, 1)[0]["port"]
    assert json.loads(got["stdout"]) == [after, first2[0], first2[1], ["postgresql"]]
