"""SFTP against OpenSSH's sshd (Debian openssh-server) on loopback, started per test.

Not paramiko's server implementation: sshd is what partners run, and its posix-rename is
the one that must replace the live feed atomically.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import paramiko
import pytest

from feedsync.errors import ExitCode
from feedsync.publish.sftp import fingerprint
from tests.publish.conftest import change_a_price, configure, invoke
from tests.publish.servers import FlakyProxy, SshServer


def _sftp(server: SshServer, port: int | None = None, **extra: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "url": f"sftp://127.0.0.1:{port or server.port}{server.root}/",
        "username": server.user, "private_key": str(server.user_key),
        "known_hosts": str(server.known_hosts)}
    spec.update(extra)
    return spec


def _host_fingerprint(server: SshServer) -> str:
    kind, data = server.host_public_key.split()
    return fingerprint(paramiko.PKey.from_type_string(kind, __import__("base64")
                                                      .b64decode(data)))


def test_publishes_atomically_with_posix_rename(sshd, tienda, cli):
    config = configure(tienda, {"partner": _sftp(sshd)})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    remote = sshd.root / "google_es.xml"
    assert remote.read_bytes() == (tienda.parent / "feeds" / "google_es.xml").read_bytes()
    # Replacing an existing feed works (plain SFTP RENAME would refuse to overwrite).
    change_a_price(config)
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    assert b"18.95 EUR" in remote.read_bytes()
    assert sorted(p.name for p in sshd.root.iterdir()) == ["google_es.xml"]


def test_pinned_fingerprint_is_accepted_without_known_hosts(sshd, tienda, cli):
    spec = _sftp(sshd, known_hosts=None, host_key=_host_fingerprint(sshd))
    spec.pop("known_hosts")
    config = configure(tienda, {"partner": spec})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output


def test_unknown_host_key_is_refused(sshd, tienda, cli, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config = configure(tienda, {"partner": _sftp(sshd, known_hosts=str(empty))})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.REMOTE_FATAL, result.output
    assert "not in known_hosts; refusing to connect" in result.output
    assert "retrying" not in result.stderr  # a host key problem is never retried
    assert not (sshd.root / "google_es.xml").exists()
    assert empty.read_text() == ""  # and never added


def test_wrong_pinned_fingerprint_is_refused(sshd, tienda, cli):
    spec = _sftp(sshd, host_key="SHA256:" + "A" * 43)
    spec.pop("known_hosts")
    config = configure(tienda, {"partner": spec})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.REMOTE_FATAL
    assert "not the pinned" in result.output


def test_changed_host_key_in_known_hosts_is_refused(sshd, tienda, cli, tmp_path):
    other = paramiko.Ed25519Key.from_private_key_file(str(sshd.user_key))  # any other key
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {other.get_base64()}\n")
    config = configure(tienda, {"partner": _sftp(sshd, known_hosts=str(known))})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.REMOTE_FATAL
    assert "man-in-the-middle" in result.output


def test_wrong_credentials_fail_fast_with_the_fatal_code(sshd, tienda, cli, monkeypatch):
    monkeypatch.setenv("SFTP_PASSWORD", "not-the-password")
    spec = _sftp(sshd, password="${SFTP_PASSWORD}")
    spec.pop("private_key")
    config = configure(tienda, {"partner": spec})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.REMOTE_FATAL, result.output
    assert "was refused (check the password or key)" in result.output
    assert "retrying" not in result.stderr  # one attempt only
    assert "not-the-password" not in result.output


def test_dropped_connection_keeps_the_old_feed_then_a_retry_succeeds(sshd, tienda, cli):
    config = configure(tienda, {"partner": _sftp(sshd)})
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    remote = sshd.root / "google_es.xml"
    old = remote.read_bytes()
    db = sqlite3.connect(tienda.parent / ".feedsync" / "state.db")
    record = db.execute("SELECT sha256, published_at FROM publishes").fetchall()
    change_a_price(config)

    # The link drops after 20 kB (the handshake is ~3 kB, the feed ~38 kB): mid-upload.
    # known_hosts names sshd's own port, so through the proxy the same key is pinned instead.
    proxy = FlakyProxy(sshd.port, after_bytes=20_000, drops=1)
    spec = _sftp(sshd, port=proxy.port, host_key=_host_fingerprint(sshd))
    spec.pop("known_hosts")
    try:
        once = configure(tienda, {"partner": {**spec, "retry": {"attempts": 1}}})
        failed = invoke(cli, "push", "-c", str(once))
        assert proxy.cut == 1
        assert failed.exit_code == ExitCode.TEMPORARY_FAILURE, failed.output
        assert "upload to 127.0.0.1" in failed.stderr
        assert remote.read_bytes() == old  # the old feed is intact at the live name
        # The upload had begun: its temporary file is there (swept by the next run), never
        # at the live name.
        leftovers = [p.name for p in sshd.root.iterdir() if p.name != "google_es.xml"]
        assert leftovers and all(n.startswith(".google_es.xml.") and n.endswith(".partial")
                   for n in leftovers)

        # The publish record still describes what is really live.
        assert db.execute("SELECT sha256, published_at FROM publishes").fetchall() == record

        # Next run: the first connection drops again, the retry gets through.
        proxy.drops = 2
        retried = configure(tienda, {"partner": {**spec, "retry": {
            "attempts": 3, "delay": 0.01, "max_delay": 0.05, "max_time": 20}}})
        result = invoke(cli, "push", "-c", str(retried))
        assert result.exit_code == ExitCode.OK, result.output
        assert proxy.cut == 2
        assert "attempt 1 failed" in result.stderr and "retrying" in result.stderr
    finally:
        proxy.close()
    assert b"18.95 EUR" in remote.read_bytes()
    assert sorted(p.name for p in sshd.root.iterdir()) == ["google_es.xml"]  # swept


def test_stale_temporary_files_are_swept(sshd, tienda, cli):
    stale = sshd.root / ".google_es.xml.dead.partial"
    stale.write_bytes(b"<rss><channel><item>half")
    unrelated = sshd.root / ".other.xml.dead.partial"
    unrelated.write_bytes(b"not ours")
    config = configure(tienda, {"partner": _sftp(sshd)})
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    assert not stale.exists()
    assert unrelated.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_denied_is_fatal(sshd, tienda, cli):
    locked = sshd.root / "locked"
    locked.mkdir(mode=0o500)
    spec = _sftp(sshd)
    spec["url"] = f"sftp://127.0.0.1:{sshd.port}{locked}/"
    result = invoke(cli, "push", "-c", str(configure(tienda, {"partner": spec})))
    assert result.exit_code == ExitCode.REMOTE_FATAL


def test_missing_directory_is_fatal(sshd, tienda, cli):
    spec = _sftp(sshd)
    spec["url"] = f"sftp://127.0.0.1:{sshd.port}{sshd.root}/missing/"
    result = invoke(cli, "push", "-c", str(configure(tienda, {"partner": spec})))
    assert result.exit_code == ExitCode.REMOTE_FATAL, result.output
    assert "does not exist" in result.output


def test_remote_path_may_name_the_file(sshd, tienda, cli):
    spec = _sftp(sshd)
    spec["url"] = f"sftp://127.0.0.1:{sshd.port}{sshd.root}/catalogo.xml"
    assert invoke(cli, "push", "-c", str(configure(tienda, {"partner": spec}))).exit_code == 0
    assert Path(sshd.root / "catalogo.xml").exists()


def test_missing_private_key_is_fatal(sshd, tienda, cli, tmp_path):
    spec = _sftp(sshd, private_key=str(tmp_path / "no-such-key"))
    result = invoke(cli, "push", "-c", str(configure(tienda, {"partner": spec})))
    assert result.exit_code == ExitCode.REMOTE_FATAL
    assert "not found" in result.output and "retrying" not in result.stderr


def test_wrong_private_key_is_fatal(sshd, tienda, cli, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    spec = _sftp(sshd, private_key=str(other))
    result = invoke(cli, "push", "-c", str(configure(tienda, {"partner": spec})))
    assert result.exit_code == ExitCode.REMOTE_FATAL
    assert "was refused" in result.output
