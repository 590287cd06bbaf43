"""iana-ports: the registry in a terminal, offline, from a built database.

    iana-ports 60878 | 22/tcp | ssh        what the lookup box answers
    iana-ports search TEXT                 the search page
    iana-ports free --near 8000            the free-port finder
    iana-ports changes [--since DATE]      the changes page
    iana-ports export --out DIR            every export of the build (make exports)

It reads the build through the same read side as the pages (iana_ports.read),
over a Store: a handful of indexed queries, where the server's Snapshot
would load the whole build before answering. `--json` prints the bytes the
page's JSON would be for the same database. Nothing here imports Datasette,
httpx or Jinja2: a lookup has to start about as fast as Python itself.

Exit status: 0 answered, 1 nothing found, 2 bad input, 3 no usable database,
4 the exports could not be written.
"""

import argparse
import os
import sqlite3
import sys

import orjson

from . import read
from .facts import DB_ENV, DEFAULT_DB, EVERYDAY_TRANSPORTS, OS_LABELS, TRANSPORTS, row_transports
from .query import BadQuery
from .store import NotABuild, Store
from .text import and_list

PROG = "iana-ports"
NOT_FOUND, BAD_INPUT, NO_DATABASE, CANNOT_WRITE = 1, 2, 3, 4
# sys.platform -> the OS whose listening commands a summary shows (facts.LISTENING_COMMANDS).
PLATFORMS = {"linux": "linux", "darwin": "macos", "win32": "windows", "cygwin": "windows"}
# Descriptions in lists are cut to this many characters; --json has them whole.
LIST_TEXT = 60
USES_SHOWN = 8


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


def _os_argument(p):
    p.add_argument(
        "--os", metavar="LIST",
        help="platforms to judge the verdict for, comma-separated, some of default, " + ", ".join(OS_LABELS)
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
        "--transports", default=",".join(EVERYDAY_TRANSPORTS), metavar="LIST",
        help="comma-separated, some of " + ", ".join(TRANSPORTS) + " (default: tcp,udp)",
    )
    p.add_argument("--count", metavar="N", help=f"how many, 1 to {read.MAX_FREE} (default: 10)")
    _os_argument(p)


def _changes_arguments(p):
    p.add_argument("--since", metavar="DATE", help="registry versions dated on or after YYYY-MM-DD")
    p.add_argument("--kind", metavar="KIND", help="one of " + ", ".join(read.CHANGE_KINDS))
    p.add_argument("--port", metavar="PORT", help="changes to rows covering this port")
    p.add_argument("--service", metavar="NAME", help="changes to this service name (old or new)")
    p.add_argument("--ingest", metavar="N", help="changes seen by this ingest")
    p.add_argument("--size", metavar="N", help=f"changes per page (default: {read.CHANGES_PAGE})")
    p.add_argument("--next", metavar="N", help="start at this change (what the previous page says)")


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
    "changes": ("what changed between the registry versions the database holds", _changes_arguments),
    "export": (
        "write services (/etc/services), ports.json, ports.csv, iana.db and SHA256SUMS to a folder",
        _export_arguments,
    ),
}


def command_parser(name: str) -> Parser:
    """The parser of one command only: building all of them costs a lookup milliseconds."""
    summary, add_arguments = COMMANDS[name]
    p = Parser(prog=f"{PROG} {name}", description=summary[0].upper() + summary[1:] + ".", epilog=EPILOG)
    p.add_argument("--db", metavar="PATH", help=f"the built database (default: ${DB_ENV}, else {DEFAULT_DB})")
    p.add_argument("--json", action="store_true", help="print the JSON the web page gives, byte for byte")
    add_arguments(p)
    return p


def top_parser() -> Parser:
    """For `iana-ports --help` and a bare `iana-ports`: the commands and what they do."""
    top = Parser(
        prog=PROG,
        description="IANA's service names and port numbers, offline, from a database built by `python -m ingest`.",
        epilog=EPILOG,
    )
    commands = top.add_subparsers(metavar="COMMAND")
    for name, (summary, _) in COMMANDS.items():
        commands.add_parser(name, help=summary)
    return top


# Options that take a value, so the word after one is not taken for the command.
VALUE_OPTIONS = {
    "--db", "--os", "--transport", "--next", "--near", "--transports", "--count",
    "--since", "--kind", "--port", "--service", "--ingest", "--size", "--out",
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


def open_store(path) -> Store:
    path = os.fspath(path or os.environ.get(DB_ENV) or DEFAULT_DB)
    hint = f"build one with `make data` (python -m ingest), or point --db or ${DB_ENV} at one"
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
        store = open_store(args.db)
        try:
            return run(args, store)
        finally:
            store.close()
    except Failure as exc:
        return fail(str(exc), exc.status)
    except BadQuery as exc:
        return fail(str(exc), BAD_INPUT)
    except read.NotFound as exc:
        return fail(not_found_line(exc), NOT_FOUND)
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


def not_found_line(exc: read.NotFound) -> str:
    line = str(exc)
    suggestions = exc.context.get("suggestions")
    if suggestions:
        names = suggestions[:5]
        line += " Did you mean " + (f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else names[0]) + "?"
    return line


def run(args, store: Store) -> int:
    out = Output(args.json)
    if args.command == "lookup":
        return lookup(store, " ".join(args.text), out, args.os)
    if args.command == "search":
        if not args.text:
            raise Failure(f"search needs TEXT (the service named search: {PROG} lookup search)", BAD_INPUT)
        return search(store, " ".join(args.text), args.transport, args.next, out)
    if args.command == "free":
        return free(store, args.near, args.transports, args.count, read.targets(args.os), out)
    if args.command == "changes":
        return changes(store, args, out)
    return export(store, args.out, out)


class Output:
    """stdout for the answer: JSON bytes as the page gives them, or lines of text."""

    def __init__(self, as_json: bool):
        self.as_json = as_json

    def json(self, data) -> None:
        stream = sys.stdout.buffer
        stream.write(orjson.dumps(data))
        # The page's bytes exactly; a newline only for a person at a terminal.
        if sys.stdout.isatty():
            stream.write(b"\n")
        stream.flush()

    def lines(self, lines: list[str]) -> None:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()


# The forms


def lookup(store, text: str, out: Output, os_text: str | None) -> int:
    on = read.targets(os_text)
    kind, target = read.lookup(store, text)
    if kind == "port":
        facts = read.port(store, target, on)
        # The listening commands: the first named platform that has some, else this machine's.
        named = [o for o in on if o in facts["commands"]] if os_text else []
        system = named[0] if named else PLATFORMS.get(sys.platform)
        out.json(facts) if out.as_json else out.lines(port_lines(facts, system))
        return 0
    if kind == "service":
        facts = read.service(store, target)
        out.json(facts) if out.as_json else out.lines(service_lines(facts))
        return 0
    results = read.search(store, text, "", 0, SEARCH_PATH)
    if not results["count"] and not results["common_uses"]:
        raise read.NotFound(
            f'No port, service name or registry entry matches "{text.strip()}".',
            suggestions=read.suggestions(store, text.strip()),
        )
    out.json(results) if out.as_json else out.lines(search_lines(results))
    return 0


def search(store, text: str, transport: str, offset, out: Output) -> int:
    offset = read.whole_number(offset, "--next", 0, 10**9) or 0
    results = read.search(store, text, transport, offset, SEARCH_PATH)
    out.json(results) if out.as_json else out.lines(search_lines(results))
    return 0


# Where the search page's next page lives (base_url "/"), so `next` is the same in both.
SEARCH_PATH = "/search.json"


def free(store, near: str, transports: str, count, on, out: Output) -> int:
    wanted = [t for t in transports.split(",") if t] or list(EVERYDAY_TRANSPORTS)
    # read.free() checks near and count, with the page's words.
    found = read.free(store, near, wanted, count or 10, on)
    out.json(found) if out.as_json else out.lines(free_lines(found))
    return 0


def changes(store, args, out: Output) -> int:
    given = {
        "kind": args.kind, "port": args.port, "service": args.service, "ingest": args.ingest,
        "since": args.since, "_size": args.size, "_next": args.next,
    }
    # The page's own answer, its `next` link as the page writes it with base_url "/".
    found = read.change_page(store, {k: v for k, v in given.items() if v is not None}, "/changes.json")
    if out.as_json:
        out.json(found)
    else:
        out.lines(changes_lines(found, int(args.next or 0)))
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


def port_lines(p: dict, os_id: str | None) -> list[str]:
    number, rng = p["port"], p["range"]
    lines = [
        f"Port {number}: {p['status']}"
        + (f" ({p['registry_words']})" if p["registry_words"] and p["status"] != "assigned" else ""),
        f"Range: {rng['name']} {rng['first']}-{rng['last']} ({rng['common_name'].lower()})",
    ]
    for t, v in p["transports"].items():
        detail = " ".join(v["services"])
        if v["unassigned_run"] and not detail:
            run = v["unassigned_run"]
            detail = f"unassigned run {run['first']}-{run['last']}"
        lines.append(f"  {t:<5} {v['status']:<11} {detail}".rstrip())
    verdict = p["verdict"]
    on = ", ".join(OS_LABELS[t] for t in verdict["targets"])
    lines.append(f"For your own service (tcp/udp on {on}): {verdict['level']}")
    lines += [f"  - {reason}" for reason in verdict["reasons"]]
    lines += [f"  - Note: {note}" for note in verdict["notes"]]
    if p["common_uses"]:
        lines.append("Common uses (the project's own list, not from IANA):")
        lines += [use_line(u) for u in p["common_uses"]]
    nearby = [*p["free_nearby"]["below"], *p["free_nearby"]["above"]]
    if nearby:
        # "Nearest": for a Dynamic port they can be tens of thousands away.
        lines.append("Nearest good ports: " + " ".join(str(n["port"]) for n in sorted(nearby, key=lambda n: n["port"])))
    systems = [os_id] if os_id in p["commands"] else list(p["commands"])
    for system in systems:
        lines.append(f"What is listening on it ({OS_LABELS[system]}):")
        lines += [f"  {command}" for command in p["commands"][system]]
    return lines


def use_line(u: dict, source: bool = True) -> str:
    where = f"{u['first']}-{u['last']}" if u["first"] != u["last"] else str(u["first"])
    where += "/" + "/".join(u["transports"])
    return f"  - {u['software']}: {u['description']} ({where}{'; ' + u['source'] if source else ''})"


def uses_lines(uses: list[dict]) -> list[str]:
    """Common uses matching a name or words: often dozens ("http"), so the first few."""
    if not uses:
        return []
    lines = ["Common uses (the project's own list, not from IANA):"]
    lines += [use_line(u, source=False) for u in uses[:USES_SHOWN]]
    if len(uses) > USES_SHOWN:
        lines.append(f"  ... and {len(uses) - USES_SHOWN} more (--json has them all)")
    return lines


def service_lines(s: dict) -> list[str]:
    svc = s["service"]
    description = one_line(svc["description"] or "", 200)
    lines = [f"Service {svc['name']}" + (f": {description}" if description else "")]
    if svc["historic"]:
        lines.append("  IANA marks this name historic.")
    if s["alias_of"]:
        lines.append(f"  An alias of {s['alias_of']['name']}.")
    if s["aliases"]:
        lines.append("  Aliases: " + ", ".join(a["name"] for a in s["aliases"]))
    lines.append("Registrations:")
    for r in s["registrations"]:
        where = f"{r['port']}/{'/'.join(row_transports(r['service_name'], r['transport']))}" if r["port"] else "no port"
        lines.append(f"  {where:<18} {one_line(r['description'] or '', LIST_TEXT)}".rstrip())
    return lines + uses_lines(s["common_uses"])


def search_lines(r: dict) -> list[str]:
    lines = []
    for p in r["ports"]:
        names = " ".join(p["services"])
        lines.append(f"Port {p['port']}: {p['status']}{' (' + names + ')' if names else ''}, verdict {p['verdict']}")
    shown = len(r["rows"])
    where = f" on {r['transport']}" if r["transport"] else ""
    if shown:
        matches = "1 registry row matches" if r["count"] == 1 else f"{r['count']} registry rows match"
        lines.append(f"{matches} \"{r['q']}\"{where}; showing {r['offset'] + 1}-{r['offset'] + shown}:")
    else:
        lines.append(f"No registry rows match \"{r['q']}\"{where}.")
    for row in r["rows"]:
        where = row["port"] or "-"
        if row["port"]:
            where += "/" + "/".join(row_transports(row["service_name"], row["transport"]))
        lines.append(f"  {where:<18} {row['service_name'] or '':<16} {one_line(row['description'] or '', LIST_TEXT)}")
    if r["next"]:
        lines.append(f"More: {PROG} search {r['q']} --next {r['offset'] + shown}"
                     + (f" --transport {r['transport']}" if r["transport"] else ""))
    return lines + uses_lines(r["common_uses"])


def free_lines(f: dict) -> list[str]:
    lines = [f"Good ports for your own {and_list(f['transports'])} service, nearest {f['near']} first:"]
    lines += [f"  {p['port']:>5}  ({p['distance']} away)" for p in f["ports"]]
    if not f["ports"]:
        lines.append("  none")
    if f["note"]:
        lines.append(f"Note: {f['note']}")
    return lines


def changes_lines(found: dict, offset: int) -> list[str]:
    rows = found["changes"]
    if not rows:
        return ["No changes match."]
    lines = []
    for c in rows:
        date = c["change_date"] or c["registry_date"] or c["fetched_at"][:10]
        lines.append(f"  {date:<10} {c['kind']:<9} {one_line(c['summary'], 100)}")
    if found["next"]:
        lines.append(f"More: add --next {offset + len(rows)}")
    return lines


def one_line(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


if __name__ == "__main__":
    sys.exit(main())
