"""Secrets stay secret in every form a protocol carries them, and credentials that cannot
work are config errors that never echo the value."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync.cli.app import app
from tests.publish.conftest import configure

PASSWORD = "Pa55-KNOWN-echo-4471"
TOKEN = "tok-KNOWN-echo-8812"


class _EchoAuthorization(BaseHTTPRequestHandler):
    """Refuses every upload, quoting the request's Authorization header in its reason."""

    def do_PUT(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.send_response(403, f"Forbidden for {self.headers.get('Authorization')}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoAuthorization)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feeds/"
    finally:
        server.shutdown()
        server.server_close()


def _all_text(result: object, root: Path) -> str:
    written = " ".join(p.read_bytes().decode("utf-8", "replace")
                       for p in root.rglob("*") if p.is_file() and p.suffix != ".db")
    return getattr(result, "output", "") + written


@pytest.mark.parametrize("output_format", ["table", "json"])
def test_echoed_basic_credentials_are_masked(tienda: Path, echo_server: str,
                                             monkeypatch: pytest.MonkeyPatch,
                                             output_format: str) -> None:
    monkeypatch.setenv("WEB_PASSWORD", PASSWORD)
    config = configure(tienda, {"web": {"url": echo_server, "username": "shop",
                                        "password": "${WEB_PASSWORD}"}})
    result = CliRunner().invoke(app, ["push", "-c", str(config), "--format", output_format,
                                      "-vv"])
    assert result.exit_code == 7, result.output  # fatal: 403
    encoded = base64.b64encode(f"shop:{PASSWORD}".encode()).decode()
    text = _all_text(result, tienda.parent)
    assert "Forbidden for" in text
    assert encoded not in text and PASSWORD not in text


def test_echoed_bearer_token_is_masked(tienda: Path, echo_server: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_TOKEN", TOKEN)
    config = configure(tienda, {"web": {"url": echo_server, "token": "${WEB_TOKEN}"}})
    result = CliRunner().invoke(app, ["push", "-c", str(config), "-vv"])
    assert result.exit_code == 7, result.output
    assert TOKEN not in _all_text(result, tienda.parent)


def test_token_with_a_trailing_newline_is_a_config_error(tienda: Path, echo_server: str,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.setenv("WEB_TOKEN", TOKEN + "\n")
    config = configure(tienda, {"web": {"url": echo_server, "token": "${WEB_TOKEN}"}})
    result = CliRunner().invoke(app, ["push", "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert "publish.web.token" in result.output and "line break" in result.output
    assert TOKEN not in result.output and "Traceback" not in result.output


def test_token_and_password_together_are_refused(tienda: Path, echo_server: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_TOKEN", TOKEN)
    monkeypatch.setenv("WEB_PASSWORD", PASSWORD)
    config = configure(tienda, {"web": {"url": echo_server, "token": "${WEB_TOKEN}",
                                        "username": "shop", "password": "${WEB_PASSWORD}"}})
    result = CliRunner().invoke(app, ["push", "-c", str(config)])
    assert result.exit_code == 2, result.output
    assert "not both" in result.output


@pytest.mark.parametrize("password", ["Xq7@Zz9:Kp4", "Jw8:Vv5@@Qn2", "Hh3@Yy6"])
def test_database_password_with_at_or_colon_leaks_no_fragment(tmp_path: Path,
                                                              password: str) -> None:
    from tests.sources.helpers import write_config

    config = write_config(tmp_path / "feedsync.yaml", {
        "source": {"url": f"postgresql://shop:{password}@127.0.0.1:1/shop", "table": "p",
                   "columns": {"id": "sku"}}, "channels": {}})
    result = CliRunner().invoke(app, ["validate", "-c", str(config.file)])
    assert result.exit_code in (2, 3), result.output
    assert "Traceback" not in result.output
    for fragment in {password, *password.replace("@", ":").split(":")} - {""}:
        if len(fragment) >= 3:
            assert fragment not in result.output, result.output


def test_url_userinfo_is_masked_up_to_the_last_at() -> None:
    from feedsync.publish.redact import Redactor

    assert Redactor([])("sftp://shop:p@ss:word@host/x") == "sftp://***@host/x"
