"""The `feedsync` executable: answers `--version` before importing anything heavy.

Loading the CLI imports the whole pipeline (pydantic models, lxml, Jinja, SQLAlchemy...),
which takes a noticeable fraction of a second; `feedsync --version` in a script or a bug
report should not pay for it.
"""

from __future__ import annotations

import sys


def main() -> None:
    """Print the version at once, else run the full command line."""
    if sys.argv[1:] in (["--version"], ["-V"]):
        from feedsync import __version__

        sys.stdout.write(f"feedsync {__version__}\n")
        return
    from feedsync.cli.app import main as run_app

    run_app()
