"""Templates and rule regexes are bounded per product: output size, values built, loop
work and regex time; going over is an issue on that product, never minutes or gigabytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync.checks.safe_regex import RegexTimeout, compile_pattern
from feedsync.cli.app import app
from feedsync.templating import TemplateBudgetError, fast_renderer, template_environment
from tests.security.masters import csv_bytes, good_row, project

HOSTILE = {
    "string-repeat": "{{ 'a' * 10**9 }}",
    "list-repeat": "{{ [1] * 10**9 }}",
    "center-filter": "{{ 'x' | center(10**9) }}",
    "center-method": "{{ 'x'.center(10**9) }}",
    "indent": "{{ 'x\ny' | indent(10**9) }}",
    "format-filter": "{{ '%1000000000d' | format(1) }}",
    "format-method": "{{ '{:1000000000}'.format(1) }}",
    "nested-loops": "{% for i in range(100000) %}{% for j in range(100000) %}"
                    "{% endfor %}{% endfor %}",
    "output-size": "{% for i in range(99999) %}{{ 'x' * 1000 }}{% endfor %}",
    "doubling-macro": "{% macro f(s) %}{{ f(s ~ s) }}{% endmacro %}{{ f('ab') }}",
    "replace-growth": "{{ ('a' * 1000) | replace('a', 'a' * 100000) }}",
    "batch": "{{ [1] | batch(10**9, 0) | list }}",
    "regex": "{{ ('a' * 60 ~ '!') | regex_replace('(a|aa)+$', '') }}",
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_template_is_stopped(case: str) -> None:
    render = fast_renderer(template_environment().from_string(HOSTILE[case]))
    with pytest.raises(TemplateBudgetError):
        render({})


def test_ordinary_templates_are_untouched() -> None:
    env = template_environment()
    text = ("{% for w in title.split() %}{{ w | center(9) }}{% endfor %}|{{ '%05.1f' | "
            "format(2.5) }}|{{ 'a-b' | replace('-', '_') }}|{{ title | regex_replace('[ ]+', "
            "'_') }}|{{ ('x' ~ 'y') * 3 }}")
    assert env.from_string(text).render(title="a b") == (
        "    a        b    |002.5|a_b|a_b|xyxyxy")


def test_catastrophic_regex_times_out() -> None:
    with pytest.raises(RegexTimeout):
        compile_pattern("(x+x+)+y").sub("", "x" * 5000)


def test_budget_overrun_is_an_issue_on_the_product(tmp_path: Path) -> None:
    config = project(tmp_path, "m.csv", csv_bytes(good_row(), good_row("A2")), channels={
        "google": {"spec": "google_merchant", "outputs": ["feeds/google.xml"],
                   "rules": [{"set": {"custom_label_0": "{{ id * 10**9 }}"}},
                             {"regex_replace": {"field": "title", "pattern": "(a|aa)+$",
                                                "replacement": ""}}]}})
    (tmp_path / "m.csv").write_bytes(csv_bytes(good_row(title="a" * 60 + "!"), good_row("A2")))
    result = CliRunner().invoke(app, ["validate", "-c", str(config), "--format", "json"])
    assert result.exit_code in (0, 1), result.output
    messages = " ".join(i["message"] for i in json.loads(result.output)["issues"])
    assert "over the limit" in messages
    assert "took more than" in messages
