"""iana-ports: IANA's service name and port number registry, as a database, a site, a command and an MCP endpoint.

The Python API, for scripts and test suites (README, "Python API"):

    from iana_ports import lookup, free_port
    lookup(5432)["verdict"]["level"]        # a port's facts, as /ports/5432.json has them
    free_port(near=8000)                    # a good port, free on this machine now

Both read the database the command line finds (iana_ports.databases); `db=` names another.
Imports stay inside the functions: `iana-ports` imports this package first and must start fast.
"""


def _store(db):
    from .cli import Failure, open_store
    from .errors import Unavailable

    try:
        return open_store(db)
    except Failure as exc:
        # The command line's one line (no database, not a build), as the API's error.
        raise Unavailable(str(exc)) from None


def lookup(port: int, db=None, os: str | None = None) -> dict:
    """Everything known about `port`, the /ports/PORT.json shape; `os`: the platforms judged (read.targets)."""
    from . import read

    store = _store(db)
    try:
        return read.port(store, read.whole_number(port, "port", 0, 65535), read.targets(os))
    finally:
        store.close()


def free_port(near: int = 8000, local: bool = True, transports=("tcp", "udp"), db=None, os=None, bind: bool = False):
    """The port nearest `near` that is good by the project's rule (unassigned, no common default, not
    browser-blocked, outside the System and Dynamic ranges and the targets' ephemeral ranges) and,
    with `local`, outside this machine's ephemeral range and reserved ports and not bound here now.

    Another process may bind it between this check and your bind: with `bind=True` the answer is a
    TCP socket already bound to it on 127.0.0.1 (yours to listen on or to pass along), which closes
    that window. Raises iana_ports.errors.NotFound when no port near is free.
    """
    from . import local as here
    from . import read
    from .errors import NotFound

    store = _store(db)
    try:
        targets = read.targets(os)
        found = (here.free if local else read.free)(store, near, list(transports), 1, targets)
    finally:
        store.close()
    if not found["ports"]:
        raise NotFound(found["note"] or f"No good port near {near}.")
    port = found["ports"][0]["port"]
    if not bind:
        return port
    import socket

    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        raise
    return s
