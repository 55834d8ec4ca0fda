"""`feedsync push` to a local directory: staging, guards, the publish record, the run lock."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from feedsync.config import load_config
from feedsync.errors import ExitCode
from feedsync.publish.run import run_push
from tests.publish.conftest import change_a_price, configure, invoke, truncate_master


def _local(tienda: Path) -> Path:
    return configure(tienda, {"public": {"url": "public_html/"}})


def test_push_publishes_to_a_directory_and_records_it(tienda, cli):
    config = _local(tienda)
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    published = tienda.parent / "public_html" / "google_es.xml"
    built = tienda.parent / "feeds" / "google_es.xml"
    assert published.read_bytes() == built.read_bytes()
    assert published.stat().st_mode & 0o044 == 0o044  # readable by a web server
    assert not list(published.parent.glob(".*"))  # no temporary file left
    db = sqlite3.connect(tienda.parent / ".feedsync" / "state.db")
    items, sha = db.execute("SELECT items, sha256 FROM publishes WHERE channel = 'google_es' "
                            "AND destination = 'public'").fetchone()
    assert items == 39 and len(sha) == 64
    assert not (tienda.parent / ".feedsync" / "staging").exists()


def test_dry_run_sends_and_writes_nothing(tienda, cli):
    config = _local(tienda)
    result = invoke(cli, "push", "-c", str(config), "--dry-run", "--format", "json")
    assert result.exit_code == ExitCode.OK, result.output
    report = json.loads(result.stdout)
    assert report["dry_run"] is True
    [outcome] = report["publish"]
    assert outcome["status"] == "dry-run" and outcome["items"] == 39
    assert outcome["target"].endswith("public_html/google_es.xml")
    assert not (tienda.parent / "public_html").exists()
    assert not (tienda.parent / "feeds").exists()
    assert not (tienda.parent / ".feedsync" / "state.db").exists()


def test_truncated_master_trips_the_guard_and_keeps_every_old_feed(tienda, cli):
    config = _local(tienda)
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    published = tienda.parent / "public_html" / "google_es.xml"
    built = tienda.parent / "feeds" / "google_es.xml"
    old_published, old_built = published.read_bytes(), built.read_bytes()
    db_path = tienda.parent / ".feedsync" / "state.db"
    record = sqlite3.connect(db_path).execute("SELECT * FROM publishes").fetchall()

    truncate_master(config, 0.5)
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.GUARD_TRIPPED, result.output
    assert "fewer than the 39 published" in result.output
    assert published.read_bytes() == old_published
    assert built.read_bytes() == old_built  # the channel's own output is kept too
    assert sqlite3.connect(db_path).execute("SELECT * FROM publishes").fetchall() == record

    forced = invoke(cli, "push", "-c", str(config), "--force")
    assert forced.exit_code == ExitCode.OK, forced.output
    assert published.read_bytes() != old_published


def test_small_drops_pass_the_guard(tienda, cli):
    config = _local(tienda)
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    truncate_master(config, 0.9)  # 36 of 40 rows: about 10% fewer items
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK


def test_empty_feed_needs_allow_empty(tienda, cli):
    config = _local(tienda)
    truncate_master(config, 0.0)
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.GUARD_TRIPPED
    assert "no items" in result.output
    assert not (tienda.parent / "public_html" / "google_es.xml").exists()
    allowed = invoke(cli, "push", "-c", str(config), "--allow-empty")
    assert allowed.exit_code == ExitCode.OK, allowed.output
    assert (tienda.parent / "public_html" / "google_es.xml").exists()


def test_second_run_while_the_lock_is_held_exits_with_the_lock_code(tienda, cli):
    config = _local(tienda)
    state = tienda.parent / ".feedsync"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from feedsync.state.lock import RunLock\n"
         f"lock = RunLock(Path({str(state)!r})); lock.acquire(); print('locked', flush=True); "
         "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = invoke(cli, "push", "-c", str(config))
        assert result.exit_code == ExitCode.LOCK_HELD
        message = result.stderr.strip()
        assert len(message.splitlines()) == 1 and "holds" in message
        assert f"pid {holder.pid}" in message
        assert not (tienda.parent / "public_html").exists()
    finally:
        holder.kill()
        holder.wait()
    # The kernel released the lock with the process: no stale lock.
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK


def test_two_pushes_at_once(tienda):
    """Two real `feedsync push` processes: one publishes, the other exits 9 at once."""
    config = configure(tienda, {"public": {"url": "public_html/"}})
    command = [sys.executable, "-m", "feedsync", "push", "-q", "-c", str(config)]
    # The first push holds the lock until the test says the second one has finished (a
    # fixed sleep lost the race on a loaded machine: the second started after the first).
    release = tienda.parent / "release-first-push"
    slow = subprocess.Popen(
        [sys.executable, "-c",
         "import time, sys, pathlib; from feedsync.publish import local\n"
         "original = local.LocalDestination._copy\n"
         f"release = pathlib.Path({str(release)!r})\n"
         "def slow(self, upload):\n"
         "    deadline = time.monotonic() + 60\n"
         "    while not release.exists() and time.monotonic() < deadline:\n"
         "        time.sleep(0.05)\n"
         "    return original(self, upload)\n"
         "local.LocalDestination._copy = slow\n"
         "from feedsync.cli.app import main\n"
         f"sys.argv = ['feedsync', 'push', '-q', '-c', {str(config)!r}]\nmain()"])
    try:
        lock = tienda.parent / ".feedsync" / "run.lock"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (lock.exists() and lock.read_text()):
            time.sleep(0.05)
        second = subprocess.run(command, capture_output=True, text=True, timeout=60)
        release.write_text("done")
        assert second.returncode == ExitCode.LOCK_HELD, second.stderr
        assert "holds" in second.stderr
        assert slow.wait(60) == ExitCode.OK
    finally:
        slow.kill()


def test_state_is_written_only_after_success(tienda, tmp_path):
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the destination directory should be")
    config = load_config(configure(tienda, {"public": {"url": str(blocked) + "/"}}))
    report = run_push(config)
    assert report.exit_code in (ExitCode.TEMPORARY_FAILURE, ExitCode.REMOTE_FATAL)
    db = sqlite3.connect(tienda.parent / ".feedsync" / "state.db")
    assert db.execute("SELECT COUNT(*) FROM publishes").fetchone() == (0,)


def test_changed_feed_replaces_the_published_one(tienda, cli):
    config = _local(tienda)
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    published = tienda.parent / "public_html" / "google_es.xml"
    before = published.read_bytes()
    change_a_price(config)
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    assert published.read_bytes() != before and b"18.95 EUR" in published.read_bytes()


def test_unknown_destination_is_a_config_error(tienda, cli):
    config = _local(tienda)
    text = config.read_text().replace("- public", "- nowhere")
    config.write_text(text)
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.USAGE
    assert "channels.google_es.publish: no destination 'nowhere'" in result.stderr


def test_unknown_file_choice_fails_before_anything_is_built(tienda, cli):
    config = configure(tienda, {"public": {"url": "public_html/", "file": "google_es.csv"}})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.USAGE
    assert "has no output 'google_es.csv'" in result.stderr
    assert not (tienda.parent / "feeds").exists()


def test_file_choice_by_format(tienda, cli):
    config = configure(tienda, {"public": {"url": "public_html/", "file": "tsv"}})
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    assert [p.name for p in (tienda.parent / "public_html").iterdir()] == ["google_es.tsv"]


def test_dry_run_reports_a_guard_that_would_trip(tienda, cli):
    config = _local(tienda)
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    published = tienda.parent / "public_html" / "google_es.xml"
    before = published.read_bytes()
    truncate_master(config, 0.5)
    result = invoke(cli, "push", "-c", str(config), "--dry-run", "--format", "json")
    assert result.exit_code == ExitCode.GUARD_TRIPPED
    assert json.loads(result.stdout)["publish"][0]["status"] == "guard"
    assert published.read_bytes() == before


def test_temporary_files_of_a_killed_run_are_swept(tienda, cli):
    config = _local(tienda)
    public = tienda.parent / "public_html"
    public.mkdir()
    (public / ".google_es.xml.k1ll3d.partial").write_bytes(b"<rss><channel><item>")
    (public / "google_es.xml.bak").write_bytes(b"not ours")
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    assert sorted(p.name for p in public.iterdir()) == ["google_es.xml", "google_es.xml.bak"]


def test_kill_9_mid_publish_keeps_the_old_feed_and_the_next_run_recovers(tienda, cli):
    config = _local(tienda)
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    public = tienda.parent / "public_html"
    old = (public / "google_es.xml").read_bytes()
    change_a_price(config)
    # A push that stalls halfway through copying the feed, then is killed with SIGKILL.
    stalled = subprocess.Popen(
        [sys.executable, "-c",
         "import time, sys\nfrom feedsync.publish import local\n"
         "def stall(src, dst, length=0):\n"
         "    dst.write(src.read(4096)); dst.flush(); time.sleep(60)\n"
         "local.shutil.copyfileobj = stall\n"
         "from feedsync.cli.app import main\n"
         f"sys.argv = ['feedsync', 'push', '-q', '-c', {str(config)!r}]\nmain()"])
    try:
        deadline = time.monotonic() + 30
        partials: list[Path] = []
        while time.monotonic() < deadline and not partials:
            partials = [p for p in public.glob(".google_es.xml.*.partial")
                        if p.stat().st_size >= 4096]
            time.sleep(0.05)
        assert partials, "the stalled push never started copying"
    finally:
        stalled.kill()
        stalled.wait()
    assert (public / "google_es.xml").read_bytes() == old
    assert partials[0].exists()  # SIGKILL leaves the temporary file...
    result = invoke(cli, "push", "-c", str(config))  # ...and no stale lock
    assert result.exit_code == ExitCode.OK, result.output
    assert sorted(p.name for p in public.iterdir()) == ["google_es.xml"]  # swept
    assert b"18.95 EUR" in (public / "google_es.xml").read_bytes()


def _markets_and_parts(tienda: Path) -> Path:
    """Google in two markets and eBay split into 25-item request files, both published."""
    import yaml

    data = yaml.safe_load(tienda.read_text(encoding="utf-8"))
    data["publish"] = {"public": {"url": "public_html/", "retry": {"attempts": 1}}}
    data["channels"] = {
        "google": {"spec": "google_merchant", "publish": "public",
                   "markets": [{"country": "ES", "language": "es", "currency": "EUR"},
                               {"country": "MX", "language": "es", "currency": "MXN"}],
                   "rates": {"MXN": 20.5}, "outputs": ["feeds/google_{country}.xml"]},
        "ebay": {"spec": "ebay_inventory", "publish": "public", "output": "feeds/ebay.json",
                 "settings": {"locale": "es_ES"}},
    }
    tienda.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return tienda


def test_push_publishes_each_market_and_every_part(tienda, cli):
    config = _markets_and_parts(tienda)
    result = invoke(cli, "push", "-c", str(config), "--format", "json")
    assert result.exit_code == ExitCode.OK, result.output
    outcomes = {(o["channel"], o["status"]) for o in json.loads(result.stdout)["publish"]}
    assert outcomes == {("google.ES", "published"), ("google.MX", "published"),
                        ("ebay", "published")}
    public, feeds = tienda.parent / "public_html", tienda.parent / "feeds"
    for name in ("google_ES.xml", "google_MX.xml", "ebay.part0001.json", "ebay.part0002.json"):
        assert (public / name).read_bytes() == (feeds / name).read_bytes()
    assert b"MXN" in (public / "google_MX.xml").read_bytes()
    db = sqlite3.connect(tienda.parent / ".feedsync" / "state.db")
    recorded = dict(db.execute("SELECT channel, items FROM publishes").fetchall())
    assert recorded == {"google.ES": 39, "google.MX": 39, "ebay": 40}


def test_each_market_is_guarded_on_its_own(tienda, cli):
    config = _markets_and_parts(tienda)
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    truncate_master(config)
    result = invoke(cli, "push", "-c", str(config), "--format", "json")
    assert result.exit_code == ExitCode.GUARD_TRIPPED
    statuses = {o["channel"]: o["status"] for o in json.loads(result.stdout)["publish"]}
    assert statuses == {"google.ES": "guard", "google.MX": "guard", "ebay": "guard"}


def test_destination_secrets_are_needed_by_push_only(tienda, cli, monkeypatch):
    """build and validate run without the destinations' ${VAR}s; push names each unset one."""
    config = configure(tienda, {"box": {"url": "sftp://sftp.example.com/feeds/",
                                        "username": "shop",
                                        "password": "${FEEDSYNC_TEST_UNSET_PASSWORD}",
                                        "host_key": "SHA256:AAAA"}})
    monkeypatch.delenv("FEEDSYNC_TEST_UNSET_PASSWORD", raising=False)
    assert invoke(cli, "build", "-c", str(config), "-q").exit_code == ExitCode.OK
    assert invoke(cli, "validate", "-c", str(config), "-q").exit_code == ExitCode.DATA_ERRORS
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.USAGE
    assert ("publish.box.password: environment variable FEEDSYNC_TEST_UNSET_PASSWORD is not set"
            in result.stderr)


def test_push_one_market_only(tienda, cli):
    config = _markets_and_parts(tienda)
    result = invoke(cli, "push", "-c", str(config), "--channel", "google.MX", "-f", "json")
    assert result.exit_code == ExitCode.OK, result.output
    assert [o["channel"] for o in json.loads(result.stdout)["publish"]] == ["google.MX"]
    assert sorted(p.name for p in (tienda.parent / "public_html").iterdir()) == ["google_MX.xml"]
