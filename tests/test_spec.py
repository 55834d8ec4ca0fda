from pathlib import Path

import pytest

from feedsync.channels.loader import available_specs, load_spec
from feedsync.channels.render import ChannelRenderer
from feedsync.errors import ConfigError
from tests.test_parse import parse


def test_google_spec_loads_with_its_limits():
    spec = load_spec("google_merchant")
    assert spec.field("id").max_length == 50
    assert spec.field("title").max_length == 150
    assert spec.field("description").max_length == 5000
    assert spec.field("additional_image_link").max_items == 10
    assert set(spec.formats) == {"xml", "tsv"}


def test_a_project_spec_overrides_and_extends_builtins(tmp_path: Path):
    (tmp_path / "channel_specs").mkdir()
    (tmp_path / "channel_specs" / "tiny.yaml").write_text(
        "name: tiny\ntitle: Tiny\nformats: {csv: {writer: delimited, extension: .csv}}\n"
        "fields: [{name: id, required: true}, {name: title}]\n")
    specs = available_specs(tmp_path)
    assert specs["tiny"].parent == tmp_path / "channel_specs"
    assert "google_merchant" in specs
    assert [f.name for f in load_spec("tiny", tmp_path).fields] == ["id", "title"]


def test_invalid_specs_are_config_errors_with_lines(tmp_path: Path):
    (tmp_path / "channel_specs").mkdir()
    (tmp_path / "channel_specs" / "broken.yaml").write_text(
        "name: broken\ntitle: Broken\nformats: {csv: {writer: delimited, extension: .csv}}\n"
        "fields:\n  - {name: id, max_lenght: 5}\n")
    with pytest.raises(ConfigError) as err:
        load_spec("broken", tmp_path)
    assert any("broken.yaml:5: fields[0].max_lenght: unknown key" in p
               for p in err.value.problems)


def test_unknown_spec_lists_the_available_ones():
    with pytest.raises(ConfigError, match=r"available: .*google_merchant"):
        load_spec("nope")


def render(cells=None, **config):
    product, _ = parse(cells, **config)
    return ChannelRenderer(load_spec("google_merchant"), "google").render(product)


def test_renders_google_spellings():
    item, issues = render({"sale_price": "9.5 EUR", "availability": "limited"})
    assert item["price"] == "19.99 EUR"
    assert item["sale_price"] == "9.50 EUR"
    assert item["availability"] == "in_stock"
    assert item["identifier_exists"] == "no"
    assert [i.code for i in issues] == []


def test_missing_required_field_excludes_with_the_channel_named():
    item, issues = render({"image_link": ""})
    assert item is None
    [issue] = issues
    assert (issue.code, issue.field, issue.channel, issue.severity.value) == (
        "missing-required", "image_link", "google", "error")


def test_long_titles_are_cut_at_a_word_and_long_ids_excluded():
    item, issues = render({"title": "word " * 40})
    assert len(item["title"]) <= 150 and not item["title"].endswith(" ")
    assert [i.code for i in issues] == ["truncated"]
    item, issues = render({"id": "X" * 51})
    assert item is None and [i.code for i in issues] == ["too-long"]


def test_preorder_needs_an_availability_date():
    item, issues = render({"availability": "preorder"})
    assert item is None
    assert issues[0].message == "Google Merchant Center requires availability_date for a preorder"
    item, _ = render({"availability": "preorder", "availability_date": "2027-01-15"},
                     columns={"availability_date": "availability_date"})
    assert item["availability_date"] == "2027-01-15T00:00+0000"


def test_more_than_ten_additional_images_are_cut_with_a_warning():
    urls = ",".join(f"https://shop.example.com/i/{n}.jpg" for n in range(12))
    item, issues = render({"additional_image_link": urls})
    assert len(item["additional_image_link"]) == 10
    assert [i.code for i in issues] == ["too-many-values"]


def test_a_project_channel_with_its_own_template(tmp_path: Path):
    """Channels are data: a project adds one spec file and one template, no Python."""
    from feedsync.api import run_build
    from feedsync.config import load_config
    from tests.helpers import write_config

    (tmp_path / "channel_specs").mkdir()
    (tmp_path / "channel_specs" / "lista.yaml").write_text(
        "name: lista\ntitle: Lista de precios\n"
        "formats: {jsonl: {writer: jsonl, extension: .jsonl, item_template: "
        "lista/item.json.j2}}\n"
        "fields: [{name: id, required: true}, {name: title}, {name: price, format: money}]\n")
    (tmp_path / "templates" / "lista").mkdir(parents=True)
    (tmp_path / "templates" / "lista" / "item.json.j2").write_text(
        '{"sku": {{ item.id | tojson }}, "precio": {{ item.price | tojson }}}')
    config = write_config(tmp_path, "utf8_bom.csv",
                          channels={"lista": {"spec": "lista", "output": "lista.jsonl"}})
    run_build(load_config(config))
    lines = (tmp_path / "lista.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"sku": "SKU-1", "precio": "19.99 EUR"}'
