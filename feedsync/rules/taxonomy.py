"""The Google product taxonomy shipped with feedsync, for `map_category`.

The file is Google's `taxonomy-with-ids.en-US.txt` as published (its first line names the
version); it is read once per process, on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TAXONOMY_FILE = Path(__file__).resolve().parent.parent / "data" / "taxonomy-with-ids.en-US.txt"


@dataclass(frozen=True)
class Taxonomy:
    version: str
    paths: dict[str, str]  # id -> "Apparel & Accessories > Clothing"
    ids: dict[str, str]  # casefolded path -> id

    def id_for(self, value: str) -> str | None:
        """A category id for an id or a full path (any case); None when Google has none."""
        text = value.strip()
        if text.isdigit():
            return text if text in self.paths else None
        return self.ids.get(" > ".join(p.strip() for p in text.split(">")).casefold())


@lru_cache(maxsize=1)
def google_taxonomy() -> Taxonomy:
    paths: dict[str, str] = {}
    version = "unknown"
    with TAXONOMY_FILE.open(encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n")
            if line.startswith("#"):
                version = line.split(":", 1)[-1].strip()
                continue
            number, sep, path = line.partition(" - ")
            if sep and number.strip().isdigit():
                paths[number.strip()] = path.strip()
    ids = {path.casefold(): number for number, path in paths.items()}
    return Taxonomy(version, paths, ids)
