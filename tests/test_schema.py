"""`feedsync schema`: the JSON Schema of feedsync.yaml, the repository's copy kept current,
and the examples pointing editors at it."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from feedsync.cli.app import app
from tests.conftest import EXAMPLES, ROOT

SCHEMA_FILE = ROOT / "feedsync.schema.json"
EXAMPLE_CONFIGS = sorted(EXAMPLES.glob("*/*.yaml"))


def _schema() -> dict:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    return json.loads(result.stdout)


def test_repository_copy_is_current() -> None:
    """Regenerate with `feedsync schema > feedsync.schema.json`."""
    assert json.loads(SCHEMA_FILE.read_text(encoding="utf-8")) == _schema()


@pytest.mark.parametrize("config", EXAMPLE_CONFIGS, ids=lambda p: p.name)
def test_examples_validate_and_point_editors_at_the_schema(config) -> None:
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../../feedsync.schema.json\n")
    jsonschema.validate(yaml.safe_load(text), _schema())


def test_schema_catches_a_misspelt_key_and_knows_descriptions() -> None:
    schema = _schema()
    bad = {"source": {"path": "p.csv", "list_separater": ";"}}
    with pytest.raises(jsonschema.ValidationError, match="list_separater"):
        jsonschema.validate(bad, schema)
    source = schema["$defs"]["SourceConfig"]["properties"]
    assert "Separator of multi-valued cells" in source["list_separator"]["description"]
    assert "file" not in schema["properties"] and "positions" not in schema["properties"]
