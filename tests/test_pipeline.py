"""One pipeline under every command: explain agrees with build, templates blank missing values,
and the typed row outcomes a ledger or a preview consumes."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from feedsync.api import load_project
from feedsync.cli.app import app
from feedsync.pipeline import EXCLUDED, FILTERED, Written

runner = CliRunner()

MASTER = (
    "ref,talla,title,description,link,image_link,price,availability,brand,condition\n"
    "A1,S,Camiseta,Camiseta de algodón,https://shop.example/a1,https://shop.example/a1.jpg,"
    "10.00,in_stock,Marca,new\n"
    "A1,M,Camiseta,Camiseta de algodón,https://shop.example/a1,https://shop.example/a1.jpg,"
    "10.00,in_stock,,new\n"
)


def _project(tmp_path: Path, channels: dict | None = None) -> Path:
    (tmp_path / "master.csv").write_text(MASTER, encoding="utf-8")
    config = {
        "source": {"path": "master.csv", "defaults": {"currency": "EUR"},
                   "columns": {"id": "{{ ref }}-{{ talla }}"}},
        "channels": channels or {"google": {"spec": "google_merchant",
                                            "output": "feeds/google.xml"}},
    }
    path = tmp_path / "feedsync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def test_explain_finds_a_product_by_the_id_the_feed_shows(tmp_path: Path) -> None:
    """Issue 9: with a templated id, build writes A1-S and explain must find A1-S."""
    config = _project(tmp_path)
    built = runner.invoke(app, ["build", "-c", str(config)])
    assert built.exit_code == 0, built.output
    assert "<g:id>A1-S</g:id>" in (tmp_path / "feeds" / "google.xml").read_text("utf-8")
    result = runner.invoke(app, ["explain", "A1-S", "--channel", "google", "-c", str(config)])
    assert result.exit_code == 0, result.output
    assert "A1-S: row 3 of" not in result.output  # row 2 is the header + first product
    assert "A1-S: row 2 of" in result.output
    assert "in the google feed" in result.output
    missing = runner.invoke(app, ["explain", "A1-XL", "--channel", "google", "-c", str(config)])
    assert missing.exit_code == 2
    assert "no product with id 'A1-XL'" in missing.output


def test_a_spec_template_prints_a_missing_value_as_nothing(tmp_path: Path) -> None:
    """Issue 9: `{{ brand }} {{ title }}` on a product with no brand never writes `None`."""
    specs = tmp_path / "channel_specs"
    specs.mkdir()
    (specs / "titled.yaml").write_text(yaml.safe_dump({
        "name": "titled", "title": "Titled", "description": "test spec",
        "formats": {"csv": {"writer": "delimited", "extension": ".csv", "delimiter": ","}},
        "fields": [{"name": "id", "required": True},
                   {"name": "title", "template": "{{ brand }} {{ title }}"}],
    }, sort_keys=False), encoding="utf-8")
    config = _project(tmp_path, {"titled": {"spec": "titled", "output": "feeds/t.csv"}})
    result = runner.invoke(app, ["build", "-c", str(config)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "feeds" / "t.csv").read_text("utf-8")
    assert "None" not in text
    assert "A1-S,Marca Camiseta" in text
    assert "A1-M,Camiseta" in text


def test_outcomes_are_typed_per_row_and_feed(tmp_path: Path) -> None:
    # Pinterest does not require a brand (Google does): the brandless A1-M is written there.
    config = _project(tmp_path, {
        "pinterest": {"spec": "pinterest_catalog", "output": "feeds/pinterest.csv"},
        "branded": {"spec": "google_merchant", "output": "feeds/branded.xml",
                    "rules": [{"filter": {"keep": "brand"}}]},
    })
    outcomes = list(load_project(config).outcomes())
    assert [o.product_id for o in outcomes] == ["A1-S", "A1-M"]
    first, second = outcomes
    assert isinstance(first.feeds[0], Written) and first.feeds[0].item["id"] == "A1-S"
    assert isinstance(first.feeds[1], Written)
    assert second.feeds[1] is FILTERED
    assert all(f is not EXCLUDED for o in outcomes for f in o.feeds)


def test_outcomes_are_the_same_from_worker_processes(tmp_path: Path) -> None:
    # Pinterest does not require a brand (Google does): the brandless A1-M is written there.
    config = _project(tmp_path, {
        "pinterest": {"spec": "pinterest_catalog", "output": "feeds/pinterest.csv"},
        "branded": {"spec": "google_merchant", "output": "feeds/branded.xml",
                    "rules": [{"filter": {"keep": "brand"}}]},
    })
    project = load_project(config)
    sequential = list(project.outcomes())
    parallel = list(project.outcomes(jobs=2))
    assert [(o.row, o.product_id, o.feeds) for o in parallel] == [
        (o.row, o.product_id, o.feeds) for o in sequential]
    assert parallel[1].feeds[1] is FILTERED  # the singleton survives pickling


def test_the_readme_python_example_runs(tienda: Path) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### From Python", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace('"examples/tienda/feedsync.yaml"', repr(str(tienda)))
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["report"].channels["google_es"].items > 0
    assert namespace["explanation"].item["id"] == "CAM-BAS-BLA-S"
