"""Every option shared by several commands, defined once (with its FEEDSYNC_* variable)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", envvar="FEEDSYNC_CONFIG", show_default=True, metavar="PATH",
                 help="The project's feedsync.yaml (or its folder)."),
]
ChannelOption = Annotated[
    Optional[list[str]],  # noqa: UP045 - typer needs Optional at runtime on 3.10
    typer.Option("--channel", envvar="FEEDSYNC_CHANNEL", metavar="NAME",
                 help="Only this channel, or one market of it (google.MX); "
                      "repeat for several (FEEDSYNC_CHANNEL: separated by spaces). "
                      "Default: all."),
]
QuietOption = Annotated[
    int, typer.Option("--quiet", "-q", count=True, envvar="FEEDSYNC_QUIET", metavar="",
                      show_default=False,
                      help="Print only errors; validate -q prints one summary line when there "
                           "are some; -qq prints nothing.")
]
VerboseOption = Annotated[
    int, typer.Option("--verbose", "-v", count=True, envvar="FEEDSYNC_VERBOSE", metavar="",
                      show_default=False,
                      help="-v lists infos too; -vv shows tracebacks for unexpected errors.")
]
IssuesFileOption = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--issues-file", envvar="FEEDSYNC_ISSUES_FILE", metavar="FILE.csv",
                 help="Also write every issue to this CSV file."),
]
JobsOption = Annotated[
    int,
    typer.Option("--jobs", "-j", envvar="FEEDSYNC_JOBS", min=0, metavar="N",
                 help="Parse and render in this many worker processes (same results). "
                      "0, the default, chooses: 2 on a machine with two or more cores "
                      "when the master has 100,000 rows or more, or rows x feeds "
                      "reach 250,000, else 1."),
]
MaxIssuesOption = Annotated[
    int, typer.Option("--max-issues", envvar="FEEDSYNC_MAX_ISSUES", metavar="N",
                      help="How many issues to list in full (counts are exact).")
]


AllowOption = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--allow", envvar="FEEDSYNC_ALLOW", metavar="GUARD",
                 help="Go ahead although this guard trips: empty, shrink, deletes, "
                      "price-change or min-items; repeat for several."),
]
AllowEmptyOption = Annotated[
    bool, typer.Option("--allow-empty", envvar="FEEDSYNC_ALLOW_EMPTY",
                       help="Write or publish a feed even when it has no items (same as "
                            "--allow empty).")]
ForceOption = Annotated[
    bool, typer.Option("--force", envvar="FEEDSYNC_FORCE",
                       help="Go ahead whatever guard trips (every --allow).")]


class PlanFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


class ReportFormat(str, Enum):
    table = "table"
    json = "json"
    junit = "junit"


class BuildFormat(str, Enum):
    table = "table"
    json = "json"


class HistoryFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class FailOn(str, Enum):
    """What makes `feedsync status` exit non-zero, for a cron or CI alert."""

    new_disapprovals = "new-disapprovals"


class CodesFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


class SeverityLevel(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


SeverityOption = Annotated[
    Optional[SeverityLevel],  # noqa: UP045
    typer.Option("--severity", envvar="FEEDSYNC_SEVERITY", metavar="LEVEL",
                 help="List problems of this severity and worse: error, warning or info "
                      "(default: warning; info with -v). Counts stay complete."),
]


def format_option(choices: str) -> Any:
    """`--format/-f` with its FEEDSYNC_FORMAT variable; `choices` for the help text."""
    return typer.Option("--format", "-f", envvar="FEEDSYNC_FORMAT", help=choices)


def flag(name: str, help: str) -> Any:
    """A boolean flag with its FEEDSYNC_* variable (`--dry-run` -> FEEDSYNC_DRY_RUN)."""
    return typer.Option(name, envvar="FEEDSYNC_" + name.lstrip("-").replace("-", "_").upper(),
                        help=help)
