"""Secrets never appear in anything a push produces: stdout, stderr, JSON, logs, the
state store, written files, or exception messages. One run publishes to several real
servers with known secrets (some succeed, some fail), then everything is searched."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from feedsync.config import load_config
from feedsync.errors import ConfigError, ExitCode
from tests.publish.conftest import configure, invoke
from tests.publish.servers import start_graph_api

SFTP_PASSWORD = "Sftp-Pa55word-KNOWN-7731"
HTTP_TOKEN = "http-token-KNOWN-5512"
HEADER_SECRET = "header-secret-KNOWN-9904"
META_TOKEN = "EAAB-meta-KNOWN-3318"


def _everything_written(root: Path) -> list[tuple[Path, bytes]]:
    return [(p, p.read_bytes()) for p in root.rglob("*") if p.is_file()]


def test_no_secret_leaks_from_a_mixed_push(sshd, ftp_server, http_server, tienda, cli,
                                           monkeypatch, caplog, tmp_path):
    url, http_state = http_server
    monkeypatch.setenv("SFTP_PASSWORD", SFTP_PASSWORD)
    monkeypatch.setenv("FTP_PASSWORD", ftp_server.password)
    monkeypatch.setenv("HTTP_TOKEN", HTTP_TOKEN)
    monkeypatch.setenv("HEADER_SECRET", HEADER_SECRET)
    monkeypatch.setenv("META_TOKEN", META_TOKEN)
    secrets = [SFTP_PASSWORD, ftp_server.password, HTTP_TOKEN, HEADER_SECRET, META_TOKEN]
    caplog.set_level(logging.DEBUG)
    with start_graph_api(META_TOKEN) as (graph_base, graph_state):
        config = configure(tienda, {
            # sshd refuses this password: a fatal failure with the secret in play.
            "sftp": {"url": f"sftp://127.0.0.1:{sshd.port}{sshd.root}/",
                     "username": sshd.user, "password": "${SFTP_PASSWORD}",
                     "known_hosts": str(sshd.known_hosts)},
            "ftp": {"url": f"ftp://127.0.0.1:{ftp_server.port}/", "username": "shop",
                    "password": "${FTP_PASSWORD}"},
            "web": {"url": f"{url}/feeds/", "token": "${HTTP_TOKEN}",
                    "headers": {"X-Api-Key": "${HEADER_SECRET}"}},
            "meta": {"url": "meta-catalog://1234567890", "token": "${META_TOKEN}",
                     "base_url": graph_base, "poll_interval": 0.01},
        })
        issues = tmp_path / "issues.csv"
        runs = [
            invoke(cli, "push", "-c", str(config), "-vv", "--issues-file", str(issues)),
            invoke(cli, "push", "-c", str(config), "--format", "json", "--force"),
            invoke(cli, "push", "-c", str(config), "--dry-run", "-vv"),
            invoke(cli, "push", "-c", str(config), "--dry-run", "--format", "json"),
        ]
        http_state.faults = ["401"]  # the HTTP server now refuses the token
        runs.append(invoke(cli, "push", "-c", str(config), "--format", "json", "-vv"))
    assert runs[0].exit_code == ExitCode.PARTIAL, runs[0].output  # sftp failed, others ok
    assert http_state.received and graph_state.items  # the secrets were really used
    assert http_state.received[0].headers["x-api-key"] == HEADER_SECRET

    produced: list[tuple[str, bytes]] = []
    for n, run in enumerate(runs):
        produced += [(f"run {n} stdout", run.stdout.encode()),
                     (f"run {n} stderr", run.stderr.encode())]
    produced += [(r.getMessage(), r.getMessage().encode()) for r in caplog.records]
    produced += [(str(p), data) for p, data in _everything_written(tienda.parent)]
    produced += [(str(issues), issues.read_bytes())]
    produced += [(str(p), data) for p, data in _everything_written(ftp_server.root)]
    for where, data in produced:
        for secret in secrets:
            assert secret.encode() not in data, f"{secret} leaked into {where}"


def test_password_in_a_url_is_refused_without_echoing_it(tienda):
    configure(tienda, {"sftp": {"url": f"sftp://shop:{SFTP_PASSWORD}@127.0.0.1/feeds/"}})
    with pytest.raises(ConfigError) as error:
        load_config(tienda)
    assert "not in the URL" in str(error.value)
    assert SFTP_PASSWORD not in str(error.value)


def test_secret_fields_are_not_in_the_config_repr(tienda, monkeypatch):
    monkeypatch.setenv("HTTP_TOKEN", HTTP_TOKEN)
    config = load_config(configure(tienda, {"web": {"url": "https://example.com/feeds/",
                                                    "token": "${HTTP_TOKEN}"}}))
    assert HTTP_TOKEN not in repr(config) and HTTP_TOKEN not in str(config.model_dump())
    assert HTTP_TOKEN not in config.model_dump_json()
