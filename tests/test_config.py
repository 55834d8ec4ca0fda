from pathlib import Path

import pytest

from feedsync.config import load_config
from feedsync.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "feedsync.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path):
    config = load_config(write(tmp_path, "source: {path: data/products.csv}\n"))
    assert config.resolve(config.source.path) == tmp_path / "data" / "products.csv"


def test_a_folder_means_its_feedsync_yaml(tmp_path: Path):
    write(tmp_path, "source: {path: products.csv}\n")
    assert load_config(tmp_path).source.path == "products.csv"


def test_env_vars_expand_and_missing_ones_are_reported(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("SHOP_DIR", "/srv/shop")
    config = load_config(write(tmp_path, "source: {path: '${SHOP_DIR}/p.csv'}\n"))
    assert config.source.path == "/srv/shop/p.csv"
    text = "source:\n  path: p.csv\n  encoding: '${NOT_SET_ANYWHERE}'\n  delimiter: '$${X}'\n"
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert "feedsync.yaml:3: source.encoding: environment variable NOT_SET_ANYWHERE" in str(
        err.value)


def test_every_problem_is_reported_at_once_with_line_and_key(tmp_path: Path):
    text = (
        "source:\n"
        "  path: p.csv\n"
        "  colums: {id: SKU}\n"
        "  columns: {identifier: SKU}\n"
        "channels:\n"
        "  google:\n"
        "    output: feeds/g.xml\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    problems = err.value.problems
    assert any(p.startswith("feedsync.yaml:3: source.colums: unknown key") for p in problems)
    assert any(p.startswith("feedsync.yaml:4: source.columns: unknown canonical field")
               for p in problems)
    assert any(p.startswith("feedsync.yaml:6: channels.google.spec: Field required")
               for p in problems)
    assert len(problems) == 3


def test_yaml_syntax_errors_name_the_line(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"feedsync.yaml:2, column 1: a tab character is "
                                          r"used for indentation; YAML indents with spaces"):
        load_config(write(tmp_path, "source:\n\tpath: x.csv\n"))
    with pytest.raises(ConfigError, match=r"feedsync.yaml:4, column 1: invalid YAML: .* "
                                          r"\(while parsing a flow sequence on line 3\)"):
        load_config(write(tmp_path, "source:\n  path: x.csv\n  a: [b\n"))


def test_missing_config_file_says_how_to_point_at_one(tmp_path: Path):
    with pytest.raises(ConfigError, match="-c PATH or set FEEDSYNC_CONFIG"):
        load_config(tmp_path / "nope.yaml")


def test_outputs_accept_strings_and_objects(tmp_path: Path):
    config = load_config(write(tmp_path, (
        "source: {path: p.csv}\n"
        "channels:\n"
        "  g:\n"
        "    spec: google_merchant\n"
        "    output: a.xml\n"
        "    outputs: [b.tsv, {path: c.txt, format: tsv}]\n")))
    outputs = config.channels["g"].resolved_outputs()
    assert [(o.path, o.format) for o in outputs] == [("a.xml", None), ("b.tsv", None),
                                                     ("c.txt", "tsv")]


def test_env_var_defaults(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("FEEDSYNC_TEST_UNSET", raising=False)
    config = load_config(write(tmp_path, "source: {path: '${FEEDSYNC_TEST_UNSET:-x/p.csv}'}\n"))
    assert config.source.path == "x/p.csv"
    monkeypatch.setenv("FEEDSYNC_TEST_UNSET", "y.csv")
    assert load_config(tmp_path / "feedsync.yaml").source.path == "y.csv"
