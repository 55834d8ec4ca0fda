"""Helpers for source tests: render a config's products through a channel spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from feedsync.channels.loader import load_spec
from feedsync.channels.render import ChannelRenderer
from feedsync.checks.issue import Issue
from feedsync.config import Config, load_config
from feedsync.products.parse import RowParser
from feedsync.sources import open_source


def render_items(config: Config, spec_name: str = "google_merchant"
                 ) -> tuple[list[dict[str, Any]], list[Issue]]:
    """Every item the config's master yields for one channel spec, plus all issues."""
    source = open_source(config)
    parser = RowParser(config.source, source.columns, source.name)
    renderer = ChannelRenderer(load_spec(spec_name, config.base_dir), "test")
    items, issues = [], []
    for source_row in source.rows():
        product, row_issues = parser.parse(source_row)
        issues += row_issues
        if product is None:
            continue
        item, channel_issues = renderer.render(product)
        issues += channel_issues
        if item is not None:
            items.append(dict(item))
    return items, issues


def write_config(path: Path, data: dict[str, Any]) -> Config:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                    encoding="utf-8")
    return load_config(path)


def with_source(config_file: Path, target: Path, **source: Any) -> Config:
    """A copy of a config whose source keys are replaced (None removes one)."""
    data = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    for key, value in source.items():
        if value is None:
            data["source"].pop(key, None)
        else:
            data["source"][key] = value
    return write_config(target, data)
