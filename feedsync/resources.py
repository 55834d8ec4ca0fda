"""Where the built-in channel specs and templates are, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`channel_specs` or `templates`: inside the wheel, or at the top of a checkout."""
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def builtin_specs_dir() -> Path:
    return data_dir("channel_specs")


def builtin_templates_dir() -> Path:
    return data_dir("templates")
