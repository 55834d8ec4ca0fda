"""A killed build's temporary files are swept by the next run (never a live run's), and a
channel's outputs are replaced as one set, repaired by the next run after a kill."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

from feedsync import api
from feedsync.config import load_config
from feedsync.writers.commit import JOURNAL_PREFIX, recover
from tests.security.masters import csv_bytes, good_row, project

HOLD_LOCK = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


def test_leftovers_of_a_killed_build_are_swept_but_not_a_live_one(tmp_path: Path) -> None:
    config = project(tmp_path, "m.csv", csv_bytes(good_row()))
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    dead = [feeds / ".google.xml.abcd1234.tmp", feeds / ".meta.csv.zz_9zz99.tmp"]
    for leftover in dead:
        leftover.write_bytes(b"x" * 1000)
    live = feeds / ".google.tsv.live0001.tmp"
    live.write_bytes(b"being written")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(live)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        api.run_build(load_config(config))
        assert not any(p.exists() for p in dead)
        assert live.exists()  # another process still writes it
    finally:
        holder.kill()
        holder.wait()
    api.run_build(load_config(config))
    assert sorted(p.name for p in feeds.iterdir()) == ["google.tsv", "google.xml", "meta.csv",
                                                       "openai.jsonl"]


def test_unrelated_files_are_never_swept(tmp_path: Path) -> None:
    config = project(tmp_path, "m.csv", csv_bytes(good_row()))
    feeds = tmp_path / "feeds"
    feeds.mkdir()
    kept = [feeds / ".htaccess", feeds / "notes.tmp", feeds / ".other.xml.abcd1234.tmp"]
    for path in kept:
        path.write_text("mine")
    api.run_build(load_config(config))
    assert all(path.read_text() == "mine" for path in kept)


def test_a_commit_killed_between_renames_is_completed_by_the_next_run(tmp_path: Path) -> None:
    old = {"a.xml": b"old xml", "a.tsv": b"old tsv"}
    for name, data in old.items():
        (tmp_path / name).write_bytes(data)
    pairs = []
    for name in old:
        tmp = tmp_path / f".{name}.abcd1234.tmp"
        tmp.write_bytes(b"new " + name.encode())
        pairs.append([str(tmp), str(tmp_path / name)])
    journal = tmp_path / f"{JOURNAL_PREFIX}killed01.json"
    journal.write_text(json.dumps(pairs))
    os.replace(*pairs[0])  # the kill came after the first rename
    assert (tmp_path / "a.xml").read_bytes() == b"new a.xml"
    assert (tmp_path / "a.tsv").read_bytes() == b"old tsv"  # a mixed set
    assert recover(tmp_path) == 1
    assert (tmp_path / "a.tsv").read_bytes() == b"new a.tsv"
    assert not journal.exists()


def test_a_journal_held_by_a_live_commit_is_left_alone(tmp_path: Path) -> None:
    journal = tmp_path / f"{JOURNAL_PREFIX}live0001.json"
    journal.write_text("[]")
    fd = os.open(journal, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        holder = subprocess.run([sys.executable, "-c",
                                 "import sys; from pathlib import Path; "
                                 "from feedsync.writers.commit import recover; "
                                 "print(recover(Path(sys.argv[1])))", str(tmp_path)],
                                capture_output=True, text=True, check=True)
        assert holder.stdout.strip() == "0"
        assert journal.exists()
    finally:
        os.close(fd)


def test_promote_uses_no_fixed_temporary_name(tmp_path: Path) -> None:
    """A planted `.NAME.promote.partial` symlink used to redirect the publish's copy."""
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    config = project(tmp_path, "m.csv", csv_bytes(good_row()), channels={
        "google": {"spec": "google_merchant", "outputs": ["feeds/google.xml"],
                   "publish": ["folder"]}},
        extra={"publish": {"folder": {"url": f"file://{tmp_path / 'served'}"}}})
    (tmp_path / "feeds").mkdir()
    os.symlink(victim, tmp_path / "feeds" / ".google.xml.promote.partial")
    from typer.testing import CliRunner

    from feedsync.cli.app import app

    result = CliRunner().invoke(app, ["push", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert victim.read_text() == "keep me"
    assert b"<g:id>A1</g:id>" in (tmp_path / "feeds" / "google.xml").read_bytes()
