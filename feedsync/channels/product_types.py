"""Per-type JSON schemas an item must satisfy: Amazon's product type definitions.

Amazon accepts a listings-feed message only when its `attributes` satisfy the JSON schema
of its product type (SP-API `getDefinitionsProductType`): required attributes, enums,
lengths, and Amazon's own keywords `maxUniqueItems` and `maxUtf8ByteLength`, which plain
JSON Schema validators ignore. A channel spec declares this as data (`product_types:` in
the spec, see channel_specs/README.md); this module loads the definitions, completes an
item's attributes with the ones a definition asks for (master columns of the same name,
or the channel's `attributes:` mapping in the config), and says what would be rejected.

jsonschema is a runtime dependency for this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft201909Validator, validators  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

from feedsync.errors import ConfigError


def _max_unique_items(validator: Any, limit: int, instance: Any,
                      schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if isinstance(instance, list):
        unique = {json.dumps(v, sort_keys=True) for v in instance}
        if len(unique) > limit:
            yield ValidationError(f"has {len(unique)} values; at most {limit} allowed")


def _max_utf8_byte_length(validator: Any, limit: int, instance: Any,
                          schema: Mapping[str, Any]) -> Iterator[ValidationError]:
    if isinstance(instance, str):
        size = len(instance.encode("utf-8"))
        if size > limit:
            yield ValidationError(f"is {size} bytes in UTF-8; at most {limit} allowed")


# Draft 2019-09 (the definitions' dialect) plus the two Amazon keywords that reject
# messages; the other Amazon keywords (selectors, editable, hidden, enumNames) only
# describe and change nothing about acceptance.
AmazonValidator = validators.extend(Draft201909Validator, {
    "maxUniqueItems": _max_unique_items, "maxUtf8ByteLength": _max_utf8_byte_length})


@dataclass(frozen=True)
class Definition:
    """One product type: its schema and a validator compiled once."""

    name: str
    schema: dict[str, Any]
    validator: Any

    @property
    def attributes(self) -> dict[str, Any]:
        return dict(self.schema.get("properties", {}))

    @property
    def closed(self) -> bool:
        """True when attributes the definition does not list are rejected."""
        return self.schema.get("additionalProperties") is False

    def problems(self, attributes: dict[str, Any]) -> list[tuple[str, str]]:
        """(attribute, what is wrong) for each reason Amazon would reject these."""
        found: list[tuple[str, str]] = []
        for error in sorted(self.validator.iter_errors(attributes), key=_error_order):
            found += _explain(error)
        unique: list[tuple[str, str]] = []
        for entry in found:
            if entry not in unique:
                unique.append(entry)
        return unique

    def value_keys(self, attribute: str) -> set[str]:
        """The keys one value of an attribute takes (value, language_tag, ...)."""
        items = self.attributes.get(attribute, {}).get("items", {})
        return set(items.get("properties", {}))

    def value_type(self, attribute: str) -> str | None:
        items = self.attributes.get(attribute, {}).get("items", {})
        kind = items.get("properties", {}).get("value", {}).get("type")
        return kind if isinstance(kind, str) else None

    def max_values(self, attribute: str) -> int:
        """How many values the attribute takes (no `maxUniqueItems`: no limit)."""
        limit = self.attributes.get(attribute, {}).get("maxUniqueItems")
        return int(limit) if isinstance(limit, int) else 1_000


def _error_order(error: ValidationError) -> tuple[str, str]:
    return (str(list(error.absolute_path)), error.message)


def _explain(error: ValidationError) -> list[tuple[str, str]]:
    """The attribute an error is about and a sentence a merchandiser can act on."""
    if error.context:  # anyOf / oneOf / if-then: the branches say more than the summary
        leaves = [e for sub in error.context for e in _explain(sub)]
        if leaves:
            return leaves
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [n for n in error.validator_value if n not in error.instance]
        if not path:
            return [(name, f"{name} is required") for name in missing]
        return [(str(path[0]), f"{'.'.join(map(str, path))}: {', '.join(missing)} "
                               "is required")]
    attribute = str(path[0]) if path else "attributes"
    where = ".".join(str(p) for p in path)
    if error.validator == "additionalProperties" and not path:
        return [(attribute, f"{error.message} for this product type")]
    return [(attribute, f"{where or attribute}: {error.message[:200]}")]


@lru_cache(maxsize=32)
def load_definitions(location: str) -> dict[str, Definition]:
    """Product type -> Definition, from one definition file or a directory of them.

    The product type is the last segment of the schema's `$id` (Amazon's
    `.../product-types/schema/v1/PRODUCT`), else the file name (`PRODUCT.json`,
    `product-type-PRODUCT.schema.json`)."""
    path = Path(location)
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files or not all(f.is_file() for f in files):
        raise ConfigError(f"product type definitions: no definition file at {location}")
    definitions: dict[str, Definition] = {}
    for file in files:
        try:
            schema = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"product type definitions: cannot read {file}: {exc}") from exc
        if not isinstance(schema, dict) or "properties" not in schema:
            continue  # a meta-schema or a report beside the definitions
        name = _type_name(schema, file)
        definitions[name] = Definition(name, schema, AmazonValidator(schema))
    if not definitions:
        raise ConfigError(f"product type definitions: no definition in {location}")
    return definitions


def _type_name(schema: dict[str, Any], file: Path) -> str:
    identifier = str(schema.get("$id", ""))
    if "/product-types/schema/" in identifier:
        return identifier.rstrip("/").rsplit("/", 1)[-1]
    stem = file.name.split(".")[0]
    return stem.removeprefix("product-type-").upper()


def complete_attributes(definition: Definition, attributes: dict[str, Any],
                        lookup: Callable[[str], Any],
                        value_keys: dict[str, str], language_key: str | None,
                        language: str | None) -> dict[str, Any]:
    """The attributes to send for one item under `definition`.

    Attributes the item already has are kept when the definition knows them (a closed
    definition rejects any other); each attribute the definition lists and the item
    lacks is looked up (`lookup(name)`: the channel's mapping or a master column) and
    written as `[{value, marketplace_id, language_tag?}]`, the language only where the
    definition's values take one."""
    known = definition.attributes
    result = {k: _fit(v, known.get(k)) for k, v in attributes.items()
              if k in known or not definition.closed}
    for name in known:
        if name in result:
            continue
        raw = lookup(name)
        if raw is None or raw == "" or raw == []:
            continue
        values = raw if isinstance(raw, list) else (
            [line.strip() for line in str(raw).splitlines() if line.strip()]
            if definition.max_values(name) > 1 else [raw])
        keys = definition.value_keys(name)
        entries = []
        for value in values[: definition.max_values(name)]:
            entry: dict[str, Any] = {"value": _typed(value, definition.value_type(name))}
            entry.update({k: v for k, v in value_keys.items() if k in keys})
            if language_key and language and language_key in keys:
                entry[language_key] = language
            entries.append(entry)
        result[name] = entries
    return result


def _fit(values: Any, schema: Any) -> Any:
    """Values of one attribute without the keys a closed value schema does not list (the
    shape writes `audience` in purchasable_offer; older definitions reject it)."""
    items = schema.get("items", {}) if isinstance(schema, dict) else {}
    if items.get("additionalProperties") is not False or not isinstance(values, list):
        return values
    allowed = set(items.get("properties", {}))
    return [{k: v for k, v in value.items() if k in allowed} if isinstance(value, dict)
            else value for value in values]


def _typed(value: Any, kind: str | None) -> Any:
    text = str(value).strip()
    if kind == "boolean":
        return text.lower() in ("true", "yes", "1", "y", "sí", "si")
    if kind in ("number", "integer"):
        try:
            number = float(text.replace(",", "."))
        except ValueError:
            return text
        return int(number) if kind == "integer" and number.is_integer() else number
    return text
