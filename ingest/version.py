"""What a build is made with: the database layout and the code of the rules that decide its facts.

Every `ingests` row keeps the build version it was made with, and an ingest
rebuilds a database of another version even when the registry is unchanged:
an edit to the status, verdict or common-use rules reaches `ports.verdict`
(which /free, search summaries, the CSV and facets read) on the next refresh,
not only the pages that work the verdict out again.
"""

import hashlib
from pathlib import Path

from iana_ports import facts, schema, verdict

from . import common_uses, enrich, model, parse, registry_xml

# Whose code decides what a build says: the facts and the verdict rule, the tables,
# how registry rows are read and checked (CSV and XML), how ports get their status, what the
# XML adds, and the dataset's rules.
RULE_MODULES = (facts, verdict, schema, parse, registry_xml, model, enrich, common_uses)


def build_version() -> str:
    """ "LAYOUT-FINGERPRINT": the layout's number and a digest of the rule modules' source."""
    digest = hashlib.sha256()
    for module in RULE_MODULES:
        digest.update(module.__name__.rpartition(".")[2].encode() + b"\0")
        digest.update(Path(module.__file__).read_bytes())
    return f"{schema.LAYOUT_VERSION}-{digest.hexdigest()[:16]}"


BUILD_VERSION = build_version()
