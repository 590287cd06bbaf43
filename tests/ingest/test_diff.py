"""ingest/diff.py: pairing rules on small hand-made registries."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.diff import Change, diff, summary
from iana_ports.facts import CHANGE_KINDS
from iana_ports.facts import FIELDS

_line = iter(range(2, 10**9))


def reg(name, port, transport, description=None, **fields):
    """A registration record as parse() returns it."""
    low, high = (None, None)
    if port:
        low, _, high = port.partition("-")
        low, high = int(low), int(high or low)
    rec = dict.fromkeys(FIELDS)
    rec.update(
        service_name=name,
        port=port,
        transport=transport,
        description=description if description is not None else (name or "Unassigned"),
        port_low=low,
        port_high=high,
        line=next(_line),
    )
    rec.update(fields)
    return rec


def kinds(changes):
    return [(c.kind, c.old, c.new) for c in changes]


def test_identical_registries_have_no_changes():
    rows = [reg("smtp", "25", "tcp"), reg("smtp", "25", "udp"), reg(None, "26", None)]
    assert diff(rows, [dict(r) for r in rows]) == []


def test_line_numbers_alone_are_not_a_change():
    old = [reg("smtp", "25", "tcp")]
    new = [dict(old[0], line=900)]
    assert diff(old, new) == []


def test_modified_lists_old_and_new_values_in_column_order():
    old = reg("smtp", "25", "tcp", reference="[RFC5321]", assignee="[IESG]")
    new = dict(old, reference="[RFC-ietf-emailcore-rfc5321bis-43]", assignee="[IETF]")
    assert diff([old], [new]) == [
        Change(
            "modified",
            old,
            new,
            [
                ("assignee", "[IESG]", "[IETF]"),
                ("reference", "[RFC5321]", "[RFC-ietf-emailcore-rfc5321bis-43]"),
            ],
        )
    ]


def test_service_names_match_whatever_their_case():
    old = reg("CardWeb-IO", "9060", "tcp")
    new = dict(old, service_name="cardweb-io")
    assert kinds(diff([old], [new])) == [("modified", old, new)]
    assert diff([old], [new])[0].fields == [("service_name", "CardWeb-IO", "cardweb-io")]


def test_another_name_in_the_same_place_is_a_rename():
    old = reg("pearldoc-xact", "1980", "tcp", "PearlDoc XACT")
    new = reg("panquest-xact", "1980", "tcp", "PanQuest XACT", modification_date="2025-11-20")
    [change] = diff([old], [new])
    assert change == Change(
        "renamed",
        old,
        new,
        [
            ("service_name", "pearldoc-xact", "panquest-xact"),
            ("description", "PearlDoc XACT", "PanQuest XACT"),
            ("modification_date", None, "2025-11-20"),
        ],
    )
    assert summary(change) == "pearldoc-xact renamed panquest-xact on 1980/tcp"


def test_a_name_on_another_transport_is_not_a_rename():
    old = reg("avi-nms", "4413", "tcp")
    new = reg("vision-mon", "4413", "udp")
    assert kinds(diff([old], [new])) == [("released", old, None), ("assigned", None, new)]


def test_released_pairs_with_the_reserved_row_that_took_the_place():
    old = [reg("netconf-beep", "831", "tcp"), reg("netconf-beep", "831", "udp")]
    new = [
        reg(None, "831", "tcp", "Reserved", modification_date="2025-09-29"),
        reg(None, "831", "udp", "Reserved", modification_date="2025-09-29"),
        reg("netconf-beep", "", None),
    ]
    changes = diff(old, new)
    assert kinds(changes) == [
        ("released", old[0], new[0]),
        ("released", old[1], new[1]),
        ("added", None, new[2]),
    ]
    assert changes[0].fields == [
        ("service_name", "netconf-beep", None),
        ("description", "netconf-beep", "Reserved"),
        ("modification_date", None, "2025-09-29"),
    ]
    assert [summary(c) for c in changes] == [
        "netconf-beep released on 831/tcp (now Reserved)",
        "netconf-beep released on 831/udp (now Reserved)",
        "added netconf-beep with no port",
    ]


def test_released_with_nothing_left_in_its_place():
    old = reg("gone", "4000", "tcp")
    [change] = diff([old], [])
    assert change == Change("released", old, None, [])
    assert summary(change) == "gone released on 4000/tcp"


def test_assigned_takes_the_unassigned_range_that_covered_it():
    old = [reg(None, "288-307", None, "Unassigned")]
    new = [
        reg(None, "288-299", None, "Unassigned"),
        reg("tacacss", "300", "tcp", "TLS Secure Login Host Protocol (TACACSS)"),
        reg(None, "300", "udp", "Reserved"),
        reg(None, "301-307", None, "Unassigned"),
    ]
    changes = diff(old, new)
    assert kinds(changes) == [
        ("added", None, new[0]),
        ("assigned", old[0], new[1]),
        ("added", None, new[2]),
        ("added", None, new[3]),
    ]
    assert [summary(c) for c in changes] == [
        "added Unassigned on 288-299",
        "tacacss assigned on 300/tcp (was Unassigned 288-307)",
        "added Reserved on 300/udp",
        "added Unassigned on 301-307",
    ]


def test_assigned_prefers_the_nameless_row_in_the_exact_place():
    old = [reg(None, "4000-4010", None, "Unassigned"), reg(None, "4005", "tcp", "Reserved")]
    new = [reg(None, "4000-4010", None, "Unassigned"), reg("svc", "4005", "tcp")]
    assert kinds(diff(old, new)) == [("assigned", old[1], new[1])]


def test_a_range_for_another_transport_does_not_cover():
    old = [reg(None, "4000-4010", "udp", "Unassigned")]
    new = [reg("svc", "4005", "tcp")]
    assert kinds(diff(old, new)) == [("removed", old[0], None), ("assigned", None, new[0])]


def test_a_second_name_on_an_assigned_place_is_added_not_assigned():
    old = [reg("http", "80", "tcp")]
    new = [reg("http", "80", "tcp"), reg("www", "80", "tcp")]
    assert kinds(diff(old, new)) == [("added", None, new[1])]


def test_one_of_two_names_leaving_is_removed_not_released():
    old = [reg("http", "80", "tcp"), reg("www", "80", "tcp")]
    new = [reg("http", "80", "tcp")]
    changes = diff(old, new)
    assert kinds(changes) == [("removed", old[1], None)]
    assert summary(changes[0]) == "removed www on 80/tcp"


def test_duplicate_identities_pair_in_file_order():
    old = [reg("rdp", "", None, "first"), reg("rdp", "", None, "second")]
    new = [reg("rdp", "", None, "first"), reg("rdp", "", None, "second, changed")]
    assert kinds(diff(old, new)) == [("modified", old[1], new[1])]


def test_changes_come_in_port_order_then_port_less_names():
    old = [reg("b", "", "tcp"), reg("z", "9000", "tcp"), reg("a", "7", "udp")]
    new = []
    assert [c.old["service_name"] for c in diff(old, new)] == ["a", "z", "b"]


def test_nameless_row_changing_its_words_is_modified():
    old = reg(None, "1008", None, "Unassigned")
    new = dict(old, description="Reserved")
    [change] = diff([old], [new])
    assert change.kind == "modified"
    assert summary(change) == "Reserved on 1008: description changed"


NAMES = st.sampled_from([None, "a", "b", "c", "A"])
PORTS = st.sampled_from(["", "1", "2", "1-3"])
TRANSPORTS = st.sampled_from([None, "tcp", "udp"])
NOTES = st.sampled_from([None, "x", "y"])
RECORDS = st.lists(st.tuples(NAMES, PORTS, TRANSPORTS, NOTES), max_size=8)


def _registry(rows):
    return [reg(n, p, t, reference=note) for n, p, t, note in rows]


def _fingerprint(rec):
    return tuple(rec[f] for f in FIELDS)


@settings(max_examples=300, deadline=None)
@given(RECORDS, RECORDS)
def test_changes_turn_the_old_registry_into_the_new_one(old_rows, new_rows):
    old, new = _registry(old_rows), _registry(new_rows)
    changes = diff(old, new)
    # Take every change's old side away and put its new side in: that must
    # give the new registry exactly, so no row is lost or counted twice.
    rebuilt = Counter(map(_fingerprint, old))
    rebuilt.subtract(_fingerprint(c.old) for c in changes if c.old is not None)
    rebuilt.update(_fingerprint(c.new) for c in changes if c.new is not None)
    assert +rebuilt == Counter(map(_fingerprint, new))
    assert min(rebuilt.values(), default=0) >= 0
    old_sides = [id(c.old) for c in changes if c.old is not None]
    new_sides = [id(c.new) for c in changes if c.new is not None]
    assert len(old_sides) == len(set(old_sides))
    assert len(new_sides) == len(set(new_sides))
    assert all(c.kind in CHANGE_KINDS for c in changes)
    assert all(c.fields for c in changes if c.kind in ("modified", "renamed"))
    assert diff(new, [dict(r) for r in new]) == []
