"""Fixtures for the publish tests: project configs with destinations, and real servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from tests.publish import servers

FAST_RETRY = {"attempts": 3, "delay": 0.01, "max_delay": 0.05, "max_time": 10}


def configure(config: Path, destinations: dict[str, dict[str, Any]],
              channel: str = "google_es") -> Path:
    """Give the copied example's channel these destinations (fast retries unless given).

    Only that channel is kept, without its rules: these tests are about publishing the
    plain feed of the example's 38 publishable products, not about what rules drop."""
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    kept = {key: value for key, value in data["channels"][channel].items() if key != "rules"}
    data["channels"] = {channel: kept}
    data["publish"] = {name: {"timeout": 5, "retry": dict(FAST_RETRY), **spec}
                       for name, spec in destinations.items()}
    data["channels"][channel]["publish"] = list(destinations)
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    return config


def truncate_master(config: Path, share: float = 0.5) -> int:
    """Keep the header and the first `share` of the master's rows; return rows kept."""
    master = config.parent / "productos.csv"
    lines = master.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    keep = int((len(lines) - 1) * share)
    master.write_text("".join(lines[: 1 + keep]), encoding="utf-8")
    return keep


def change_a_price(config: Path) -> None:
    master = config.parent / "productos.csv"
    text = master.read_text(encoding="utf-8-sig")
    master.write_text(text.replace(";19,95;", ";18,95;", 1), encoding="utf-8")


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def invoke(cli: CliRunner, *args: str) -> Any:
    from feedsync.cli.app import app

    return cli.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[servers.SshServer]:
    """OpenSSH sshd from Debian (openssh-server), not paramiko's server implementation."""
    if servers.SSHD is None:
        pytest.skip("sshd is not installed (.ci/packages-sshd.txt installs openssh-server)")
    with servers.start_sshd(tmp_path / "sshd") as server:
        yield server


@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[servers.FtpServer]:
    with servers.start_ftp(tmp_path / "ftp") as server:
        yield server


@pytest.fixture
def ftps_server(tmp_path: Path) -> Iterator[servers.FtpServer]:
    pytest.importorskip("OpenSSL", reason="pyftpdlib's FTPS needs pyOpenSSL (test extra)")
    with servers.start_ftp(tmp_path / "ftps", tls=True) as server:
        yield server


@pytest.fixture
def http_server() -> Iterator[tuple[str, servers.HttpState]]:
    with servers.start_http() as server:
        yield server


@pytest.fixture
def merchant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The local fake Merchant API (documented shapes), with google-auth kept offline."""
    from google.oauth2 import service_account

    from tests.publish.test_channel_apis import DISCOVERY

    monkeypatch.setattr(service_account.Credentials,
                        "_is_regional_access_boundary_lookup_required", lambda self: False)
    with servers.start_merchant_api(tmp_path, DISCOVERY) as fake:
        yield fake


@pytest.fixture
def graph(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The local fake Graph API (documented shapes), its token in $META_TOKEN."""
    from tests.publish.test_channel_apis import META_TOKEN

    monkeypatch.setenv("META_TOKEN", META_TOKEN)
    with servers.start_graph_api(META_TOKEN) as fake:
        yield fake
