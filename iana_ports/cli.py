"""iana-ports: the registry in a terminal, offline, from a built database.

    iana-ports 60878 | 22/tcp | ssh        what the lookup box answers
    iana-ports search TEXT                 the search page
    iana-ports free --near 8000            the free-port finder (--local: also free on this machine)
    iana-ports listening                   what listens on this machine, against the registry
    iana-ports 5000 --local                a port, and what listens on it here
    iana-ports firewall 8080/tcp           the lines that open it in ufw, firewalld, nftables, ...
    iana-ports changes [--since DATE]      the changes page
    iana-ports export --out DIR            every export of the build (make exports)

It reads the build through the same read side as the pages (iana_ports.read),
over a Store: a handful of indexed queries, where the server's MemoryStore
would load the whole build before answering. `--json` prints the bytes the
page's JSON would be for the same database. Nothing here imports Datasette,
httpx or Jinja2: a lookup has to start about as fast as Python itself.

Exit status: 0 answered, 1 nothing found, 2 bad input, 3 no usable database,
4 the exports could not be written.
"""

import argparse
import json
import os
import re
import sqlite3
import sys
import textwrap

from . import databases, read
from .errors import BadQuery, NotFound, PortsError
from .firewall import TOOLS as FIREWALLS
from .facts import DB_ENV, DEFAULT_DB, EVERYDAY_TRANSPORTS, IANA_CSV_URL, OS_LABELS, TRANSPORTS, row_transports
from .store import NotABuild, Store
from .text import and_list

PROG = "iana-ports"
NOT_FOUND, BAD_INPUT, NO_DATABASE, CANNOT_WRITE = 1, 2, 3, 4
EXIT_FOR_STATUS = {404: NOT_FOUND, 400: BAD_INPUT, 503: NO_DATABASE}
# sys.platform -> the OS whose listening commands a summary shows (facts.LISTENING_COMMANDS).
PLATFORMS = {"linux": "linux", "darwin": "macos", "win32": "windows", "cygwin": "windows"}
# Descriptions in lists are cut to this many characters; --json has them whole.
LIST_TEXT = 60
USES_SHOWN = 8
# A port's own: the ones a user trips on first (iana_ports.verdict.use_order) come first.
PORT_USES_SHOWN = 20


class Failure(Exception):
    """One line for stderr, and the exit status."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other error of the command."""

    def error(self, message):
        raise Failure(f"{message} (see {self.prog} --help)", BAD_INPUT)


EPILOG = (
    f"A first word that is not a command is looked up: `{PROG} 22`, `{PROG} 22/tcp`, `{PROG} ssh`. "
    f"Exit status: 0 answered, {NOT_FOUND} nothing found, {BAD_INPUT} bad input, {NO_DATABASE} no usable database, "
    f"{CANNOT_WRITE} exports not written."
)


def _lookup_arguments(p):
    p.add_argument("text", nargs="+", metavar="TEXT")
    _os_argument(p)
    p.add_argument("--local", action="store_true", help="a port: also what listens on it on this machine")


def _os_argument(p):
    p.add_argument(
        "--os",
        metavar="LIST",
        help="platforms to judge the verdict for, comma-separated, some of default, "
        + ", ".join(OS_LABELS)
        + " (default: linux,windows,macos); the listening commands shown are the first one's "
        "(default: the OS it runs on)",
    )


def _search_arguments(p):
    # Optional here so a bare `iana-ports search` can say how to look up the service named search.
    p.add_argument("text", nargs="*", metavar="TEXT")
    # Checked by the read side, so the message is the page's.
    p.add_argument("--transport", default="", metavar="T", help="only rows for " + ", ".join(TRANSPORTS))
    p.add_argument("--next", metavar="N", help="start at this row (what the previous page says)")


def _free_arguments(p):
    p.add_argument("--near", required=True, metavar="PORT")
    p.add_argument(
        "--transports",
        default=",".join(EVERYDAY_TRANSPORTS),
        metavar="LIST",
        help="comma-separated, some of " + ", ".join(TRANSPORTS) + " (default: tcp,udp)",
    )
    p.add_argument("--count", metavar="N", help=f"how many, 1 to {read.MAX_FREE} (default: 10)")
    _os_argument(p)
    p.add_argument(
        "--local",
        action="store_true",
        help="only ports also free on this machine: not bound now, outside its ephemeral range and reserved ports",
    )


def _listening_arguments(p):
    pass


def _firewall_arguments(p):
    p.add_argument("text", nargs="+", metavar="TARGET", help="8080, 8080/tcp, 6000-6010/udp or a service name")
    p.add_argument("--for", dest="tools", metavar="LIST", help="some of " + ", ".join(FIREWALLS) + " (default: all)")


def _changes_arguments(p):
    p.add_argument("--since", metavar="DATE", help="registry versions dated on or after YYYY-MM-DD")
    p.add_argument("--kind", metavar="KIND", help="one of " + ", ".join(read.CHANGE_KINDS))
    p.add_argument("--port", metavar="PORT", help="changes to rows covering this port")
    p.add_argument("--service", metavar="NAME", help="changes to this service name (old or new)")
    p.add_argument("--ingest", metavar="N", help="changes seen by this ingest")
    p.add_argument("--size", metavar="N", help=f"changes per page (default: {read.CHANGES_PAGE})")
    p.add_argument("--next", metavar="KEY", help="start after this change (what the previous page says)")


def _serve_arguments(p):
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", default="8001", help="port to listen on (default: 8001)")
    p.add_argument(
        "--setting",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="a Datasette setting over the package's settings.json (sql_time_limit_ms 2000, base_url /ports/)",
    )


def _update_arguments(p):
    p.add_argument("--source", default=IANA_CSV_URL, help="URL or local path of the registry CSV (default: IANA's)")
    p.add_argument("--force", action="store_true", help="rebuild even when the source is unchanged")


def _export_arguments(p):
    p.add_argument("--out", required=True, metavar="DIR")


# command -> (one-line help, its arguments)
COMMANDS = {
    "lookup": (
        "a port (22, 22/tcp), a service name (ssh), else a search: the lookup box (the default command)",
        _lookup_arguments,
    ),
    "search": ("registry rows matching words or ports: the search page", _search_arguments),
    "free": ("good ports for your own service near a port", _free_arguments),
    "listening": (
        "every listening socket on this machine, its process, and what the registry says of its port",
        _listening_arguments,
    ),
    "firewall": (
        "the lines that open a port or a service in ufw, firewalld, nftables, iptables and Windows",
        _firewall_arguments,
    ),
    "changes": ("what changed between the registry versions the database holds", _changes_arguments),
    "export": (
        "write services (/etc/services), ports.json, ports.csv, iana.db and SHA256SUMS to a folder",
        _export_arguments,
    ),
    "serve": ("serve the site, its JSON and MCP endpoint on the database (what `make serve` runs)", _serve_arguments),
    "update": ("download the registry (or read --source) and rebuild the database it reads", _update_arguments),
}
# Commands that work on the database file itself rather than read a build.
OWN_DATABASE = {"serve", "update"}


def command_parser(name: str) -> Parser:
    """The parser of one command only: building all of them costs a lookup milliseconds."""
    summary, add_arguments = COMMANDS[name]
    p = Parser(prog=f"{PROG} {name}", description=summary[0].upper() + summary[1:] + ".", epilog=EPILOG)
    p.add_argument(
        "--db",
        metavar="PATH",
        help=f"the built database (default: ${DB_ENV}, else {DEFAULT_DB} if it exists, else the one "
        f"`{PROG} update` keeps, else the wheel's own)",
    )
    p.add_argument("--json", action="store_true", help="print the JSON the web page gives, byte for byte")
    p.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default="auto",
        help="colour the text: auto (the default) on a terminal, unless NO_COLOR is set",
    )
    add_arguments(p)
    return p


def top_parser() -> Parser:
    """For `iana-ports --help` and a bare `iana-ports`: the commands and what they do."""
    top = Parser(
        prog=PROG,
        description="IANA's service names and port numbers, offline, from a built database "
        "(`iana-ports update` makes or refreshes one; an installed wheel carries one).",
        epilog=EPILOG,
    )
    commands = top.add_subparsers(metavar="COMMAND")
    for name, (summary, _) in COMMANDS.items():
        commands.add_parser(name, help=summary)
    return top


# Options that take a value, so the word after one is not taken for the command.
VALUE_OPTIONS = {
    "--db",
    "--os",
    "--transport",
    "--next",
    "--near",
    "--transports",
    "--count",
    "--since",
    "--kind",
    "--port",
    "--service",
    "--ingest",
    "--size",
    "--out",
    "--color",
    "--host",
    "--source",
    "--for",
}


def with_command(argv: list[str]) -> list[str]:
    """The command word first, wherever it was typed; `lookup` when the first word is not one."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return ["lookup", *argv]
        if arg in VALUE_OPTIONS:
            i += 2
        elif arg.startswith("-") and not arg[1:].isdigit():  # `iana-ports -5` is a (bad) port
            i += 1
        elif arg in COMMANDS:
            return [arg, *argv[:i], *argv[i + 1 :]]
        else:
            return ["lookup", *argv]
    # No word at all: `iana-ports --help` is the top help; anything else is a lookup missing its text.
    return argv if {"-h", "--help"} & set(argv) else ["lookup", *argv]


def serve(args) -> int:
    """Datasette on the database, configured from the package (iana_ports/web/config), behind the
    server that bounds each client (iana_ports/web/server.py); runs until stopped."""
    from .web import server
    from .web.render import CONFIG

    path = databases.find(args.db)
    open_store(path).close()  # a missing or foreign file is one line here, not a server's traceback
    settings = [word for pair in args.setting for word in ("--setting", *pair)]
    server.main(["serve", str(CONFIG), "-i", str(path), "--host", args.host, "--port", str(args.port), *settings])
    return 0


def update(args) -> int:
    """The ingest (iana_ports/ingest) into the database the command reads."""
    from .ingest.__main__ import main as ingest

    path = databases.target(args.db)
    path.parent.mkdir(parents=True, exist_ok=True)
    return ingest(["--source", args.source, "--db", str(path), *(["--force"] if args.force else [])])


def open_store(path) -> Store:
    path = os.fspath(databases.find(path))
    hint = f"build one with `{PROG} update` (or `make data` in a checkout), or point --db or ${DB_ENV} at one"
    if not os.path.exists(path):
        raise Failure(f"no database at {path}: {hint}", NO_DATABASE)
    if not os.path.isfile(path):
        raise Failure(f"{path} is not a file: {hint}", NO_DATABASE)
    try:
        return Store.open(path)
    except NotABuild as exc:
        raise Failure(f"{path} is {exc}: {hint}", NO_DATABASE) from None
    except OSError as exc:
        raise Failure(f"cannot read {path}: {exc.strerror or exc}", NO_DATABASE) from None


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        top_parser().print_usage(sys.stderr)
        return BAD_INPUT
    try:
        command, *rest = with_command(argv)
        if command not in COMMANDS:
            top_parser().parse_args(argv)  # --help: prints it and exits
        # Intermixed: `iana-ports 22 --json` and `iana-ports search secure --transport tcp shell`.
        args = command_parser(command).parse_intermixed_args(rest)
        args.command = command
        if command in OWN_DATABASE:
            return serve(args) if command == "serve" else update(args)
        store = open_store(args.db)
        try:
            return run(args, store)
        finally:
            store.close()
    except Failure as exc:
        return fail(str(exc), exc.status)
    except PortsError as exc:
        # The read side's errors, by their HTTP status: the command's one mapping of them.
        line = not_found_line(exc) if isinstance(exc, NotFound) else str(exc)
        return fail(line, EXIT_FOR_STATUS.get(exc.status, BAD_INPUT))
    except sqlite3.Error as exc:
        # A file that opened as a build but cannot answer (an older layout, a damaged page).
        return fail(f"the database cannot answer: {exc}", NO_DATABASE)
    except BrokenPipeError:
        # `iana-ports search x | head`: the reader left; nothing to say.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130


def fail(message: str, status: int) -> int:
    print(f"{PROG}: {' '.join(message.split())}", file=sys.stderr)
    return status


def not_found_line(exc: NotFound) -> str:
    line = str(exc)
    suggestions = exc.context.get("suggestions")
    if suggestions:
        names = suggestions[:5]
        line += " Did you mean " + (f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]) + "?"
    return line


def run(args, store: Store) -> int:
    out = Output(args.json, args.color)
    if args.command == "lookup":
        return lookup(store, " ".join(args.text), out, args.os, args.local)
    if args.command == "search":
        if not args.text:
            raise Failure(f"search needs TEXT (the service named search: {PROG} lookup search)", BAD_INPUT)
        return search(store, " ".join(args.text), args.transport, args.next, out)
    if args.command == "free":
        return free(store, args.near, args.transports, args.count, read.targets(args.os), out, args.local)
    if args.command == "listening":
        return listening(store, out)
    if args.command == "firewall":
        return firewall(store, " ".join(args.text), args.tools, out)
    if args.command == "changes":
        return changes(store, args, out)
    return export(store, args.out, out)


class Output:
    """stdout for the answer: JSON bytes as the page gives them, or text for a person,
    wrapped to $COLUMNS or the terminal's width (80 when neither says)."""

    def __init__(self, as_json: bool, color: str = "auto"):
        self.as_json = as_json
        self.color = color

    def json(self, data) -> None:
        stream = sys.stdout.buffer
        # The standard library's encoder, written as orjson writes the pages' JSON: orjson's
        # import alone (dataclasses, uuid, ...) was a fifth of a lookup's start-up.
        stream.write(json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode())
        # The page's bytes exactly; a newline only for a person at a terminal.
        if sys.stdout.isatty():
            stream.write(b"\n")
        stream.flush()

    def text(self, fill, *args) -> None:
        """fill(doc, *args) writes the text; it goes out in one write."""
        import shutil  # its imports (bz2, lzma, ...) cost --json a few milliseconds of start-up

        doc = Doc(shutil.get_terminal_size().columns, wants_colour(self.color, sys.stdout))
        fill(doc, *args)
        self.lines(doc.lines)

    def lines(self, lines: list[str]) -> None:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()


# The forms


def lookup(store, text: str, out: Output, os_text: str | None, here: bool = False) -> int:
    on = read.targets(os_text)
    kind, target = read.lookup(store, text)
    if here and kind != "port":
        raise BadQuery(f"--local looks up a port here: {PROG} 5000 --local")
    if kind == "port":
        facts = read.port(store, target, on)
        if here:
            from . import local  # psutil: only the local view pays for it

            facts["local"] = local.on_port(store, target)
            out.json(facts) if out.as_json else out.text(port_here_text, facts)
            return 0
        # The listening commands: the first named platform that has some, else this machine's.
        named = [o for o in on if o in facts["commands"]] if os_text else []
        system = named[0] if named else PLATFORMS.get(sys.platform)
        out.json(facts) if out.as_json else out.text(port_text, facts, system)
        return 0
    if kind == "service":
        facts = read.service(store, target)
        out.json(facts) if out.as_json else out.text(service_text, facts)
        return 0
    results = read.search(store, text, "", 0, SEARCH_PATH)
    if not results["count"] and not results["common_uses"]:
        raise NotFound(
            f'No port, service name or registry entry matches "{text.strip()}".',
            suggestions=read.suggestions(store, text.strip()),
        )
    out.json(results) if out.as_json else out.text(search_text, results)
    return 0


def search(store, text: str, transport: str, offset, out: Output) -> int:
    offset = read.whole_number(offset, "--next", 0, 10**9) or 0
    results = read.search(store, text, transport, offset, SEARCH_PATH)
    out.json(results) if out.as_json else out.text(search_text, results)
    return 0


# Where the search page's next page lives (base_url "/"), so `next` is the same in both.
SEARCH_PATH = "/search.json"


def free(store, near: str, transports: str, count, on, out: Output, here: bool = False) -> int:
    wanted = [t for t in transports.split(",") if t] or list(EVERYDAY_TRANSPORTS)
    # read.free() checks near and count, with the page's words.
    if here:
        from . import local

        found = local.free(store, near, wanted, count or 10, on)
    else:
        found = read.free(store, near, wanted, count or 10, on)
    out.json(found) if out.as_json else out.text(free_text, found)
    return 0


def listening(store, out: Output) -> int:
    from . import local

    found = local.listening(store)
    out.json(found) if out.as_json else out.text(listening_text, found)
    return 0


def firewall(store, text: str, tools: str | None, out: Output) -> int:
    found = read.firewall(store, text, tools)
    out.json(found) if out.as_json else out.text(firewall_text, found)
    return 0


def changes(store, args, out: Output) -> int:
    given = {
        "kind": args.kind,
        "port": args.port,
        "service": args.service,
        "ingest": args.ingest,
        "since": args.since,
        "_size": args.size,
        "_next": args.next,
    }
    # The page's own answer, its `next` link as the page writes it with base_url "/".
    found = read.change_page(store, {k: v for k, v in given.items() if v is not None}, "/changes.json")
    if out.as_json:
        out.json(found)
    else:
        out.text(changes_text, found)
    return 0


def export(store, out_dir: str, out: Output) -> int:
    from . import exports  # only this command needs it

    try:
        written = exports.write_all(store, out_dir)
    except OSError as exc:
        raise Failure(f"cannot write {exc.filename or out_dir}: {exc.strerror or exc}", CANNOT_WRITE) from None
    if out.as_json:
        out.json({"out": os.fspath(out_dir), "files": written})
    else:
        out.lines([f"{f['name']:<12} {f['bytes']:>11,} bytes  sha256 {f['sha256']}" for f in written])
    return 0


# Text for a person

# The shortest lines the text is wrapped to, however narrow the terminal says it is.
MIN_WIDTH = 40
# ANSI SGR codes: (on, off), the off code undoing only what the on code did, so a colour
# inside bold text would leave the rest bold.
BOLD = ("1", "22")
LEVEL_STYLES = {"good": ("32", "39"), "caution": ("33", "39"), "avoid": ("31", "39")}  # green, yellow, red
COLOR_CHOICES = ("never", "auto", "always")


def wants_colour(choice: str, stream) -> bool:
    """--color: always, never, or (auto) on a terminal unless NO_COLOR is set (no-color.org) or TERM is dumb."""
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


class Doc:
    """Lines for a person, wrapped to the terminal's width at spaces only, never inside a word,
    a number or a command; colour only when asked for.

    Colour is added after wrapping, to whole words, so the escape codes never count as width.
    """

    def __init__(self, width: int, colour: bool):
        self.width = max(width, MIN_WIDTH)
        self.colour = colour
        self.lines: list[str] = []

    def paint(self, text: str, style) -> str:
        return f"\x1b[{style[0]}m{text}\x1b[{style[1]}m" if self.colour else text

    def wrapped(self, text: str, first: str = "", rest: str | None = None) -> list[str]:
        wrapper = textwrap.TextWrapper(
            self.width,
            initial_indent=first,
            subsequent_indent=" " * len(first) if rest is None else rest,
            break_long_words=False,
            break_on_hyphens=False,
        )
        return wrapper.wrap(" ".join(text.split())) or [first.rstrip()]

    def para(self, text: str, first: str = "", rest: str | None = None, accent=None) -> None:
        """`text` as one paragraph; `accent` (word, style) colours the word's first appearance."""
        self.lines += self._accented(self.wrapped(text, first, rest), accent)

    def heading(self, text: str) -> None:
        if self.lines:
            self.lines.append("")
        self.lines += [self.paint(line, BOLD) for line in self.wrapped(text)]

    def item(self, text: str) -> None:
        self.para(text, "  - ", "    ")

    def row(self, label: str, text: str, label_width: int) -> None:
        """A two-column line: the text wraps under itself, beside the label."""
        self.para(text, f"  {label:<{label_width}}  ", " " * (label_width + 4))

    def verbatim(self, line: str) -> None:
        """A command to copy: never wrapped."""
        self.lines.append(line)

    def _accented(self, lines: list[str], accent) -> list[str]:
        if not accent or not self.colour:
            return lines
        word, style = accent
        pattern = re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])")
        for i, line in enumerate(lines):
            if pattern.search(line):
                lines[i] = pattern.sub(self.paint(word, style), line, count=1)
                break
        return lines


def level_accent(level: str):
    return level, LEVEL_STYLES[level]


def port_text(doc: Doc, p: dict, os_id: str | None) -> None:
    """A port in the port page's order and words: what it is, whether you can use it and why,
    then the details."""
    number, rng, verdict = p["port"], p["range"], p["verdict"]
    doc.para(p["lead"])
    why = main_reason(verdict)
    doc.para(f"For your own service: {verdict['level']}. {why}", accent=level_accent(verdict["level"]))
    doc.heading("Status")
    groups: dict[str, list[str]] = {}
    for t, v in p["transports"].items():
        run = v["unassigned_run"]
        detail = v["status"] + (f" to {', '.join(v['services'])}" if v["services"] else "")
        if run:
            detail += f", unassigned run {run['first']}–{run['last']}"
        groups.setdefault(detail, []).append(t)
    labels = {detail: ", ".join(on) + ":" for detail, on in groups.items()}
    width = max(map(len, labels.values()))
    for detail, label in labels.items():
        doc.row(label, detail, width)
    doc.para(f"Range: {rng['name']} {rng['first']}–{rng['last']} ({rng['common_name'].lower()})", "  ")
    if p["common_uses"]:
        doc.heading(f"Software known to use port {number} {NOT_IANA}")
        for u in p["common_uses"][:PORT_USES_SHOWN]:
            doc.item(use_text(u))
        more(doc, p["common_uses"], PORT_USES_SHOWN)
    doc.heading(f"Can you use port {number}?")
    # The software once, as a count: the list above names it.
    named = verdict["software_reasons"]
    if named:
        doc.item("The software above listens here." if named == 1 else f"{named} of the programs above listen here.")
    for reason in verdict["reasons"][named:]:
        if reason != why:
            doc.item(reason)
    for note in verdict["notes"]:
        doc.item(f"Note: {note}")
    on = and_list(OS_LABELS[t] for t in verdict["targets"])
    doc.para(f"Judged for tcp and udp on {on}; --os chooses the platforms (--os default,freebsd adds FreeBSD).", "  ")
    entries = registry_entries(p["registrations"])
    if len(entries) > 1:
        # One entry is the lead's sentence already.
        doc.heading("Registry entries")
        for entry in entries:
            doc.item(entry)
    systems = [os_id] if os_id in p["commands"] else list(p["commands"])
    for system in systems:
        doc.heading(f"What is listening on port {number}? ({OS_LABELS[system]})")
        for command in p["commands"][system]:
            doc.verbatim(f"  {command}")
        if any(e["os"] == system for e in p["ephemeral"]):
            # What someone reading netstat on this port most likely sees.
            doc.para(
                f"{OS_LABELS[system]} hands this port out as a temporary client port: a connection you see "
                "on it is most likely one, gone seconds later.",
                "  ",
            )
    nearby = sorted(n["port"] for n in [*p["free_nearby"]["below"], *p["free_nearby"]["above"]])
    doc.heading("Free ports nearby")
    # "Nearby": for a Dynamic port they can be tens of thousands away.
    doc.para(" ".join(map(str, nearby)) if nearby else "No good port is near.", "  ")


NOT_IANA = "(not from IANA)"


def main_reason(verdict: dict) -> str:
    """The verdict's reason the port page gives beside its level: the first that does not name
    software (the lead names it), else the first."""
    reasons, named = verdict["reasons"], verdict["software_reasons"]
    return reasons[named] if len(reasons) > named else reasons[0]


def sentence(text: str) -> str:
    """A registry description inside a sentence: one line, without its own full stop."""
    return " ".join(text.split()).rstrip(".")


def registry_entries(registrations: list[dict]) -> list[str]:
    """A port's named registry rows, the names that say the same on the same transports together:
    "http, www and www-http on tcp and udp: World Wide Web HTTP"."""
    per_name: dict[tuple, list[str]] = {}
    for r in registrations:
        if r["service_name"]:
            key = (r["service_name"], sentence(r["description"] or ""))
            per_name.setdefault(key, []).extend(row_transports(r["service_name"], r["transport"]))
    grouped: dict[tuple, list[str]] = {}
    for (name, what), on in per_name.items():
        grouped.setdefault((what, tuple(on)), []).append(name)
    return [
        f"{and_list(names)} on {and_list(on)}" + (f": {what}" if what else "") for (what, on), names in grouped.items()
    ]


def where_used(u: dict) -> str:
    where = f"{u['first']}–{u['last']}" if u["first"] != u["last"] else str(u["first"])
    return where + "/" + "/".join(u["transports"])


# What a common use is, when not the software's built-in default: the port page's words.
KIND_WORDS = {"default": "", "example": " (documented example)", "range": " (a block it draws from)"}


def use_text(u: dict, source: bool = True) -> str:
    return (
        f"{u['software']}{KIND_WORDS[u['kind']]}: {u['description']} "
        f"({where_used(u)}{'; ' + u['source'] if source else ''})"
    )


def uses_text(doc: Doc, heading: str, uses: list[dict]) -> None:
    """Common uses matching a name or words: often dozens ("http"), so the first few."""
    if not uses:
        return
    doc.heading(f"{heading} {NOT_IANA}")
    for u in uses[:USES_SHOWN]:
        doc.item(use_text(u, source=False))
    more(doc, uses, USES_SHOWN)


def more(doc: Doc, uses: list[dict], shown: int) -> None:
    if len(uses) > shown:
        doc.para(f"... and {len(uses) - shown} more (--json has them all)", "  ")


def service_text(doc: Doc, s: dict) -> None:
    svc = s["service"]
    lead = f"{svc['name']}: {sentence(svc['description']) if svc['description'] else 'no description in the registry'}."
    ports: dict[str, list[str]] = {}
    for r in s["registrations"]:
        if r["port"]:
            ports.setdefault(r["port"], []).extend(row_transports(r["service_name"], r["transport"]))
    where = [f"{port}/{'/'.join(dict.fromkeys(ts))}" for port, ts in ports.items()]
    lead += f" IANA lists it on {and_list(where)}." if where else " IANA lists it without a port."
    if svc["historic"]:
        lead += " IANA marks this name historic."
    if s["alias_of"]:
        lead += f" An alias of {s['alias_of']['name']}."
    if s["aliases"]:
        lead += f" Aliases: {', '.join(a['name'] for a in s['aliases'])}."
    doc.para(lead)
    doc.heading("Registry entries")
    for r in s["registrations"]:
        where = f"{r['port']}/{'/'.join(row_transports(r['service_name'], r['transport']))}" if r["port"] else "no port"
        doc.row(where, listed(r["description"]), 18)
    # As the service page orders them: the software on the service's own ports first, then what names it.
    uses_text(doc, f"Software on its ports or naming “{svc['name']}”", s["common_uses"])


def search_text(doc: Doc, r: dict) -> None:
    for p in r["ports"]:
        names = " ".join(p["services"])
        doc.para(
            f"Port {p['port']}: {p['status']}{' (' + names + ')' if names else ''}, verdict {p['verdict']}",
            accent=level_accent(p["verdict"]),
        )
    shown = len(r["rows"])
    where = f" on {r['transport']}" if r["transport"] else ""
    if shown:
        matches = "1 registry row matches" if r["count"] == 1 else f"{r['count']} registry rows match"
        doc.para(f'{matches} "{r["q"]}"{where}; showing {r["offset"] + 1}-{r["offset"] + shown}:')
    else:
        doc.para(f'No registry rows match "{r["q"]}"{where}.')
    for row in r["rows"]:
        at = row["port"] or "-"
        if row["port"]:
            at += "/" + "/".join(row_transports(row["service_name"], row["transport"]))
        # Continued under the description column, however long the port or the name.
        doc.para(listed(row["description"]), f"  {at:<18} {row['service_name'] or '':<16} ", " " * 38)
    if r["next"]:
        doc.para(
            f"More: {PROG} search {r['q']} --next {r['offset'] + shown}"
            + (f" --transport {r['transport']}" if r["transport"] else "")
        )
    uses_text(doc, f"Software matching “{r['q']}”", r["common_uses"])


def free_text(doc: Doc, f: dict) -> None:
    on = ", ".join(OS_LABELS[t] for t in f["targets"])
    here = " and free on this machine" if "local" in f else ""
    doc.para(
        f"Free ports near {f['near']} for your own {and_list(f['transports'])} service ({on}){here}, nearest first:"
    )
    for p in f["ports"]:
        doc.verbatim(f"  {p['port']:>5}  ({p['distance']} away)")
    if not f["ports"]:
        doc.verbatim("  none")
    if "local" in f:
        mine = f["local"]
        if mine["ephemeral"]:
            e = mine["ephemeral"]
            kept = and_list([span_text(r) for r in mine["reserved"]]) or "none"
            doc.para(f"This machine hands out {span_text(e)} as client ports; reserved: {kept}.", "  ")
        for s in mine["skipped"]:
            doc.para(f"Skipped {s['port']}: {s['why']}.", "  ")
    if f["note"]:
        doc.para(f"Note: {f['note']}")


def span_text(r: dict) -> str:
    return str(r["first"]) if r["first"] == r["last"] else f"{r['first']}–{r['last']}"


def socket_text(doc: Doc, s: dict) -> None:
    """One listening socket: where, which process, then what the registry and the project say of its port."""
    address = f"[{s['address']}]" if ":" in s["address"] else s["address"]
    who = s["process"] or "(process hidden)"
    if s["pid"] is not None:
        who += f" (pid {s['pid']}" + (f", {s['user']})" if s["user"] else ")")
    doc.para(f"{address}:{s['port']}/{s['transport']}  {who}", "  ", "      ")
    said = f"IANA: {s['status']}" + (f" to {and_list(s['services'])}" if s["services"] else "")
    said += f"; for your own service: {s['verdict']}"
    doc.para(said + ".", "      ", accent=level_accent(s["verdict"]))
    if s["common_uses"]:
        names = s["common_uses"][:USES_SHOWN]
        extra = f" and {len(s['common_uses']) - len(names)} more" if len(s["common_uses"]) > len(names) else ""
        doc.para(f"Known there {NOT_IANA}: {', '.join(names)}{extra}.", "      ")
    if s["known_for"]:
        doc.para(f"It looks like {s['known_for']}.", "      ")
    elif s["unexpected"]:
        doc.para("Not what the port is known for.", "      ", accent=("Not", LEVEL_STYLES["caution"]))


def listening_text(doc: Doc, found: dict) -> None:
    rows = found["sockets"]
    many = "s" if len(rows) != 1 else ""
    doc.para(f"Listening on this machine: {len(rows)} socket{many} (tcp listening, udp bound).")
    for s in rows:
        socket_text(doc, s)
    if found["note"]:
        doc.para(f"Note: {found['note']}")


def port_here_text(doc: Doc, p: dict, os_id=None) -> None:
    here = p["local"]
    doc.heading(f"On this machine, port {p['port']}")
    if not here["sockets"]:
        doc.para("Nothing listens on it here (tcp) and nothing has it bound (udp).", "  ")
    for s in here["sockets"]:
        socket_text(doc, s)
    if here["note"]:
        doc.para(f"Note: {here['note']}", "  ")
    doc.lines.append("")
    port_text(doc, p, PLATFORMS.get(sys.platform))


def firewall_text(doc: Doc, f: dict) -> None:
    if len(f["lines"]) == 1:
        # One tool: its lines alone, to paste or pipe to a shell.
        for line in next(iter(f["lines"].values())):
            doc.verbatim(line)
        return
    for tool, lines in f["lines"].items():
        doc.heading(f"{f['tools'][tool]}:")
        for line in lines:
            doc.verbatim(f"  {line}")


def changes_text(doc: Doc, found: dict) -> None:
    rows = found["changes"]
    if not rows:
        doc.para("No changes match.")
        return
    for c in rows:
        date = c["change_date"] or c["registry_date"] or c["fetched_at"][:10]
        doc.para(c["summary"], f"  {date:<10} {c['kind']:<9} ", " " * 23)
    if found["next"]:
        doc.para(f"More: add --next {read.next_token(rows[-1])}")


def listed(description: str | None) -> str:
    """A description in a list: cut at a word to LIST_TEXT characters (--json has it whole)."""
    text = " ".join((description or "").split())
    return textwrap.shorten(text, LIST_TEXT, placeholder=" ...", break_long_words=False, break_on_hyphens=False)


if __name__ == "__main__":
    sys.exit(main())
