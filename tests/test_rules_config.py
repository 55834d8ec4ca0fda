"""Rule problems fail fast, all at once, with the rule's file, line and channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedsync.api import load_project, run_validate
from feedsync.errors import ConfigError

MASTER = "SKU;Nombre;Marca;PVP;Stock;Coste\nA1;Camiseta;Acme;19,95;in_stock;8\n"
HEADER = """\
source:
  path: master.csv
  locale: es_ES
  columns: {id: SKU, title: Nombre, brand: Marca, price: PVP, availability: Stock}
  defaults: {currency: EUR}
"""


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "master.csv").write_text(MASTER, encoding="utf-8")
    path = tmp_path / "feedsync.yaml"
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config = load_project(path).config
        run_validate(config)
    return caught.value.problems


def test_unknown_step_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, """\
channels:
  google:
    spec: google_merchant
    rules:
      - fliter: "brand == 'Acme'"
""")
    assert problems(path) == [
        "feedsync.yaml:10: channels.google.rules[0].fliter: unknown step 'fliter' (did you "
        "mean 'filter'?); steps are " + problems(path)[0].split("steps are ")[1]]


def test_bad_expression_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, """\
channels:
  google:
    spec: google_merchant
    rules:
      - set: {title: "ok"}
      - filter: "brand == == 'Acme'"
""")
    (problem,) = problems(path)
    assert problem.startswith("feedsync.yaml:11: channels.google.rules[1].filter.keep: bad "
                              "expression `brand == == 'Acme'`")


def test_unknown_field_in_a_template_with_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, """\
channels:
  google:
    spec: google_merchant
    rules:
      - set:
          title: "{{ brnad }} {{ title }}"
""")
    (problem,) = problems(path)  # found once the master's header is known
    assert problem == ("feedsync.yaml:11: channels.google.rules[0].set.title: unknown field "
                       "'brnad' (did you mean 'brand'?); use a canonical field or a column of "
                       "the master")


def test_extra_columns_are_known_and_mapped_columns_point_to_their_field(
        tmp_path: Path) -> None:
    path = write(tmp_path, """\
channels:
  google:
    spec: google_merchant
    rules:
      - filter: {drop: "Coste | float > 100"}
      - set: {title: "{{ Nombre }}"}
""")
    (problem,) = problems(path)
    assert problem == ("feedsync.yaml:11: channels.google.rules[1].set.title: column 'Nombre' "
                       "is mapped to title; use title")


def test_missing_lookup_file(tmp_path: Path) -> None:
    path = write(tmp_path, """\
channels:
  google:
    spec: google_merchant
    rules:
      - lookup:
          field: brand
          table: marcas.csv
""")
    (problem,) = problems(path)
    assert problem.startswith("feedsync.yaml:12: channels.google.rules[0].lookup.table: file ")
    assert "marcas.csv not found" in problem


def test_every_problem_at_once_including_rule_sets(tmp_path: Path) -> None:
    path = write(tmp_path, """\
rulesets:
  tidy:
    - strip_html: title
    - truncate: {field: title, length: -3}
channels:
  google:
    spec: google_merchant
    rules:
      - use: tidy
      - use: tidi
      - markup: lots
      - when: "brand"
        then:
          - map_category: {from: product_type, default: 99999999}
      - set: {shipping: "ES::Std:4.95 EUR"}
      - regex_replace: {field: title, pattern: "(unclosed"}
""")
    found = problems(path)
    assert len(found) == 6, found
    text = "\n".join(found)
    assert "feedsync.yaml:9: rulesets.tidy[1].truncate.length: Input should be greater than 0" \
           in text
    assert "feedsync.yaml:15: channels.google.rules[1].use: no rule set named 'tidi' (did you " \
           "mean 'tidy'?)" in text
    assert "feedsync.yaml:16: channels.google.rules[2].markup.percent:" in text
    assert "feedsync.yaml:19: channels.google.rules[3].then[0].map_category.default: " \
           "99999999 is not a Google product category (taxonomy 2021-09-21)" in text
    assert "feedsync.yaml:20: channels.google.rules[4].set.shipping: shipping cannot be set " \
           "by a rule" in text
    assert "feedsync.yaml:21: channels.google.rules[5].regex_replace.pattern: bad regular " \
           "expression" in text


def test_unknown_category_in_a_lookup_table_names_the_table(tmp_path: Path) -> None:
    (tmp_path / "cats.csv").write_text("tipo;google\nTazas;2169\nRaro;424242\n",
                                       encoding="utf-8")
    path = write(tmp_path, """\
channels:
  google:
    spec: google_merchant
    rules:
      - map_category: {from: product_type, table: cats.csv}
""")
    (problem,) = problems(path)
    assert problem.startswith("feedsync.yaml:10: channels.google.rules[0].map_category.table: "
                              "cats.csv: 'Raro' -> '424242' is not a Google product category")


def test_a_rule_with_two_steps_and_a_self_using_rule_set(tmp_path: Path) -> None:
    path = write(tmp_path, """\
rulesets:
  loop:
    - use: loop
channels:
  google:
    spec: google_merchant
    rules:
      - {set: {title: x}, filter: "true"}
      - use: loop
""")
    found = problems(path)
    assert any("channels.google.rules[0]: a rule has one step" in p for p in found)
    assert any("rulesets.loop[0].use: rule set 'loop' uses itself" in p for p in found)


def test_valid_rules_load(tmp_path: Path) -> None:
    path = write(tmp_path, """\
channels:
  google:
    spec: google_merchant
    rules:
      - filter: "availability != 'out_of_stock'"
      - set: {title: "{{ brand }} {{ title }}", custom_label_0: "{{ Coste }}"}
""")
    report = run_validate(load_project(path).config)
    counts = report.channels["google"].rules
    assert [(c.label, c.where, c.changed) for c in counts] == [
        ("filter keep availability != 'out_of_stock'", "feedsync.yaml:10", 0),
        ("set title, custom_label_0", "feedsync.yaml:11", 1)]


def test_a_problem_in_a_shared_rule_set_is_listed_once_per_channel(tmp_path: Path) -> None:
    path = write(tmp_path, """\
rulesets:
  tidy:
    - strip_htm: title
  unused:
    - sett: {title: x}
channels:
  google:
    spec: google_merchant
    rules: [{use: tidy}]
""")
    found = problems(path)
    assert len(found) == 2, found
    assert found[0].startswith("feedsync.yaml:8: rulesets.tidy[0].strip_htm: unknown step "
                               "'strip_htm' (did you mean 'strip_html'?)")
    assert found[0].endswith("(used by channel google)")
    assert found[1].startswith("feedsync.yaml:10: rulesets.unused[0].sett: unknown step")


def test_unknown_steps_and_unknown_fields_are_reported_together(tmp_path):
    """Issue 5: all rule errors at once, even those that need the master's header."""
    from feedsync.api import load_project
    from feedsync.errors import ConfigError
    from tests.helpers import write_config

    config = write_config(tmp_path, "utf8_bom.csv", channels={"g": {
        "spec": "google_merchant", "output": "g.xml",
        "rules": [{"fitler": "brand == 'x'"}, {"set": {"title": "{{ brnad }} {{ title }}"}}]}})
    with pytest.raises(ConfigError) as caught:
        load_project(config)
    problems = "\n".join(caught.value.problems)
    assert "unknown step 'fitler' (did you mean 'filter'?)" in problems
    assert "unknown field 'brnad' (did you mean 'brand'?)" in problems
