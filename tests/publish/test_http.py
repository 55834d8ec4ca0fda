"""HTTP(S) PUT/POST against a loopback server that injects faults."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedsync.config import load_config
from feedsync.errors import ExitCode
from feedsync.publish.retry import RetryPolicy
from feedsync.publish.run import run_push
from tests.publish.conftest import configure, invoke


def _push(config: Path, waits: list[float] | None = None):
    def hook(policy: RetryPolicy) -> RetryPolicy:
        if waits is not None:
            policy.sleep = waits.append
        return policy

    return run_push(load_config(config), retry=hook)


def _http(url: str, **extra: object) -> dict[str, object]:
    return {"url": f"{url}/feeds/", "token": "${HTTP_TOKEN}", **extra}


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv("HTTP_TOKEN", "tok-1234567890")


def test_put_sends_the_feed_with_its_token(http_server, tienda, cli):
    url, state = http_server
    config = configure(tienda, {"web": _http(url, headers={"X-Shop": "tienda"})})
    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    [received] = state.received
    assert received.method == "PUT" and received.path == "/feeds/google_es.xml"
    assert received.headers["authorization"] == "Bearer tok-1234567890"
    assert received.headers["x-shop"] == "tienda"
    assert received.headers["content-type"] == "application/rss+xml"
    assert received.body == (tienda.parent / "feeds" / "google_es.xml").read_bytes()


def test_post_to_an_exact_url(http_server, tienda):
    url, state = http_server
    config = configure(tienda, {"web": {**_http(url, method="POST"), "url": f"{url}/upload"}})
    assert _push(config).exit_code == ExitCode.OK
    assert [(r.method, r.path) for r in state.received] == [("POST", "/upload")]


@pytest.mark.parametrize("fault", ["500", "502", "429", "503:0"])
def test_server_errors_are_retried(http_server, tienda, fault):
    url, state = http_server
    state.faults = [fault, fault]
    report = _push(configure(tienda, {"web": _http(url)}))
    assert report.exit_code == ExitCode.OK
    assert state.requests == 3 and len(state.received) == 1
    assert report.outcomes[0].attempts == 3


def test_retry_after_is_honoured(http_server, tienda):
    url, state = http_server
    state.faults = ["503:2"]
    waits: list[float] = []
    report = _push(configure(tienda, {"web": _http(url)}), waits)
    assert report.exit_code == ExitCode.OK
    assert waits == [2.0]


def test_retry_after_beyond_the_time_budget_gives_up(http_server, tienda):
    url, state = http_server
    state.faults = ["503:3600"]
    waits: list[float] = []
    report = _push(configure(tienda, {"web": _http(url)}), waits)
    assert report.exit_code == ExitCode.TEMPORARY_FAILURE
    assert waits == [] and "would pass the 10s limit" in report.outcomes[0].message


def test_persistent_failure_exits_with_the_temporary_code(http_server, tienda, cli):
    url, state = http_server
    state.faults = ["503:0"] * 10
    result = invoke(cli, "push", "-c", str(configure(tienda, {"web": _http(url)})))
    assert result.exit_code == ExitCode.TEMPORARY_FAILURE
    assert state.requests == 3  # attempts are bounded
    assert "gave up after 3 attempts" in result.output


def test_response_slower_than_the_timeout_is_retried(http_server, tienda):
    url, state = http_server
    state.faults = ["slow"]
    state.slow_seconds = 1.5
    report = _push(configure(tienda, {"web": _http(url, timeout=0.3)}))
    assert report.exit_code == ExitCode.OK
    assert report.outcomes[0].attempts == 2


def test_connection_reset_mid_upload_is_retried(http_server, tienda):
    url, state = http_server
    state.faults = ["reset"]
    report = _push(configure(tienda, {"web": _http(url)}))
    assert report.exit_code == ExitCode.OK, report.outcomes
    assert state.requests == 2 and len(state.received) == 1
    assert len(state.received[0].body) > 1024  # the whole feed, not the cut one


@pytest.mark.parametrize("status", ["401", "403", "404"])
def test_client_errors_are_fatal_and_not_retried(http_server, tienda, cli, status):
    url, state = http_server
    state.faults = [status]
    result = invoke(cli, "push", "-c", str(configure(tienda, {"web": _http(url)})))
    assert result.exit_code == ExitCode.REMOTE_FATAL
    assert state.requests == 1


def test_https_with_an_untrusted_certificate_is_fatal(tienda, tmp_path):
    """A TLS server whose self-signed certificate nobody trusts: refused, never retried."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from tests.publish.servers import make_certificate

    cert, key = make_certificate(tmp_path)
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        url = f"https://127.0.0.1:{server.server_address[1]}"
        report = _push(configure(tienda, {"web": _http(url)}))
    finally:
        server.shutdown()
        server.server_close()
    assert report.exit_code == ExitCode.REMOTE_FATAL
    assert "not trusted" in report.outcomes[0].message
