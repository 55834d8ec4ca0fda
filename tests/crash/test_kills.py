"""SIGKILL at random points of `build` and `push`: nothing torn, nothing mixed, nothing left.

Each test alternates the master between two versions (A and B), runs feedsync in a
subprocess, and kills it with SIGKILL after a seeded random delay spread over a whole run
(start-up, reading, writing, committing, publishing). After every kill:

- every published name holds a complete feed of version A or B (byte-identical to one);
- once the next run's recovery has run (`feedsync.writers.commit.recover`, the first thing
  any run does in an output folder), a channel's outputs all come from the same version;
- for push, the publish record names a version that was published.

At the end a complete run must leave no temporary files, journals or staging behind, and
the record must agree with what the destination holds. CI lands CRASH_KILLS kills in all;
--fuzz-long runs 5x.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from feedsync.writers.commit import recover
from tests.publish.conftest import configure
from tests.publish.servers import SshServer
from tests.security.masters import csv_bytes, good_row, project

CRASH_KILLS = {"build": 60, "push-local": 25, "push-sftp": 20}  # 105 landed per CI run
SEED = 13
RUN_SECONDS = 60  # a hang guard for one run that is not killed
TEMP_MARKERS = (".tmp", ".partial", ".feedsync-commit.")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _feedsync(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "feedsync", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _complete_run(*args: str) -> float:
    started = time.monotonic()
    process = _feedsync(*args)
    _, stderr = process.communicate(timeout=RUN_SECONDS)
    assert process.returncode in (0, 1), stderr.decode()[-2000:]
    return time.monotonic() - started


def _killed_run(args: tuple[str, ...], delay: float) -> bool:
    """Run feedsync and SIGKILL it after `delay` s; True when the kill landed."""
    process = _feedsync(*args)
    try:
        process.wait(timeout=delay)
        return False  # finished first
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=RUN_SECONDS)
        return True


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")
                  if any(marker in p.name for marker in TEMP_MARKERS))


def _versions(folder: Path, known: dict[str, dict[str, str]]) -> dict[str, str | None]:
    """Per published name: which version ("A"/"B") it holds; AssertionError if neither."""
    found: dict[str, str | None] = {}
    for name in sorted({n for version in known.values() for n in version}):
        path = folder / name
        if not path.exists():
            found[name] = None
            continue
        digest = _sha(path)
        matches = [v for v, shas in known.items() if shas.get(name) == digest]
        assert matches, f"{name} is torn: it matches neither complete version"
        found[name] = matches[0]
    return found


def _kills(kind: str, request: pytest.FixtureRequest) -> int:
    return CRASH_KILLS[kind] * (5 if request.config.getoption("--fuzz-long") else 1)


def _masters(rows: int) -> dict[str, bytes]:
    return {version: csv_bytes(*[good_row(f"P{i:05d}", price=price) for i in range(rows)])
            for version, price in (("A", "10.00"), ("B", "11.50"))}


def _kill_loop(kills: int, seconds: float, write_master: Callable[[str], None],
               args: tuple[str, ...], check: Callable[[], None]) -> int:
    """Kill runs until `kills` SIGKILLs landed (a run that finished first does not count;
    at most 3x as many attempts); returns how many landed."""
    rng = random.Random(SEED)
    landed = 0
    for attempt in range(kills * 3):
        if landed == kills:
            break
        write_master("AB"[attempt % 2])
        landed += _killed_run(args, rng.uniform(0.05, seconds * 0.95))
        check()
    return landed


def test_build_survives_sigkill(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    masters = _masters(1500)
    config = project(tmp_path, "m.csv", masters["A"], channels={
        "google": {"spec": "google_merchant", "outputs": ["feeds/google.xml",
                                                          "feeds/google.tsv"]},
        "meta": {"spec": "meta_catalog", "outputs": ["feeds/meta.csv"]}})
    feeds = tmp_path / "feeds"
    known: dict[str, dict[str, str]] = {}
    seconds = 0.0
    for version in ("A", "B"):
        (tmp_path / "m.csv").write_bytes(masters[version])
        seconds = max(seconds, _complete_run("build", "-c", str(config)))
        known[version] = {p.name: _sha(p) for p in feeds.iterdir() if p.is_file()}

    def check() -> None:
        versions = _versions(feeds, known)
        recover(feeds)  # what the next run does first
        versions = _versions(feeds, known)
        for channel in (("google.xml", "google.tsv"), ("meta.csv",)):
            assert len({versions[name] for name in channel}) == 1, (
                f"{channel} hold different runs: {versions}")

    def write_master(version: str) -> None:
        (tmp_path / "m.csv").write_bytes(masters[version])

    landed = _kill_loop(_kills("build", request), seconds, write_master,
                        ("build", "-c", str(config)), check)
    assert landed == _kills("build", request)
    _complete_run("build", "-c", str(config))
    assert _leftovers(tmp_path) == []
    print(f"\ncrash: build: {landed} SIGKILLs landed, run {seconds:.1f} s")


def _push_kill_test(tmp_path: Path, tienda: Path, destination: dict[str, object],
                    published: Path, kills: int) -> int:
    config = configure(tienda, {"dest": destination})
    master = tienda.parent / "productos.csv"
    text = master.read_text(encoding="utf-8-sig")
    masters = {"A": text, "B": text.replace(";19,95;", ";18,95;", 1)}
    assert masters["A"] != masters["B"]
    known: dict[str, dict[str, str]] = {}
    seconds = 0.0
    for version in ("A", "B"):
        master.write_text(masters[version], encoding="utf-8")
        seconds = max(seconds, _complete_run("push", "-c", str(config), "--force"))
        known[version] = {p.name: _sha(p) for p in published.iterdir()
                          if p.is_file() and not p.name.startswith(".")}
    state = tienda.parent / ".feedsync" / "state.db"

    def recorded() -> set[str]:
        with sqlite3.connect(state) as db:
            return {row[0] for row in db.execute("SELECT sha256 FROM publishes")}

    all_shas = {sha for version in known.values() for sha in version.values()}

    def check() -> None:
        _versions(published, known)
        if state.exists():
            assert recorded() <= all_shas, "the record names a feed never published"

    def write_master(version: str) -> None:
        master.write_text(masters[version], encoding="utf-8")

    landed = _kill_loop(kills, seconds, write_master, ("push", "-c", str(config), "--force"),
                        check)
    _complete_run("push", "-c", str(config), "--force")
    versions = _versions(published, known)
    last = {v for v in versions.values()}
    assert len(last) == 1
    assert recorded() == set(known[last.pop() or "A"].values())  # record == destination
    assert _leftovers(published) == []
    assert _leftovers(tienda.parent / "feeds") == []
    assert not (tienda.parent / ".feedsync" / "staging").exists()
    print(f"\ncrash: push to {destination['url']}: {landed} SIGKILLs landed, "
          f"run {seconds:.1f} s")
    return landed


def test_push_to_a_folder_survives_sigkill(tmp_path: Path, tienda: Path,
                                           request: pytest.FixtureRequest) -> None:
    published = tmp_path / "served"
    landed = _push_kill_test(tmp_path, tienda, {"url": f"file://{published}"}, published,
                             _kills("push-local", request))
    assert landed == _kills("push-local", request)


def test_push_to_sftp_survives_sigkill(tmp_path: Path, tienda: Path, sshd: SshServer,
                                       request: pytest.FixtureRequest) -> None:
    destination = {"url": f"sftp://127.0.0.1:{sshd.port}{sshd.root}/", "username": sshd.user,
                   "private_key": str(sshd.user_key), "known_hosts": str(sshd.known_hosts)}
    landed = _push_kill_test(tmp_path, tienda, destination, sshd.root,
                             _kills("push-sftp", request))
    assert landed == _kills("push-sftp", request)


def test_environment_is_posix() -> None:
    assert os.name == "posix"  # SIGKILL and flock
