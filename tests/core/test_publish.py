"""iana_ports.publish on real files: a build job publishing into a shared folder, replicas following it."""

import hashlib
import os
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT
from iana_ports import publish


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "iana_ports.publish", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def name_of(path) -> str:
    return f"iana-{hashlib.sha256(path.read_bytes()).hexdigest()}.db"


def test_publish_then_follow_once_serves_the_same_bytes(tmp_path, db_2025):
    shared, served = tmp_path / "builds", tmp_path / "replica" / "iana.db"
    result = run("publish", "--db", db_2025, "--to", shared)
    name = name_of(db_2025)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"published {name} as {shared}/current\n", "")
    assert (shared / "current").read_text() == name + "\n"
    assert sorted(p.name for p in shared.iterdir()) == ["current", name]
    again = run("publish", "--db", db_2025, "--to", shared)
    assert (again.returncode, again.stdout) == (0, f"unchanged: {shared}/current already names {name}\n")
    followed = run("follow", "--from", shared, "--db", served, "--once")
    assert (followed.returncode, followed.stdout, followed.stderr) == (0, f"serving {name} as {served}\n", "")
    assert served.read_bytes() == db_2025.read_bytes()
    assert sorted(p.name for p in served.parent.iterdir()) == ["iana.db"]


def test_a_new_publish_replaces_the_served_file_by_a_rename_and_keeps_the_newest_three(tmp_path, db_2025, db_2026):
    shared, served = tmp_path / "builds", tmp_path / "replica" / "iana.db"
    served.parent.mkdir()
    publish.publish(db_2025, shared)
    assert publish.fetch(shared, served, None) == name_of(db_2025)
    inode = os.stat(served).st_ino
    names = []
    for i in range(4):
        variant = tmp_path / f"v{i}.db"
        shutil.copyfile(db_2026, variant)
        with open(variant, "ab") as f:
            f.write(bytes([i]))  # four different files
        publish.publish(variant, shared)
        names.append(name_of(variant))
    assert publish.fetch(shared, served, name_of(db_2025)) == names[-1]
    # A new inode, as the server's watcher expects (iana_ports/web/builds.py).
    assert os.stat(served).st_ino != inode
    assert sorted(p.name for p in shared.glob("iana-*.db")) == sorted(names[1:])
    # Nothing new: nothing copied.
    assert publish.fetch(shared, served, names[-1]) == names[-1]


def test_a_damaged_build_is_never_served(tmp_path, db_2025, db_2026):
    shared, served = tmp_path / "builds", tmp_path / "replica" / "iana.db"
    served.parent.mkdir()
    publish.publish(db_2025, shared)
    publish.fetch(shared, served, None)
    before = served.read_bytes()
    publish.publish(db_2026, shared)
    name = name_of(db_2026)
    with open(shared / name, "r+b") as f:
        f.seek(100)
        f.write(b"\xff")
    with pytest.raises(publish.PublishError, match=f"^{shared}/{name} does not match its sha256; still serving x$"):
        publish.fetch(shared, served, "x")
    assert served.read_bytes() == before
    assert sorted(p.name for p in served.parent.iterdir()) == ["iana.db"]


@pytest.mark.parametrize(
    "pointer, message",
    [
        ("../../etc/passwd\n", "names '../../etc/passwd', not a published build"),
        ("iana-0000.db\n", "does not match its sha256"),
    ],
)
def test_a_bad_pointer_is_one_error_line_and_the_served_file_stays(tmp_path, db_2025, pointer, message):
    shared, served = tmp_path / "builds", tmp_path / "replica" / "iana.db"
    publish.publish(db_2025, shared)
    assert run("follow", "--from", shared, "--db", served, "--once").returncode == 0
    (shared / "current").write_text(pointer)
    if "sha256" in message:
        shutil.copyfile(db_2025, shared / pointer.strip())
    result = run("follow", "--from", shared, "--db", served, "--once", "--every", "0.1", "--timeout", "0.3")
    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[-1] == f"error: nothing published in {shared} after 0 s"
    assert lines[0].startswith("error: ") and message in lines[0]
    assert served.read_bytes() == db_2025.read_bytes()


def test_publish_says_what_is_wrong_in_one_line(tmp_path):
    result = run("publish", "--db", tmp_path / "none.db", "--to", tmp_path / "builds")
    expected = f"error: {tmp_path}/none.db does not exist; run the ingest first\n"
    assert (result.returncode, result.stdout, result.stderr) == (1, "", expected)
    assert not (tmp_path / "builds").exists()
