"""Reading `feedsync.yaml`: YAML with the line of every key, `${VAR}` expansion, validation.

Relative paths are relative to the config file's own folder, so cron can run feedsync from
anywhere. `${VAR}` in any string expands from the environment, `${VAR:-default}` falls back
to a default, and `$${` writes a literal `${`. Every problem is reported at once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from feedsync.config.diagnostics import (
    duplicate_key_problems,
    format_validation_errors,
    yaml_syntax_message,
)
from feedsync.config.models import DEFAULT_CONFIG_NAME, Config
from feedsync.errors import ConfigError
from feedsync.yamlpos import Location, PositionedYaml, dotted, load_positioned

_VAR = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(data: Any, path: Location, problems: list[tuple[Location, str]]) -> Any:
    if isinstance(data, dict):
        return {k: expand_env(v, (*path, k), problems) for k, v in data.items()}
    if isinstance(data, list):
        return [expand_env(v, (*path, i), problems) for i, v in enumerate(data)]
    if isinstance(data, str) and "${" in data:

        def substitute(match: re.Match[str]) -> str:
            if match.group(1):
                return match.group(0)[1:]
            value = os.environ.get(match.group(2))
            if value is None and match.group(3) is not None:
                return match.group(3)
            if value is None:
                problems.append((path, f"environment variable {match.group(2)} is not set"))
                return ""
            return value

        return _VAR.sub(substitute, data)
    return data


def read_config_file(path: Path) -> PositionedYaml:
    if path.is_dir():
        path = path / DEFAULT_CONFIG_NAME
    if not path.exists():
        raise ConfigError(f"config file {path} not found (use -c PATH or set FEEDSYNC_CONFIG)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    try:
        return load_positioned(text, path.resolve())
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_syntax_message(exc, path.name)) from exc


def load_config(path: Path) -> Config:
    """Read and validate a feedsync.yaml; raise ConfigError listing every problem.

    This reads the file only: rules are checked against the master when a project is
    loaded (`feedsync.api.load_project`)."""
    doc = read_config_file(path)
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.file.name}: the config must be a mapping with `source:` and "
                          "`channels:`")
    env_problems: list[tuple[Location, str]] = []
    data = expand_env(doc.data, (), env_problems)
    # Destinations' secrets are needed only by `push`: validate and build run without them.
    # A webhook whose variables are unset is skipped (and says so): it never stops a run.
    deferred: dict[str, list[str]] = {}
    deferred_notify: dict[int, list[str]] = {}
    problems = duplicate_key_problems(doc) + _literal_notify_headers(doc)
    for loc, msg in env_problems:
        where = f"{doc.where(loc)}: {dotted(loc)}: {msg}"
        if loc[:1] == ("publish",) and len(loc) > 1:
            deferred.setdefault(str(loc[1]), []).append(where)
        elif loc[:1] == ("notify",) and len(loc) > 1 and isinstance(loc[1], int):
            deferred_notify.setdefault(loc[1], []).append(where)
        else:
            problems.append(where)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        problems += format_validation_errors(exc, doc, model=Config)
        config = None
    if problems or config is None:
        raise ConfigError(f"{doc.file} has {len(problems)} problem(s):", problems)
    config.file = doc.file
    config.positions = doc
    config.unset_publish_variables = deferred
    config.unset_notify_variables = deferred_notify
    return config


def _literal_notify_headers(doc: PositionedYaml) -> list[str]:
    """A webhook header holds a credential: written in the file it would end up in version
    control, so its value must come from the environment (`${VAR}`)."""
    hooks = doc.data.get("notify") if isinstance(doc.data, dict) else None
    problems = []
    for index, hook in enumerate(hooks if isinstance(hooks, list) else []):
        headers = hook.get("headers") if isinstance(hook, dict) else None
        for name, value in (headers.items() if isinstance(headers, dict) else []):
            if not (isinstance(value, str)
                    and any(not m.group(1) for m in _VAR.finditer(value))):
                loc = ("notify", index, "headers", name)
                problems.append(f"{doc.where(loc)}: {dotted(loc)}: give the value as ${{VAR}} "
                                "from the environment, not written in the config")
    return problems
