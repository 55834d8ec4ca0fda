"""The registry of rule steps is the one list: dispatch, suggestions, docs and issue codes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import Field

from feedsync.checks import codes
from feedsync.checks.issue import Severity
from feedsync.errors import ConfigError
from feedsync.products.product import Product
from feedsync.rules import registry
from feedsync.rules.model import StepParams
from feedsync.rules.steps import (
    STEP_CLASSES,
    CompileContext,
    DocRow,
    RunState,
    Step,
    register_step,
    set_one,
    text_of,
)
from feedsync.yamlpos import Location
from tests.rules_helpers import apply, product, rules

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_steps_table() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Rules\n"):]
    start = section.index("| Step | What it does |")
    return section[start:section.index("\n\n", start) + 1]


def test_the_readme_table_of_steps_is_the_registry_output() -> None:
    # Regenerate with `python -m feedsync.rules.registry --markdown`.
    assert _readme_steps_table() == registry.markdown_table()


def test_the_markdown_command_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert registry.main(["--markdown"]) == 0
    assert capsys.readouterr().out == registry.markdown_table()
    assert registry.main(["--bogus"]) == 2


def test_every_step_is_documented_and_every_readme_row_belongs_to_a_step() -> None:
    names = registry.step_names()
    assert len(names) == len(set(names)) == len(STEP_CLASSES)
    assert {"filter", "set", "when", "use", "variants", "markup", "strip_html"} <= set(names)
    for step in registry.all_steps():
        assert step.docs, f"{step.name} has no row in the README table"
        assert any(f"`{step.name}" in row.usage for row in step.docs), step.name


def test_unknown_step_lists_and_suggests_registry_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        rules(tmp_path, [{"markpu": 10}])
    problem = raised.value.problems[0]
    assert "unknown step 'markpu' (did you mean 'markup'?)" in problem
    assert problem.endswith("steps are " + ", ".join(registry.step_names()))


class ShoutParams(StepParams):
    field: str = Field(description="The field to shout")


class Shout(Step):
    """A step defined outside feedsync/rules/steps/: the compiler must not need to know it."""

    name = "shout"
    params = ShoutParams
    shorthand = "field"
    docs = (DocRow("`shout: FIELD`", "upper-case a field and add !"),)

    def __init__(self, field_name: str) -> None:
        super().__init__()
        self.field = field_name

    @classmethod
    def build(cls, p: ShoutParams, rules: CompileContext, loc: Location) -> Step | None:
        if not (rules.read_field(p.field, (*loc, "field")) and rules.write_field(p.field, loc)):
            return None
        return cls(p.field)

    def apply(self, product: Product, state: RunState) -> Product | None:
        return set_one(state, product, self.field, (text_of(product, self.field) or "").upper()
                       + "!")


@pytest.fixture
def shout() -> Iterator[type[Shout]]:
    register_step(Shout)
    try:
        yield Shout
    finally:
        del STEP_CLASSES["shout"]


def test_a_registered_step_compiles_and_applies_with_no_compiler_change(
        tmp_path: Path, shout: type[Shout]) -> None:
    compiled = rules(tmp_path, [{"shout": "title"}, {"when": "brand == 'Acme'",
                                                     "then": [{"shout": {"field": "brand"}}]}])
    result = apply(compiled, product())
    assert result is not None and (result.title, result.brand) == ("CAMISETA!", "ACME!")
    assert [c.label for c in compiled.counts()] == ["shout", "when brand == 'Acme'", "shout"]
    assert "`shout: FIELD`" in registry.markdown_table()
    with pytest.raises(ConfigError) as raised:
        rules(tmp_path, [{"shout": {"field": "brnad"}}])
    assert "unknown field 'brnad'" in raised.value.problems[0]


def test_a_step_name_is_registered_once() -> None:
    class Again(Step):
        name = "filter"

    with pytest.raises(ValueError, match="name of its own"):
        register_step(Again)


def test_rule_issue_codes_are_registered_warnings(tmp_path: Path) -> None:
    assert codes.REGISTRY[codes.RULE_FAILED].severity is Severity.WARNING
    assert codes.REGISTRY[codes.UNKNOWN_CATEGORY].severity is Severity.WARNING
    failing = rules(tmp_path, [{"set": {"availability": "maybe"}}])
    _, issues = failing.apply(product())
    assert [i.code for i in issues] == [codes.RULE_FAILED]
    category = rules(tmp_path, [{"map_category": "product_type"}])
    _, issues = category.apply(product(product_type="Not > A > Category"))
    assert [i.code for i in issues] == [codes.UNKNOWN_CATEGORY]
