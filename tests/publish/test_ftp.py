"""FTP and FTPS against pyftpdlib on loopback; FTPS with a self-signed certificate that
the test trusts explicitly through `ca_file` (and that is refused without it)."""

from __future__ import annotations

from feedsync.errors import ExitCode
from tests.publish.conftest import change_a_price, configure, invoke
from tests.publish.servers import FlakyProxy, FtpServer, start_ftp


def _ftp(server: FtpServer, scheme: str = "ftp", **extra: object) -> dict[str, object]:
    return {"url": f"{scheme}://127.0.0.1:{server.port}/", "username": server.user,
            "password": "${FTP_PASSWORD}", **extra}


def test_ftp_upload_then_rename(ftp_server, tienda, cli, monkeypatch):
    monkeypatch.setenv("FTP_PASSWORD", ftp_server.password)
    config = configure(tienda, {"ftp": _ftp(ftp_server)})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    remote = ftp_server.root / "google_es.xml"
    assert remote.read_bytes() == (tienda.parent / "feeds" / "google_es.xml").read_bytes()
    change_a_price(config)
    (ftp_server.root / ".google_es.xml.stale.partial").write_bytes(b"left by a killed run")
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    assert b"18.95 EUR" in remote.read_bytes()
    assert sorted(p.name for p in ftp_server.root.iterdir()) == ["google_es.xml"]


def test_ftps_verifies_the_certificate_it_was_told_to_trust(ftps_server, tienda, cli,
                                                            monkeypatch):
    monkeypatch.setenv("FTP_PASSWORD", ftps_server.password)
    config = configure(tienda, {"ftps": _ftp(ftps_server, "ftps",
                                             ca_file=str(ftps_server.certificate))})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    assert (ftps_server.root / "google_es.xml").exists()


def test_ftps_refuses_an_untrusted_certificate(ftps_server, tienda, cli, monkeypatch):
    monkeypatch.setenv("FTP_PASSWORD", ftps_server.password)
    config = configure(tienda, {"ftps": _ftp(ftps_server, "ftps")})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.REMOTE_FATAL, result.output
    assert "certificate" in result.output and "not trusted" in result.output
    assert not (ftps_server.root / "google_es.xml").exists()


def test_ftp_wrong_password_is_fatal_at_once(ftp_server, tienda, cli, monkeypatch):
    monkeypatch.setenv("FTP_PASSWORD", "wrong-password-123")
    config = configure(tienda, {"ftp": _ftp(ftp_server)})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.REMOTE_FATAL
    assert "refused" in result.output and "retrying" not in result.stderr
    assert "wrong-password-123" not in result.output


def test_ftp_control_connection_dropped_mid_upload_keeps_the_old_feed(ftp_server, tienda,
                                                                      cli, monkeypatch):
    monkeypatch.setenv("FTP_PASSWORD", ftp_server.password)
    config = configure(tienda, {"ftp": _ftp(ftp_server)})
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    remote = ftp_server.root / "google_es.xml"
    old = remote.read_bytes()
    change_a_price(config)
    # Cut the control connection once STOR has been sent (~100 bytes of commands).
    proxy = FlakyProxy(ftp_server.port, after_bytes=120, drops=1)
    try:
        spec = _ftp(ftp_server)
        spec["url"] = f"ftp://127.0.0.1:{proxy.port}/"
        once = configure(tienda, {"ftp": {**spec, "retry": {"attempts": 1}}})
        failed = invoke(cli, "push", "-c", str(once))
        assert failed.exit_code == ExitCode.TEMPORARY_FAILURE, failed.output
        assert proxy.cut == 1
        assert remote.read_bytes() == old
        proxy.drops = 2
        again = configure(tienda, {"ftp": spec})
        result = invoke(cli, "push", "-c", str(again))
        assert result.exit_code == ExitCode.OK, result.output
        assert "retrying" in result.stderr
    finally:
        proxy.close()
    assert b"18.95 EUR" in remote.read_bytes()


def test_ftp_permission_denied_is_fatal(tmp_path, tienda, cli, monkeypatch):
    """A read-only account: the server answers 550 to STOR, which retrying cannot fix."""
    with start_ftp(tmp_path / "ro", perm="elr") as server:
        monkeypatch.setenv("FTP_PASSWORD", server.password)
        result = invoke(cli, "push", "-c", str(configure(tienda, {"ftp": _ftp(server)})))
        assert result.exit_code == ExitCode.REMOTE_FATAL, result.output
        assert "refused to store" in result.output and "retrying" not in result.stderr
        assert list(server.root.iterdir()) == []


def test_plain_ftp_with_a_password_warns(ftp_server, tienda, cli, monkeypatch):
    monkeypatch.setenv("FTP_PASSWORD", ftp_server.password)
    result = invoke(cli, "push", "-c", str(configure(tienda, {"ftp": _ftp(ftp_server)})))
    assert result.exit_code == ExitCode.OK
    assert "sends credentials unencrypted over ftp://" in result.stderr
