"""The JSON Schema of `feedsync.yaml`, from the config models, so editors complete keys.

`feedsync schema` prints it; the repository keeps a copy in `feedsync.schema.json` (a test
checks it is current) that the examples point at with a `yaml-language-server` comment.
Fields set by the loader rather than read from YAML (`file`, `positions`...) are left out.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from feedsync.config.models import Config

SCHEMA_URI = "https://json-schema.org/draft/2020-12/schema"
LOADER_FIELDS = {name for name, info in Config.model_fields.items() if info.exclude}


class _ConfigSchema(GenerateJsonSchema):
    def is_instance_schema(self, schema: core_schema.IsInstanceSchema) -> JsonSchemaValue:
        return {}  # only the loader's own fields are plain Python objects


def config_schema() -> dict[str, Any]:
    """The schema as plain data, with a title and description for editors."""
    schema = Config.model_json_schema(schema_generator=_ConfigSchema)
    for name in LOADER_FIELDS:
        schema.get("properties", {}).pop(name, None)
    schema["required"] = [r for r in schema.get("required", []) if r not in LOADER_FIELDS]
    _accept_what_validators_convert(schema.get("$defs", {}))
    return {"$schema": SCHEMA_URI, "title": "feedsync.yaml",
            "description": "A feedsync project: the product master, its channels, rule sets "
                           "and destinations (see the README).",
            **{k: v for k, v in schema.items() if k not in ("title", "description")}}


def _accept_what_validators_convert(defs: dict[str, Any]) -> None:
    """Where a `mode="before"` validator converts a value, the YAML may hold more than the
    field's final type: one destination name for a list, a number for a text default."""
    publish = defs.get("ChannelConfig", {}).get("properties", {}).get("publish")
    if publish is not None:
        publish["anyOf"] = [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]
        publish.pop("type", None)
        publish.pop("items", None)
    defaults = defs.get("SourceConfig", {}).get("properties", {}).get("defaults")
    if defaults is not None:
        defaults["additionalProperties"] = {"type": ["string", "number", "boolean"]}
