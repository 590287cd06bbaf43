"""Two snapshots' registrations -> the changes between them. Pure: no I/O.

A registration is one CSV row. A *named* row has a service name; a
*nameless* row describes a state (Unassigned, Reserved, De-registered, ...).
A row's place is its raw port text plus its transport ("" when empty).

Rows are paired in five passes, each over the rows the earlier passes left:

1. same identity -> `modified` (or nothing when no field differs). Identity
   is (lower-case service name or "", port text, transport); rows sharing an
   identity (the two port-less `rdp` rows) pair in file order.
2. a named row gone and another named row new in the same place ->
   `renamed` (pearldoc-xact -> panquest-xact on 1980/tcp).
3. a named row gone from a place where the new snapshot has no named row
   -> `released`. Its new side is the nameless row that took the place
   (831/tcp netconf-beep -> Reserved), else one whose range covers it, else
   nothing (the port simply fell out of the registry).
4. a named row new in a place where the old snapshot had no named row ->
   `assigned` (tacacss on 300/tcp). Its old side is the nameless row that
   held the place, else one whose range covered it (Unassigned 288-307),
   else nothing.
   "Covers" means a nameless row on the same transport, or on none, whose
   port range holds the named row's range.
5. whatever is left -> `added` or `removed`: port-less service names, a
   second name on an already assigned place, and the nameless rows IANA
   rewrites around an assignment (Reserved 300/udp; Unassigned 288-307 cut
   into 288-299 and 301-307 once 300 was taken).

So every row that differs between the snapshots appears in exactly one
change, on its old side, its new side or both. `fields` lists what differs
between the two sides of a pair, as (field, old, new) in CSV column order.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from iana_ports.facts import CHANGE_KINDS, FIELDS


@dataclass
class Change:
    kind: str
    old: dict | None
    new: dict | None
    fields: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    @property
    def row(self) -> dict:
        """The side the change is filed under: the new row, else the old one."""
        return self.new if self.new is not None else self.old

    @property
    def service(self) -> dict:
        """The named side: a release is about the name that left, not 'Reserved'."""
        if self.new is not None and self.new["service_name"]:
            return self.new
        return self.old if self.old is not None else self.new


def identity(rec: dict) -> tuple[str, str, str]:
    return ((rec["service_name"] or "").lower(), rec["port"] or "", rec["transport"] or "")


def place(rec: dict) -> tuple[str, str]:
    return rec["port"] or "", rec["transport"] or ""


def changed_fields(old: dict, new: dict) -> list[tuple[str, str | None, str | None]]:
    return [(f, old[f], new[f]) for f in FIELDS if old[f] != new[f]]


def diff(old: list[dict], new: list[dict]) -> list[Change]:
    """Changes turning the `old` registrations into the `new` ones, in port order."""
    changes = []
    gone, fresh = _pair_identical(old, new, changes)

    old_named_places = {place(r) for r in old if r["service_name"] and r["port"]}
    new_named_places = {place(r) for r in new if r["service_name"] and r["port"]}

    for rec in [r for r in gone if r["service_name"] and r["port"]]:
        twin = _take(fresh, lambda c: c["service_name"] and place(c) == place(rec))
        if twin is not None:
            gone.remove(rec)
            changes.append(Change("renamed", rec, twin, changed_fields(rec, twin)))

    for rec in [r for r in gone if r["service_name"] and r["port"]]:
        if place(rec) in new_named_places:
            continue
        gone.remove(rec)
        state = _take_state(fresh, rec)
        changes.append(Change("released", rec, state, changed_fields(rec, state) if state else []))

    for rec in [r for r in fresh if r["service_name"] and r["port"]]:
        if place(rec) in old_named_places:
            continue
        fresh.remove(rec)
        state = _take_state(gone, rec)
        changes.append(Change("assigned", state, rec, changed_fields(state, rec) if state else []))

    changes.extend(Change("removed", rec, None) for rec in gone)
    changes.extend(Change("added", None, rec) for rec in fresh)
    changes.sort(key=sort_key)
    return changes


def sort_key(change: Change) -> tuple:
    row = change.row
    return (
        row["port_low"] is None,
        row["port_low"] or 0,
        row["port_high"] or 0,
        row["transport"] or "",
        (change.service["service_name"] or "").lower(),
        CHANGE_KINDS.index(change.kind),
        row["line"],
    )


def _pair_identical(old, new, changes) -> tuple[list[dict], list[dict]]:
    """Pass 1; returns the old rows and the new rows still unpaired, in file order."""
    waiting = defaultdict(list)
    for rec in old:
        waiting[identity(rec)].append(rec)
    for queue in waiting.values():
        queue.reverse()
    fresh = []
    for rec in new:
        queue = waiting.get(identity(rec))
        if queue:
            before = queue.pop()
            fields = changed_fields(before, rec)
            if fields:
                changes.append(Change("modified", before, rec, fields))
        else:
            fresh.append(rec)
    left = {id(r) for queue in waiting.values() for r in queue}
    return [r for r in old if id(r) in left], fresh


def _take(rows: list[dict], match) -> dict | None:
    for i, rec in enumerate(rows):
        if match(rec):
            return rows.pop(i)
    return None


def _take_state(rows: list[dict], named: dict) -> dict | None:
    """The nameless row in `named`'s place, else the first one covering it."""
    exact = _take(rows, lambda r: not r["service_name"] and place(r) == place(named))
    if exact is not None:
        return exact
    return _take(rows, lambda r: _covers(r, named))


def _covers(state: dict, named: dict) -> bool:
    return (
        not state["service_name"]
        and state["port_low"] is not None
        and state["port_low"] <= named["port_low"]
        and named["port_high"] <= state["port_high"]
        and (state["transport"] is None or state["transport"] == named["transport"])
    )


def label(rec: dict) -> str:
    """'smtp', or the first line of a nameless row's description ('Reserved')."""
    if rec["service_name"]:
        return rec["service_name"]
    return (rec["description"] or "(no name)").splitlines()[0].strip() or "(no name)"


def where(rec: dict) -> str:
    """'on 25/tcp', 'on 288-299' (every transport), 'with no port'."""
    if not rec["port"]:
        return "with no port"
    return "on " + rec["port"] + (f"/{rec['transport']}" if rec["transport"] else "")


def summary(change: Change) -> str:
    """One line a change feed can use as a title."""
    old, new = change.old, change.new
    if change.kind == "added":
        return f"added {label(new)} {where(new)}"
    if change.kind == "removed":
        return f"removed {label(old)} {where(old)}"
    if change.kind == "modified":
        names = ", ".join(f for f, _, _ in change.fields)
        return f"{label(new)} {where(new)}: {names} changed"
    if change.kind == "renamed":
        return f"{label(old)} renamed {label(new)} {where(new)}"
    if change.kind == "assigned":
        was = f" (was {label(old)} {where(old)[3:]})" if old else ""
        return f"{label(new)} assigned {where(new)}{was}"
    now = f" (now {label(new)})" if new else ""
    return f"{label(old)} released {where(old)}{now}"
