"""Issue codes: one registry, no stray strings, `feedsync codes`, and the README's table.

Regenerate the README's table deliberately with FEEDSYNC_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from feedsync import api
from feedsync.channels.loader import available_specs, load_spec, load_spec_file
from feedsync.channels.spec import ISSUE_CODE_PATTERN, ChannelSpec
from feedsync.checks import codes
from feedsync.checks.issue import Severity
from feedsync.cli.app import app
from feedsync.cli.output import issue_codes_markdown
from feedsync.config import load_config
from feedsync.errors import ConfigError
from tests.conftest import EXAMPLES, ROOT

PACKAGE = ROOT / "feedsync"
README = ROOT / "README.md"
UPDATE = os.environ.get("FEEDSYNC_UPDATE_GOLDEN") == "1"
NOT_CHECKED: tuple[Path, ...] = ()  # every module is checked
# Calls whose first argument is an issue code: the issue constructors, and parse.py's
# FieldProblem and warning callback, which become Issues with the code they carry.
CODE_TAKING_CALLS = {"Issue", "error", "warning", "FieldProblem", "warn", "_warn"}
README_TABLE = re.compile(r"(<!-- issue-codes:[^\n]*-->\n)(.*?)(<!-- /issue-codes -->)", re.S)

runner = CliRunner()


def _checked_modules() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py"))
            if not any(path == skip or skip in path.parents for skip in NOT_CHECKED)]


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _imported_from_issue_module(tree: ast.Module) -> set[str]:
    """Local names of Issue / error / warning imported from feedsync.checks.issue."""
    return {alias.asname or alias.name for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "feedsync.checks.issue"
            for alias in node.names}


def _literal_code_calls(path: Path, root: Path = ROOT) -> list[str]:
    """`Issue("some-code", ...)` and the like: calls that pass a code as a string literal."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    issue_names = _imported_from_issue_module(tree) | {"FieldProblem", "warn", "_warn"}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        if name not in CODE_TAKING_CALLS or name not in issue_names:
            continue
        # `output.error("...")` and `warnings.warn("...")` take a message, not a code.
        if isinstance(node.func, ast.Attribute) and name in {"error", "warning", "warn"}:
            continue
        arguments = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "code")]
        # Anywhere in the argument: `Issue("a" if x else "b", ...)` is two stray strings.
        if any(isinstance(n, ast.Constant) and isinstance(n.value, str)
               for a in arguments for n in ast.walk(a)):
            found.append(f"{path.relative_to(root)}:{node.lineno}: "
                         f"{name}({ast.unparse(arguments[0])}")
    return found


def _stray_code_strings(path: Path, root: Path = ROOT) -> list[str]:
    """String literals equal to a registered code, outside docstrings and the `register(...)`
    call that declares the code (a module may register its own codes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    allowed = {id(node.value) for node in ast.walk(tree)
               if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    allowed |= {id(node.args[0]) for node in ast.walk(tree)
                if isinstance(node, ast.Call) and _called_name(node) == "register" and node.args}
    return [f"{path.relative_to(root)}:{node.lineno}: {node.value!r}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value in codes.REGISTRY and id(node) not in allowed]


# -- no code is a stray string -----------------------------------------------------------

def test_no_issue_is_made_with_a_string_literal_code():
    found = [line for path in _checked_modules() for line in _literal_code_calls(path)]
    assert found == [], "use a constant from feedsync/checks/codes.py:\n" + "\n".join(found)


def test_the_literal_code_check_catches_a_string_literal(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text("from feedsync.checks.issue import Issue, warning\n"
                      "def f(output):\n"
                      "    output.error('a message, not a code')\n"
                      "    warnings.warn('a message too')\n"
                      "    return [Issue('made-up', None, 'm'),\n"
                      "            Issue('a' if output else 'b', None, 'm'),\n"
                      "            warning(code='other', message='m')]\n",
                      encoding="utf-8")
    found = [line.rsplit(": ", 1)[1] for line in _literal_code_calls(sample, tmp_path)]
    assert found == ["Issue('made-up'", "Issue('a' if output else 'b'", "warning('other'"]


def test_the_stray_string_check_allows_only_docstrings_and_registrations(tmp_path: Path):
    sample = tmp_path / "sample.py"
    sample.write_text('"""invalid-gtin"""\n'
                      "CODE = register('invalid-gtin', None, 'a title')\n"
                      "TABLE = {'gtin': 'invalid-gtin', 'other': 'not-a-code-at-all'}\n",
                      encoding="utf-8")
    assert _stray_code_strings(sample, tmp_path) == ["sample.py:3: 'invalid-gtin'"]


def test_a_code_value_is_written_only_in_the_registry():
    modules = [p for p in _checked_modules() if p != PACKAGE / "checks" / "codes.py"]
    found = [line for path in modules for line in _stray_code_strings(path)]
    assert found == [], "use the constant from feedsync/checks/codes.py:\n" + "\n".join(found)


# -- every code is registered, once, with a title ------------------------------------------

def test_every_registered_code_is_well_formed_with_a_one_line_title():
    assert len(codes.REGISTRY) >= 30
    for issue_code in api.issue_codes():
        assert re.fullmatch(ISSUE_CODE_PATTERN, issue_code.code), issue_code
        assert isinstance(issue_code.severity, Severity)
        assert issue_code.title.strip() and "\n" not in issue_code.title, issue_code


def test_the_pipelines_codes_are_registered():
    assert codes.DUPLICATE_ID == "duplicate-id" and codes.EMPTY_SOURCE == "empty-source"
    assert codes.REGISTRY["duplicate-id"].severity is Severity.ERROR
    assert codes.REGISTRY["empty-source"].severity is Severity.WARNING


def test_registering_a_code_twice_with_another_meaning_fails():
    try:
        assert codes.register("test-only-code", Severity.INFO, "A test") == "test-only-code"
        codes.register("test-only-code", Severity.INFO, "A test")  # the same meaning: fine
        with pytest.raises(ValueError, match="test-only-code"):
            codes.register("test-only-code", Severity.ERROR, "A test")
    finally:
        codes.REGISTRY.pop("test-only-code", None)


def test_every_code_of_a_built_in_spec_is_listed():
    listed = {c.code: c for c in api.issue_codes()}
    for name in available_specs():
        for rule in load_spec(name).rules:
            assert rule.code in listed, f"{name}: {rule.code}"
    assert listed["not-offered"].spec == "idealo"
    assert listed["not-offered"].severity is Severity.INFO
    assert listed["missing-required"].spec is None  # specs reuse the built-in code


@pytest.mark.parametrize("config", ["feedsync.yaml", "feedsync.all-channels.yaml"])
def test_every_code_the_example_shop_reports_is_listed(config: str):
    listed = {c.code for c in api.issue_codes()}
    report = api.run_validate(load_config(EXAMPLES / "tienda" / config))
    reported = set(report.code_counts)
    assert reported, "the example shop has known problems; expected some issues"
    assert reported <= listed, reported - listed


# -- codes declared by channel specs ------------------------------------------------------

def _spec(rules: list[dict]) -> ChannelSpec:
    return ChannelSpec.model_validate({
        "name": "shop", "title": "Shop", "formats": {"xml": {"writer": "xml",
                                                             "extension": ".xml"}},
        "fields": [{"name": "id"}, {"name": "brand"}, {"name": "availability"}],
        "rules": rules})


def test_a_spec_rule_reuses_a_built_in_code_or_declares_its_own():
    spec = _spec([
        {"require": ["brand"]},
        {"when": {"availability": "preorder"}, "exclude": True, "code": "not-sold",
         "severity": "warning"},
        {"require_any": ["brand", "id"], "code": "needs-identity", "severity": "info"},
        {"require": ["id"], "code": "not-sold", "severity": "error"},
    ])
    assert [(c.code, c.severity, c.title, c.spec) for c in spec.issue_codes()] == [
        ("missing-required", Severity.ERROR, "A field the channel requires is empty", None),
        ("not-sold", Severity.WARNING, "Shop does not list products whose availability",
         "shop"),
        ("needs-identity", Severity.INFO, "Shop requires brand or id", "shop"),
    ]


def test_a_spec_rule_code_must_be_a_lower_case_hyphenated_word(tmp_path: Path):
    spec_file = tmp_path / "shop.yaml"
    spec_file.write_text(
        "name: shop\ntitle: Shop\nformats: {xml: {writer: xml, extension: .xml}}\n"
        "fields: [{name: id}]\nrules:\n  - require: [id]\n    code: Not Offered\n",
        encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_spec_file(spec_file)
    assert "shop.yaml:7" in str(caught.value)


# -- feedsync codes ----------------------------------------------------------------------

def test_codes_command_prints_every_code_with_severity_title_and_spec():
    result = runner.invoke(app, ["codes"])
    assert result.exit_code == 0, result.output
    for issue_code in api.issue_codes():
        assert issue_code.code in result.stdout
    line = next(x for x in result.stdout.splitlines() if "not-offered" in x)
    assert "info" in line and "idealo" in line
    assert "Two rows of the master share one product id" in result.stdout


def test_codes_command_json_lists_the_registry():
    result = runner.invoke(app, ["codes", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)["codes"]
    assert listed == [{"code": c.code, "severity": c.severity.value, "title": c.title,
                       "spec": c.spec} for c in api.issue_codes()]
    assert {"code": "duplicate-id", "severity": "error",
            "title": "Two rows of the master share one product id",
            "spec": None} in listed


def test_codes_command_lists_the_project_specs_codes(tmp_path: Path):
    (tmp_path / "channel_specs").mkdir()
    (tmp_path / "channel_specs" / "my_shop.yaml").write_text(
        "name: my_shop\ntitle: My shop\nformats: {xml: {writer: xml, extension: .xml}}\n"
        "fields: [{name: id}, {name: brand}]\nrules:\n  - require: [brand]\n"
        "    code: no-brand\n    severity: warning\n"
        "    message: \"My shop wants a [brand]\"\n", encoding="utf-8")
    (tmp_path / "feedsync.yaml").write_text("source: {path: p.csv}\nchannels: {}\n",
                                            encoding="utf-8")
    result = runner.invoke(app, ["codes", "-f", "json", "-c", str(tmp_path / "feedsync.yaml")])
    assert result.exit_code == 0, result.output
    assert {"code": "no-brand", "severity": "warning", "title": "My shop wants a [brand]",
            "spec": "my_shop"} in json.loads(result.stdout)["codes"]
    table = runner.invoke(app, ["codes", "-c", str(tmp_path)])
    assert "My shop wants a [brand]" in table.stdout  # the user's text, not rich markup
    assert "no-brand" not in runner.invoke(app, ["codes"]).stdout


def test_codes_command_reports_a_broken_project_spec_in_one_line(tmp_path: Path):
    (tmp_path / "channel_specs").mkdir()
    (tmp_path / "channel_specs" / "bad.yaml").write_text(
        "name: bad\ntitle: Bad\nformats: {}\nfields: []\nrules:\n  - require: [id]\n"
        "    code: BAD CODE\n", encoding="utf-8")
    result = runner.invoke(app, ["codes", "-c", str(tmp_path)])
    assert result.exit_code == 2
    assert "bad.yaml" in result.stderr and "Traceback" not in result.output


def test_codes_command_markdown_is_the_readme_table():
    result = runner.invoke(app, ["codes", "--format", "markdown"])
    assert result.exit_code == 0, result.output
    assert result.stdout == issue_codes_markdown(api.issue_codes())
    assert "| `not-offered` | info | " in result.stdout
    assert result.stdout.startswith("| code | severity | meaning |\n|---|---|---|\n")


# -- the README ---------------------------------------------------------------------------

def test_readme_lists_exactly_the_registered_codes():
    text = README.read_text(encoding="utf-8")
    match = README_TABLE.search(text)
    assert match, "README.md has no <!-- issue-codes: ... --> table"
    expected = issue_codes_markdown(api.issue_codes())
    if UPDATE and match[2] != expected:
        README.write_text(text[:match.start(2)] + expected + text[match.end(2):],
                          encoding="utf-8")
        return
    assert match[2] == expected, (
        "README.md's issue-code table is out of date: run FEEDSYNC_UPDATE_GOLDEN=1 "
        "python -m pytest tests/test_codes.py and review the diff")


def test_an_exclude_rule_conditioned_only_by_a_pattern_leaves_the_product_out():
    from feedsync.channels.render import ChannelRenderer
    from feedsync.products.product import Product

    spec = _spec([{"when_matches": {"brand": "^Acme"}, "exclude": True, "code": "not-sold",
                   "severity": "warning"}])
    renderer = ChannelRenderer(spec, "shop")
    item, issues = renderer.render(Product(row=2, id="A1", title="T", brand="Acme Tools"))
    assert item is None
    assert [(i.code, i.field, i.message) for i in issues] == [
        ("not-sold", "brand", "Shop does not list products whose brand is Acme Tools")]
    item, issues = renderer.render(Product(row=3, id="A2", title="T", brand="Other"))
    assert item is not None and issues == []
