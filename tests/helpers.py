"""Small builders for test configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.conftest import DATA


def write_config(tmp_path: Path, source: str | Path, *, outputs: list[str] | None = None,
                 source_extra: dict[str, Any] | None = None,
                 channels: dict[str, Any] | None = None, name: str = "feedsync.yaml") -> Path:
    """A feedsync.yaml in tmp_path reading `source` (a tests/data name or a path)."""
    path = Path(source)
    if not path.is_absolute():
        path = DATA / path
    config = {
        "source": {"path": str(path), "defaults": {"currency": "EUR"}, **(source_extra or {})},
        "channels": channels if channels is not None else {
            "google": {"spec": "google_merchant",
                       "outputs": outputs or ["feeds/google.xml", "feeds/google.tsv"]},
        },
    }
    target = tmp_path / name
    target.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False),
                      encoding="utf-8")
    return target
