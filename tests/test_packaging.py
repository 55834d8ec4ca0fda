"""The wheel ships channel_specs/ and templates/ inside the package."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_wheel_contains_the_builtin_specs_and_templates(tmp_path: Path):
    pytest.importorskip("hatchling")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(ROOT)], check=True)
    [wheel] = tmp_path.glob("feedsync-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    specs = {p.name for p in (ROOT / "channel_specs").glob("*.yaml")}
    assert specs and all(f"feedsync/_data/channel_specs/{s}" in names for s in specs)
    assert any(n.startswith("feedsync/_data/templates/") for n in names)
    assert "feedsync/cli/app.py" in names
