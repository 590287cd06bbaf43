"""The firewall lines (iana_ports/firewall.py), read by the real tools' own parsers.

Every check runs in a fresh network and mount namespace (unshare -n -m, as root): nft --check
and iptables-restore --test parse a ruleset without loading it, ufw --dry-run prints the rules
it would write, firewall-offline-cmd edits a copy of /etc/firewalld bind-mounted over it. This
machine's firewall and its configuration files are never touched (the last test checks the
files). The PowerShell lines cannot be parsed here (no PowerShell on Debian): their exact text
is the test. Each parser is also fed a bad rule, so a check that passes is one that can fail.
"""

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from iana_ports import firewall, read
from iana_ports.errors import BadQuery, NotFound
from iana_ports.store import Store

# What the tests need installed: the Makefile's FIREWALL_TOOLS (make tools).
TOOLS = ["/usr/sbin/nft", "/usr/sbin/iptables-restore", "/usr/sbin/ip6tables-restore", "/usr/sbin/ufw"]
TOOLS += ["/usr/bin/firewall-offline-cmd", "/usr/bin/unshare"]
OPENINGS = [(8080, 8080, "tcp"), (5353, 5353, "udp"), (6000, 6010, "tcp"), (60000, 61000, "udp"), (1, 65535, "tcp")]
# The table and chain the nftables lines name, as Debian's /etc/nftables.conf defines them.
NFT_TABLE = "table inet filter {\n  chain input { type filter hook input priority 0; policy accept; }\n}\n"


def isolated(script: str, stdin: str = "") -> subprocess.CompletedProcess:
    """bash `script` (set -euo pipefail) in a new network and mount namespace."""
    for tool in TOOLS:
        assert Path(tool).is_file(), f"{tool} is missing: make tools installs it"
    return subprocess.run(
        ["unshare", "--net", "--mount", "bash", "-c", "set -euo pipefail\n" + script],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def lines_of(tool: str, openings=OPENINGS) -> list[str]:
    return firewall.lines(openings)[tool]


def test_nftables_lines_parse_with_nft_check(tmp_path):
    rules = lines_of("nftables")
    assert rules[0] == "nft insert rule inet filter input tcp dport 8080 accept"
    assert rules[2] == "nft insert rule inet filter input tcp dport 6000-6010 accept"
    good, bad = tmp_path / "good.nft", tmp_path / "bad.nft"
    good.write_text(NFT_TABLE + "".join(line.removeprefix("nft ") + "\n" for line in rules))
    bad.write_text(NFT_TABLE + "insert rule inet filter input tcp dport 65536 accept\n")
    assert all(line.startswith("nft ") for line in rules)
    found = isolated(f"nft --check -f {good}")
    assert (found.returncode, found.stderr) == (0, "")
    refused = isolated(f"nft --check -f {bad}")
    assert refused.returncode == 1 and "out of range" in refused.stderr


@pytest.mark.parametrize("command", ["iptables", "ip6tables"])
def test_iptables_lines_parse_with_restore_test(command):
    rules = [line.removeprefix(command + " ") for line in lines_of("iptables") if line.startswith(command + " ")]
    assert rules == [
        "-I INPUT -p tcp --dport 8080 -j ACCEPT",
        "-I INPUT -p udp --dport 5353 -j ACCEPT",
        "-I INPUT -p tcp --dport 6000:6010 -j ACCEPT",
        "-I INPUT -p udp --dport 60000:61000 -j ACCEPT",
        "-I INPUT -p tcp --dport 1:65535 -j ACCEPT",
    ]
    table = "*filter\n" + "".join(r + "\n" for r in rules) + "COMMIT\n"
    found = isolated(f"{command}-restore --test", table)
    assert (found.returncode, found.stderr) == (0, "")
    refused = isolated(f"{command}-restore --test", "*filter\n-I INPUT -p tcp --dport 65536 -j ACCEPT\nCOMMIT\n")
    assert refused.returncode != 0 and "invalid port" in refused.stderr


def test_ufw_lines_are_what_ufw_dry_run_turns_into_rules():
    rules = lines_of("ufw")
    assert rules == [
        "ufw allow 8080/tcp",
        "ufw allow 5353/udp",
        "ufw allow 6000:6010/tcp",
        "ufw allow 60000:61000/udp",
        "ufw allow 1:65535/tcp",
    ]
    expected = ["-p tcp --dport 8080", "-p udp --dport 5353", "-p tcp -m multiport --dports 6000:6010"]
    expected += ["-p udp -m multiport --dports 60000:61000", "-p tcp -m multiport --dports 1:65535"]
    for line, rule in zip(rules, expected):
        found = isolated(f"ufw --dry-run {line.removeprefix('ufw ')}")
        assert found.returncode == 0, found.stderr
        # The IPv4 and the IPv6 rule ufw would write.
        assert f"-A ufw-user-input {rule} -j ACCEPT" in found.stdout.splitlines(), line
        assert f"-A ufw6-user-input {rule} -j ACCEPT" in found.stdout.splitlines(), line
    refused = isolated("ufw --dry-run allow 65536/tcp")
    assert refused.returncode == 1 and "Bad port" in refused.stdout + refused.stderr


def test_firewalld_lines_are_accepted_by_firewall_offline_cmd_on_a_copy_of_its_configuration():
    rules = lines_of("firewalld")
    assert rules[-1] == "firewall-cmd --reload"
    adds = rules[:-1]
    assert all(line.startswith("firewall-cmd --permanent --add-port=") for line in adds)
    # firewall-offline-cmd takes firewall-cmd's --permanent options, on the files, no daemon needed.
    offline = "\n".join("firewall-offline-cmd " + line.removeprefix("firewall-cmd --permanent ") for line in adds)
    found = isolated(
        'copy=$(mktemp -d)\ncp -a /etc/firewalld/. "$copy"/\nmount --bind "$copy" /etc/firewalld\n'
        f"{offline}\nfirewall-offline-cmd --list-ports\nfirewall-offline-cmd --check-config\n"
        'umount /etc/firewalld\nrm -rf "$copy"'
    )
    assert found.returncode == 0, found.stderr
    *added, listed = found.stdout.splitlines()
    assert added == ["success"] * len(adds)
    # firewalld merges what overlaps: 1-65535/tcp takes in 8080/tcp and 6000-6010/tcp.
    assert sorted(listed.split()) == ["1-65535/tcp", "5353/udp", "60000-61000/udp"]
    refused = isolated(
        'copy=$(mktemp -d)\ncp -a /etc/firewalld/. "$copy"/\nmount --bind "$copy" /etc/firewalld\n'
        "firewall-offline-cmd --add-port=65536/tcp"
    )
    assert refused.returncode != 0 and "INVALID_PORT" in refused.stdout + refused.stderr


def test_windows_lines_are_new_netfirewallrule_exactly():
    # No PowerShell here to parse them: the exact text, as Microsoft documents the cmdlet's parameters.
    assert lines_of("windows", [(8080, 8080, "tcp"), (6000, 6010, "udp")]) == [
        'New-NetFirewallRule -DisplayName "Port 8080/tcp" -Direction Inbound -Protocol TCP -LocalPort 8080 '
        "-Action Allow",
        'New-NetFirewallRule -DisplayName "Port 6000-6010/udp" -Direction Inbound -Protocol UDP -LocalPort 6000-6010 '
        "-Action Allow",
    ]


@pytest.mark.slow
def test_the_host_firewall_files_are_untouched():
    # Run last in the module: the checks above edited copies only.
    def digest(folder):
        return {
            str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).rglob("*")) if p.is_file()
        }

    before = {f: digest(f) for f in ("/etc/ufw", "/etc/firewalld")}
    test_ufw_lines_are_what_ufw_dry_run_turns_into_rules()
    test_firewalld_lines_are_accepted_by_firewall_offline_cmd_on_a_copy_of_its_configuration()
    assert {f: digest(f) for f in ("/etc/ufw", "/etc/firewalld")} == before


def test_a_port_page_opens_the_port_on_tcp_and_udp_and_port_0_has_no_lines():
    assert firewall.of_port(0) is None
    assert firewall.of_port(5432) == {
        "ufw": ["ufw allow 5432/tcp", "ufw allow 5432/udp"],
        "firewalld": [
            "firewall-cmd --permanent --add-port=5432/tcp",
            "firewall-cmd --permanent --add-port=5432/udp",
            "firewall-cmd --reload",
        ],
        "nftables": [
            "nft insert rule inet filter input tcp dport 5432 accept",
            "nft insert rule inet filter input udp dport 5432 accept",
        ],
        "iptables": [
            "iptables -I INPUT -p tcp --dport 5432 -j ACCEPT",
            "ip6tables -I INPUT -p tcp --dport 5432 -j ACCEPT",
            "iptables -I INPUT -p udp --dport 5432 -j ACCEPT",
            "ip6tables -I INPUT -p udp --dport 5432 -j ACCEPT",
        ],
        "windows": [
            'New-NetFirewallRule -DisplayName "Port 5432/tcp" -Direction Inbound -Protocol TCP -LocalPort 5432 '
            "-Action Allow",
            'New-NetFirewallRule -DisplayName "Port 5432/udp" -Direction Inbound -Protocol UDP -LocalPort 5432 '
            "-Action Allow",
        ],
    }


@pytest.fixture(scope="module")
def store(db_2026):
    s = Store.open(db_2026)
    yield s
    s.close()


def test_a_service_opens_its_registered_tcp_and_udp_ports(store):
    assert read.firewall(store, "x11", "ufw") == {
        "target": "x11",
        "openings": [
            {"first": 6000, "last": 6063, "transport": "tcp"},
            {"first": 6000, "last": 6063, "transport": "udp"},
        ],
        "lines": {"ufw": ["ufw allow 6000:6063/tcp", "ufw allow 6000:6063/udp"]},
        "tools": {"ufw": "ufw (Ubuntu, Debian)"},
    }
    assert read.firewall(store, "postgresql/tcp", "nftables,iptables")["lines"] == {
        "nftables": ["nft insert rule inet filter input tcp dport 5432 accept"],
        "iptables": [
            "iptables -I INPUT -p tcp --dport 5432 -j ACCEPT",
            "ip6tables -I INPUT -p tcp --dport 5432 -j ACCEPT",
        ],
    }
    assert read.firewall(store, "6000:6010/UDP", "firewalld")["lines"] == {
        "firewalld": ["firewall-cmd --permanent --add-port=6000-6010/udp", "firewall-cmd --reload"]
    }


@pytest.mark.parametrize(
    "target, tools, error, message",
    [
        ("8080/sctp", None, BadQuery, "Firewall lines are for tcp and udp only, not sctp."),
        ("8080/ipx", None, BadQuery, "Transport must be one of tcp, udp, sctp, dccp."),
        ("0", None, BadQuery, "A firewall opens ports 1 to 65535, the first not above the last."),
        ("70000/tcp", None, BadQuery, "A firewall opens ports 1 to 65535, the first not above the last."),
        ("6010-6000", None, BadQuery, "A firewall opens ports 1 to 65535, the first not above the last."),
        ("8080", "ufw,pf", BadQuery, "The firewall must be some of ufw, firewalld, nftables, iptables, windows"),
        ("ssh/sctp", None, BadQuery, "ssh has no sctp port in the IANA registry to open."),
        ("no-such-service", None, NotFound, "No service by that name in the IANA registry."),
        ("two words", None, BadQuery, "Open what? A port (8080, 8080/tcp), a block (6000-6010/udp) or a service"),
    ],
)
def test_what_cannot_be_opened_is_one_line(store, target, tools, error, message):
    with pytest.raises(error) as caught:
        read.firewall(store, target, tools)
    assert str(caught.value).startswith(message)


SCRIPT = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "iana-ports"


def run(*args, db) -> subprocess.CompletedProcess:
    return subprocess.run([str(SCRIPT), *args, "--db", str(db)], capture_output=True, text=True, timeout=60)


def test_the_command_prints_one_tools_lines_bare_and_the_json_is_the_read_sides(store, db_2026):
    assert (run("firewall", "8080/tcp", "--for", "ufw", db=db_2026).stdout) == "ufw allow 8080/tcp\n"
    found = run("firewall", "x11", "--json", db=db_2026)
    assert (found.returncode, found.stderr) == (0, "")
    assert json.loads(found.stdout) == read.firewall(store, "x11")
    text = run("firewall", "22/tcp", db=db_2026).stdout.splitlines()
    assert text[:3] == ["ufw (Ubuntu, Debian):", "  ufw allow 22/tcp", ""]
    assert (
        '  New-NetFirewallRule -DisplayName "Port 22/tcp" -Direction Inbound -Protocol TCP -LocalPort 22 '
        "-Action Allow" in text
    )


@pytest.mark.parametrize(
    "args, line",
    [
        (["firewall", "8080/sctp"], "iana-ports: Firewall lines are for tcp and udp only, not sctp.\n"),
        (
            ["firewall", "8080", "--for", "pf"],
            "iana-ports: The firewall must be some of ufw, firewalld, nftables, iptables, windows (comma-separated).\n",
        ),
        (["ssh", "--local"], "iana-ports: --local looks up a port here: iana-ports 5000 --local\n"),
    ],
)
def test_the_commands_bad_input_is_one_line_and_status_2(db_2026, args, line):
    found = run(*args, db=db_2026)
    assert (found.returncode, found.stdout, found.stderr) == (2, "", line)
