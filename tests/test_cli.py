"""The command line through typer's runner: exit codes, output shapes, stdout vs stderr."""

import json
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from feedsync.cli.app import app
from tests.helpers import write_config

runner = CliRunner()


def run(*args: str, env: dict | None = None):
    return runner.invoke(app, list(args), env=env)


def test_build_writes_the_example_feeds_and_exits_0(tienda: Path):
    result = run("build", "-c", str(tienda))
    assert result.exit_code == 0, result.output
    assert (tienda.parent / "feeds" / "google_es.xml").exists()
    assert (tienda.parent / "feeds" / "google_es.tsv").exists()
    assert "google_es" in result.stdout
    assert "Traceback" not in result.output


def test_build_strict_exits_1_when_products_were_left_out(tienda: Path):
    assert run("build", "-c", str(tienda), "--strict", "-q").exit_code == 1


def test_config_from_environment_variable(tienda: Path):
    result = run("build", "-q", env={"FEEDSYNC_CONFIG": str(tienda)})
    assert result.exit_code == 0
    assert result.stdout == ""


def test_validate_exits_1_on_errors_and_lists_row_column_reason(tienda: Path):
    result = run("validate", "-c", str(tienda))
    assert result.exit_code == 1
    assert "AUR-IN-EAR" in result.stdout and "GS1 check digit" in result.stdout
    assert not (tienda.parent / "feeds").exists()  # validate writes nothing


def test_validate_json_shape(tienda: Path):
    result = run("validate", "-c", str(tienda), "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["rows"] == 40
    assert data["summary"]["errors"] == 2  # a missing price in 2 channels
    google = data["channels"]["google_es"]
    assert {k: google[k] for k in ("spec", "items", "excluded", "outputs",
                                   "filtered_by_rules")} == {
        "spec": "google_merchant", "items": 36, "excluded": 1, "outputs": [],
        "filtered_by_rules": 3}
    assert google["rules"][0]["dropped"] == 3
    gtin = next(i for i in data["issues"] if i["code"] == "invalid-gtin")
    # A bad GTIN is left out, the product kept: only a channel needing a GTIN drops it.
    assert gtin == {"code": "invalid-gtin", "severity": "warning",
                    "message": "GTIN 8412345678901 fails the GS1 check digit; it is left "
                               "out, and only channels that need gtin leave the product out",
                    "row": 41,
                    "product_id": "AUR-IN-EAR", "field": "gtin", "value": "8412345678901",
                    "channel": None, "column": "EAN"}
    price = next(i for i in data["issues"] if i["code"] == "missing-required")
    assert (price["channel"], price["field"], price["row"]) == ("google_es", "price", 40)


def test_validate_junit_is_parseable_xml_with_failures(tienda: Path):
    result = run("validate", "-c", str(tienda), "--format", "junit")
    assert result.exit_code == 1
    root = etree.fromstring(result.stdout.encode())
    assert root.tag == "testsuites"
    failures = root.findall(".//failure")
    assert {f.get("type") for f in failures} == {"missing-required"}
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    assert suites["google_es"].get("failures") == "1"


def test_results_on_stdout_logs_on_stderr(tmp_path: Path):
    config = write_config(tmp_path, "utf8_bom.csv")
    result = run("validate", "-c", str(config), "--format", "json")
    assert result.exit_code == 0
    json.loads(result.stdout)  # nothing but the JSON document on stdout
    bad = run("validate", "-c", str(tmp_path / "missing.yaml"))
    assert bad.exit_code == 2
    assert bad.stdout == ""
    assert "not found" in bad.stderr


def test_issues_file_gets_every_issue_with_formulas_neutralised(tmp_path: Path):
    config = write_config(tmp_path, "invalid_values.csv")
    issues_csv = tmp_path / "issues.csv"
    result = run("validate", "-c", str(config), "--issues-file", str(issues_csv), "-q")
    assert result.exit_code == 1
    lines = issues_csv.read_text().splitlines()
    assert lines[0] == "severity,code,channel,row,product_id,field,column,value,message"
    assert len(lines) > 5
    assert any(",'-" not in line and "abc" in line for line in lines)


@pytest.mark.parametrize(("source", "exit_code", "fragment"), [
    ("does_not_exist.csv", 3, "does not exist"),
    ("empty.csv", 3, "is empty"),
    ("binary.csv", 3, "binary"),
    (".", 3, "is a directory"),
])
def test_bad_masters_get_one_sentence_and_exit_3(tmp_path: Path, source, exit_code, fragment):
    config = write_config(tmp_path, source)
    for command in ("validate", "build"):
        result = run(command, "-c", str(config))
        assert result.exit_code == exit_code
        assert fragment in result.stderr
        assert "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1


def test_header_without_the_mapped_column_is_a_config_error(tmp_path: Path):
    config = write_config(tmp_path, "utf8_bom.csv", source_extra={"columns": {"title": "Nombre"}})
    result = run("build", "-c", str(config))
    assert result.exit_code == 2
    assert "utf8_bom.csv has no column 'Nombre' (for title)" in result.stderr


def test_ragged_row_is_reported_and_good_rows_still_reach_the_feed(tmp_path: Path):
    config = write_config(tmp_path, "ragged_rows.csv", outputs=["feeds/g.xml"])
    result = run("build", "-c", str(config), "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    ragged = [i for i in data["issues"] if i["code"] == "ragged-row"]
    assert [i["row"] for i in ragged] == [3]
    assert data["channels"]["google"]["items"] == 3
    assert "<g:id>SKU-4</g:id>" in (tmp_path / "feeds" / "g.xml").read_text()


def test_duplicate_ids_keep_the_first_and_report_the_second(tmp_path: Path):
    config = write_config(tmp_path, "duplicate_ids.csv")
    data = json.loads(run("validate", "-c", str(config), "-f", "json").stdout)
    [dup] = [i for i in data["issues"] if i["code"] == "duplicate-id"]
    assert (dup["row"], dup["product_id"]) == (4, "SKU-1")
    assert "already used by row 2" in dup["message"]


def test_header_only_master_builds_empty_feeds_with_a_warning(tmp_path: Path):
    config = write_config(tmp_path, "header_only.csv")
    result = run("build", "-c", str(config), "-f", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["summary"]["by_code"] == {"empty-source": 1,
                                                               "empty-feed": 2}
    root = etree.parse(str(tmp_path / "feeds" / "google.xml")).getroot()
    assert root.findall("channel/item") == []


def test_unknown_channel_and_spec_are_usage_errors(tmp_path: Path):
    config = write_config(tmp_path, "utf8_bom.csv")
    assert run("build", "-c", str(config), "--channel", "nope").exit_code == 2
    config = write_config(tmp_path, "utf8_bom.csv",
                          channels={"x": {"spec": "no_such_spec", "output": "x.xml"}})
    result = run("build", "-c", str(config))
    assert result.exit_code == 2 and "unknown channel spec 'no_such_spec'" in result.stderr


def test_channel_option_selects_channels(tmp_path: Path):
    config = write_config(tmp_path, "utf8_bom.csv", channels={
        "a": {"spec": "google_merchant", "output": "a.xml"},
        "b": {"spec": "google_merchant", "output": "b.tsv"}})
    result = run("build", "-c", str(config), "--channel", "b", "-q")
    assert result.exit_code == 0
    assert (tmp_path / "b.tsv").exists() and not (tmp_path / "a.xml").exists()


def test_gz_output(tmp_path: Path):
    import gzip

    config = write_config(tmp_path, "utf8_bom.csv", outputs=["feeds/g.xml.gz"])
    assert run("build", "-c", str(config), "-q").exit_code == 0
    assert b"<g:id>SKU-1</g:id>" in gzip.decompress((tmp_path / "feeds" / "g.xml.gz").read_bytes())


def test_channels_list_and_show():
    listing = run("channels")
    assert listing.exit_code == 0 and "google_merchant" in listing.stdout
    assert "xml, tsv" in listing.stdout
    shown = run("channels", "show", "google_merchant")
    assert shown.exit_code == 0
    assert "availability_date" in shown.stdout and "≤150" in shown.stdout
    assert run("channels", "show", "nope").exit_code == 2


def test_unexpected_errors_have_no_traceback_unless_vv(tmp_path: Path, monkeypatch):
    config = write_config(tmp_path, "utf8_bom.csv")

    def explode(*args, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr("feedsync.api.Project.build", explode)
    result = run("build", "-c", str(config))
    assert result.exit_code == 70
    assert "kaboom" in result.stderr and "Traceback" not in result.stderr
    assert "Traceback" in run("build", "-c", str(config), "-vv").stderr
