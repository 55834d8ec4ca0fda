"""The issue's "done when": `feedsync push` publishes the example shop's feeds to a local
SFTP server (OpenSSH sshd), an FTPS server and an HTTP endpoint, and the Google and Meta
fakes (local servers speaking the documented shapes; the real APIs cannot run here)
receive well-formed batches. examples/tienda/feedsync.publish.yaml is used as written,
with only the destinations' addresses and credentials pointed at the loopback servers."""

from __future__ import annotations

import yaml

from feedsync.errors import ExitCode
from tests.conftest import SHARED_REFERENCE
from tests.publish.conftest import FAST_RETRY, invoke
from tests.publish.servers import start_graph_api, start_merchant_api

DISCOVERY = SHARED_REFERENCE / "google" / "merchantapi.products_v1.discovery.json"


def test_example_shop_is_published_everywhere(sshd, ftps_server, http_server, tienda, cli,
                                              monkeypatch, tmp_path):
    from google.oauth2 import service_account

    monkeypatch.setattr(service_account.Credentials,
                        "_is_regional_access_boundary_lookup_required", lambda self: False)
    config = tienda.parent / "feedsync.publish.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    destinations = data["publish"]
    http_url, http_state = http_server
    monkeypatch.setenv("WEB_TOKEN", "web-token")
    monkeypatch.setenv("FTP_PASSWORD", ftps_server.password)
    monkeypatch.setenv("META_TOKEN", "meta-token")
    with start_merchant_api(tmp_path, DISCOVERY) as (google_base, account_file, google), \
            start_graph_api("meta-token", catalog="9876543210") as (graph_base, meta):
        sftp = destinations["google_sftp"]
        sftp.update(url=f"sftp://127.0.0.1:{sshd.port}{sshd.root}/", username=sshd.user,
                    private_key=str(sshd.user_key), known_hosts=str(sshd.known_hosts))
        del sftp["password"]
        destinations["web"].update(url=f"{http_url}/feeds/")
        destinations["mirror_ftps"].update(url=f"ftps://127.0.0.1:{ftps_server.port}/",
                                           username=ftps_server.user,
                                           ca_file=str(ftps_server.certificate))
        destinations["merchant_api"].update(base_url=google_base,
                                            credentials=str(account_file))
        destinations["meta_catalog"].update(base_url=graph_base, poll_interval=0.01)
        for destination in destinations.values():
            destination["retry"] = dict(FAST_RETRY)
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

        result = invoke(cli, "push", "-c", str(config))

    assert result.exit_code == ExitCode.OK, result.output
    xml = (tienda.parent / "feeds" / "google_es.xml").read_bytes()
    tsv = (tienda.parent / "feeds" / "google_es.tsv").read_bytes()
    assert (sshd.root / "google_es.xml").read_bytes() == xml
    assert (ftps_server.root / "google_es.tsv").read_bytes() == tsv
    assert [r.body for r in http_state.received] == [xml]
    assert google.errors == [] and len(google.products) == 39
    assert meta.errors == [] and len(meta.items) == 39
    # The Meta channel renders through the meta_catalog spec: Meta's own spellings arrive.
    availability = {item["availability"] for item in meta.items.values()}
    assert availability <= {"in stock", "out of stock", "preorder", "available for order"}
    assert "in stock" in availability
