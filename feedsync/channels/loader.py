"""Find and load channel specs: the project's own `channel_specs/` first, then built-ins."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from feedsync.channels.spec import ChannelSpec
from feedsync.checks.codes import IssueCode
from feedsync.config import format_validation_errors
from feedsync.config.diagnostics import did_you_mean, duplicate_key_problems
from feedsync.errors import ConfigError
from feedsync.resources import builtin_specs_dir
from feedsync.yamlpos import load_positioned


def spec_dirs(project_dir: Path | None = None) -> list[Path]:
    dirs = []
    if project_dir is not None and (project_dir / "channel_specs").is_dir():
        dirs.append(project_dir / "channel_specs")
    dirs.append(builtin_specs_dir())
    return dirs


def available_specs(project_dir: Path | None = None) -> dict[str, Path]:
    """Spec name -> file; a project spec overrides a built-in one of the same name."""
    found: dict[str, Path] = {}
    for directory in reversed(spec_dirs(project_dir)):
        for path in sorted(directory.glob("*.yaml")):
            found[path.stem] = path
    return found


def load_spec(name: str, project_dir: Path | None = None) -> ChannelSpec:
    specs = available_specs(project_dir)
    if name not in specs:
        raise ConfigError(f"unknown channel spec {name!r}{did_you_mean(name, specs)}; "
                          "available: " + ", ".join(sorted(specs)))
    return load_spec_file(specs[name])


@lru_cache(maxsize=64)
def load_spec_file(path: Path) -> ChannelSpec:
    try:
        doc = load_positioned(path.read_text(encoding="utf-8"), path)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read channel spec {path}: {exc}") from exc
    if doc.duplicates:
        raise ConfigError(f"channel spec {path} is invalid:", duplicate_key_problems(doc))
    try:
        spec = ChannelSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(f"channel spec {path} is invalid:",
                          format_validation_errors(exc, doc, model=ChannelSpec)) from exc
    if spec.name != path.stem:
        raise ConfigError(f"channel spec {path}: name {spec.name!r} must match the file name")
    return spec


def spec_issue_codes(project_dir: Path | None = None) -> list[IssueCode]:
    """The issue codes channel specs declare in their `rules:` (beyond feedsync's built-in
    ones), sorted; a code several specs declare is listed for the first spec by name."""
    found: dict[str, IssueCode] = {}
    specs = available_specs(project_dir)
    for name in sorted(specs):
        for issue_code in load_spec_file(specs[name]).issue_codes():
            if issue_code.spec is not None:
                found.setdefault(issue_code.code, issue_code)
    return [found[code] for code in sorted(found)]
