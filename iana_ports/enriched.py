"""What the registry's XML adds to a page: people by their real names, footnotes in words, how to apply.

A build made from the CSV alone has none of it (its XML tables are empty);
then a person is named by the rule that reads the bracketed id
(iana_ports/text.py), and says so. Names and organisations only: the
build never holds an address (ingest/registry_xml.py).
"""

from .facts import EVERYDAY_TRANSPORTS, UNASSIGNED, USER_RANGE
from .text import CONTACT_ID, contact_names

# Where a person's name comes from: the registry's own people list, or the rule reading the id.
FROM_REGISTRY, FROM_ID = "registry", "id"
APPLY_TITLE = "Request an Assignment"
APPLY_URL = "https://www.iana.org/protocols/apply"


def person_ids(registrations: list[dict]) -> list[str]:
    """The bracketed ids of the rows' Assignee and Contact fields, first seen first."""
    ids = []
    for reg in registrations:
        for field in ("assignee", "contact"):
            if reg[field]:  # Unassigned and Reserved rows name nobody
                ids += CONTACT_ID.findall(reg[field])
    return list(dict.fromkeys(ids))


def people(store, registrations: list[dict]) -> dict[str, dict]:
    """{id: {"name", "org", "from"}} for every id the rows name: the registry's, else the rule's guess."""
    ids = person_ids(registrations)
    if not ids:
        return {}
    known = store.people_of(ids)
    out = {}
    for pid in ids:
        p = known.get(pid)
        if p and (p["name"] or p["org"]):
            out[pid] = {"name": p["name"], "org": p["org"], "from": FROM_REGISTRY}
        else:
            out[pid] = {"name": (contact_names(f"[{pid}]") or [pid])[0], "org": None, "from": FROM_ID}
    return out


def shown(person: dict) -> str:
    """A person as a page names them: "Steve Glass (APCO Project 25)", "American Power Conversion"."""
    name, org = person["name"], person["org"]
    if name and org and org != name:
        return f"{name} ({org})"
    return name or org or ""


def cited_footnotes(store, references: list[dict]) -> list[dict]:
    """The registry's footnotes the rows cite ("[1]" in a Reference column), each once."""
    notes = store.footnotes()
    if not notes or not references:
        return []
    anchors = dict.fromkeys(r["reference"] for r in references if r["reference"] in notes)
    return [{"anchor": a, "text": notes[a]} for a in anchors]


def apply_note(store, port: int, transports: dict) -> dict | None:
    """How to ask IANA for a port, for a User port unassigned on tcp and udp; None elsewhere."""
    if not USER_RANGE["first"] <= port <= USER_RANGE["last"]:
        return None
    if any(transports[t]["status"] != UNASSIGNED for t in EVERYDAY_TRANSPORTS):
        return None
    for note in store.registry_notes():
        if note["title"] == APPLY_TITLE:
            return {"title": note["title"], "url": note["link"] or APPLY_URL}
    return None
