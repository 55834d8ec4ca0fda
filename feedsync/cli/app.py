"""The feedsync command line: a thin layer over feedsync.api."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from feedsync import __version__, api
from feedsync.cli.options import (
    AllowEmptyOption,
    AllowOption,
    BuildFormat,
    ChannelOption,
    CodesFormat,
    ConfigOption,
    FailOn,
    ForceOption,
    HistoryFormat,
    IssuesFileOption,
    JobsOption,
    MaxIssuesOption,
    PlanFormat,
    QuietOption,
    ReportFormat,
    SeverityLevel,
    SeverityOption,
    VerboseOption,
    flag,
    format_option,
)
from feedsync.cli.output import (
    IssueFile,
    Output,
    explanation_text,
    issue_codes_markdown,
    issue_codes_table,
    junit_xml,
    print_issue_codes_json,
    print_json,
    print_preview,
    print_report_table,
    print_spec,
    print_spec_list,
)
from feedsync.cli.plan_output import (
    history_csv,
    history_json,
    plan_json,
    plan_markdown,
    print_history_table,
    print_plan_table,
)
from feedsync.cli.publish_output import print_push_json, print_push_table
from feedsync.cli.status_output import print_status_table, status_json

DEFAULT_CONFIG_NAME = api.DEFAULT_CONFIG_NAME
DEFAULT_MAX_ISSUES = api.DEFAULT_MAX_ISSUES

app = typer.Typer(
    name="feedsync",
    help="Build product feeds for every shopping channel from one product master.\n\n"
         "Example: feedsync build -c examples/tienda/feedsync.yaml",
    no_args_is_help=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
channels_app = typer.Typer(
    help="List the channel specs, or show one's fields and rules.\n\n"
         "Example: feedsync channels --format json",
    invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
app.add_typer(channels_app, name="channels")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"feedsync {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """feedsync: one product master, validated once, rendered for every channel."""


class _RunNotice:
    """Times one run of a command and, however it ends, tells the project's webhooks.

    A webhook that fails gets one line on stderr; the exit code stays the run's own."""

    def __init__(self, command: str, output: Output) -> None:
        self.command = command
        self.output = output
        self.project: api.Project | None = None  # set once the project is loaded
        self.started = time.monotonic()

    def send(self, exit_code: int, report: api.RunReport | api.PushReport | None = None,
             error: str | None = None) -> list[dict[str, Any]]:
        """Call the webhooks; return what each call did, for the JSON output."""
        if self.project is None or not self.project.config.notify:
            return []
        try:
            results = self.project.notify(self.command, report, exit_code,
                                          time.monotonic() - self.started, error=error)
        except Exception as exc:  # a bug in sending must not turn a run into a crash
            self.output.err.print(f"warning: webhooks not called: unexpected "
                                  f"{type(exc).__name__}: {exc}", highlight=False,
                                  markup=False)
            return []
        for result in results:
            if not result.sent:
                self.output.err.print(f"warning: webhook {result.target} not reached: "
                                      f"{result.message}", highlight=False, markup=False)
        return [result.to_dict() for result in results]


@contextmanager
def _handled(output: Output, notice: _RunNotice | None = None) -> Iterator[None]:
    """Turn run-stopping problems into one clear message and their exit code (and tell
    the webhooks of a run that stopped)."""
    try:
        yield
    except api.FeedsyncError as exc:
        output.error(str(exc))
        if output.verbose >= 2:
            output.err.print(traceback.format_exc())
        if notice is not None:
            notice.send(int(exc.exit_code), error=str(exc))
        raise typer.Exit(int(exc.exit_code)) from None
    except KeyboardInterrupt:
        output.error("interrupted; no feed was replaced")
        raise typer.Exit(130) from None
    except (typer.Exit, typer.Abort):
        raise
    except Exception as exc:  # a bug: say so plainly, trace only on -vv
        output.error(f"unexpected {type(exc).__name__}: {exc} (run with -vv for details, "
                     "and please report it)")
        if output.verbose >= 2:
            output.err.print(traceback.format_exc())
        raise typer.Exit(70) from None


def _run(command: str, config_path: Path, channels: list[str] | None, output: Output,
         issues_file: Path | None, max_issues: int, jobs: int = 1,
         notice: _RunNotice | None = None, **options: Any) -> Any:
    """Load the project and run one of its commands (`validate`, `build`, `push`) with the
    CLI's progress display and issues file; `notice` learns the project, for webhooks,
    and gives the run its start time."""
    project = api.load_project(config_path)
    if notice is not None:  # a run the webhooks hear of: its history rows time it the same
        notice.project = project
        options["started"] = notice.started
    runner: Callable[..., Any] = getattr(project, command)
    sink = IssueFile(issues_file) if issues_file else None  # fails before any row is read
    try:
        feeds = [f.name for f in project.feeds(channels)]
        with output.progress(f"Reading {Path(project.source_name).name}",
                             project.estimated_rows(), feeds) as progress:
            if progress is not None and command in ("validate", "build"):
                options["observers"] = [progress.observe]
            return runner(channels, progress=progress, sink=sink, max_issues=max_issues,
                          jobs=jobs, **options)
    finally:
        if sink is not None:
            sink.close()


@app.command()
def validate(
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    channel: ChannelOption = None,
    format: Annotated[ReportFormat, format_option("table, json or junit")
                      ] = ReportFormat.table,
    issues_file: IssuesFileOption = None,
    max_issues: MaxIssuesOption = DEFAULT_MAX_ISSUES,
    severity: SeverityOption = None,
    jobs: JobsOption = 0,
    quiet: QuietOption = 0,
    verbose: VerboseOption = 0,
) -> None:
    """Read the master and check every product for every channel; write nothing.

    Exit code 1 when any product has an error. Example:
    feedsync validate -c shop/feedsync.yaml --format junit > feed-report.xml
    """
    output = Output(quiet, verbose)
    with _handled(output):
        report = _run("validate", config, channel, output, issues_file, max_issues, jobs)
    level = _severity(severity)
    if format is ReportFormat.json:
        print_json(report, level or api.Severity.INFO)
    elif format is ReportFormat.junit:
        sys.stdout.write(junit_xml(report, level or api.Severity.WARNING))
    else:
        print_report_table(output, report, built=False, min_severity=level)
    raise typer.Exit(int(api.ExitCode.DATA_ERRORS if report.errors else api.ExitCode.OK))


@app.command()
def build(
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    channel: ChannelOption = None,
    strict: Annotated[bool, flag(
        "--strict", "Exit 1 when any product was left out of any feed.")] = False,
    format: Annotated[BuildFormat, format_option("table or json")] = BuildFormat.table,
    html_report: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--report", envvar="FEEDSYNC_REPORT", metavar="FILE.html",
        help="Also write the HTML report (see `feedsync report`).")] = None,
    issues_file: IssuesFileOption = None,
    max_issues: MaxIssuesOption = DEFAULT_MAX_ISSUES,
    severity: SeverityOption = None,
    jobs: JobsOption = 0,
    allow_empty: AllowEmptyOption = False,
    allow: AllowOption = None,
    force: ForceOption = False,
    quiet: QuietOption = 0,
    verbose: VerboseOption = 0,
) -> None:
    """Write every channel's feed. A feed replaces the old one only when it is complete.

    Products with errors are left out of the feeds they break and reported. A feed that
    would replace a non-empty one with an empty one, or shrink past its guard, is not
    written (exit 6) unless --allow-empty / --allow GUARD / --force.
    Example: feedsync build -c examples/tienda/feedsync.yaml --channel google_es
    """
    output = Output(quiet, verbose)
    notice = _RunNotice("build", output)
    with _handled(output, notice):
        if html_report is not None:
            report, page = _run("report", config, channel, output, issues_file, max_issues,
                                jobs, notice=notice, write=True, allow_empty=allow_empty,
                                allow=_guards(allow), force=force)
            _write_page(html_report, page)
            output.log(f"wrote {html_report}")
        else:
            report = _run("build", config, channel, output, issues_file, max_issues, jobs,
                          notice=notice, allow_empty=allow_empty, allow=_guards(allow),
                          force=force)
    failed = strict and report.excluded_somewhere
    exit_code = int(api.ExitCode.GUARD_TRIPPED if report.held_back else
                    api.ExitCode.DATA_ERRORS if failed else api.ExitCode.OK)
    level = _severity(severity)
    if format is BuildFormat.json:
        print_json(report, level or api.Severity.INFO, notice.send(exit_code, report))
    else:
        print_report_table(output, report, built=True, min_severity=level)
        notice.send(exit_code, report)
    for name in report.held_back:
        output.error(f"{name}: not written, the old feed stays: {report.channels[name].held}")
    raise typer.Exit(exit_code)


def _guards(names: list[str] | None) -> list[str]:
    unknown = [n for n in names or [] if n not in api.GUARD_NAMES]
    if unknown:
        raise api.ConfigError(f"--allow: unknown guard {', '.join(unknown)}; the guards are "
                              + ", ".join(api.GUARD_NAMES))
    return list(names or [])


@app.command()
def plan(
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    channel: ChannelOption = None,
    format: Annotated[PlanFormat, format_option("table, json or markdown")
                      ] = PlanFormat.table,
    out: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--out", envvar="FEEDSYNC_PLAN_OUT", metavar="plan.json",
        help="Also save the plan as JSON, for `push --plan`.")] = None,
    detailed_exitcode: Annotated[bool, flag(
        "--detailed-exitcode", "Exit 10 when there are changes, 0 when there are none.")
    ] = False,
    issues_file: IssuesFileOption = None,
    max_issues: MaxIssuesOption = DEFAULT_MAX_ISSUES,
    jobs: JobsOption = 0,
    quiet: QuietOption = 0,
    verbose: VerboseOption = 0,
) -> None:
    """Show what a build or push would change, per channel and destination; change nothing.

    Items added, changed (old -> new price, sale price, availability, title), removed,
    unchanged and due for refresh before the channel expires them. With
    $GITHUB_STEP_SUMMARY set, the markdown plan is appended to it.
    Example: feedsync plan -c shop/feedsync.yaml --out plan.json --detailed-exitcode
    """
    output = Output(quiet, verbose)
    with _handled(output):
        result = _run("plan", config, channel, output, issues_file, max_issues, jobs)
        if out is not None:
            result.save(out)
    if format is PlanFormat.json:
        sys.stdout.write(plan_json(result))
    elif format is PlanFormat.markdown:
        sys.stdout.write(plan_markdown(result))
    elif not quiet:
        print_plan_table(output, result)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(plan_markdown(result))
    if detailed_exitcode and result.has_changes:
        raise typer.Exit(int(api.ExitCode.CHANGES_PLANNED))
    raise typer.Exit(int(api.ExitCode.OK))


@app.command()
def history(
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    channel: ChannelOption = None,
    limit: Annotated[int, typer.Option("--limit", "-n", envvar="FEEDSYNC_LIMIT", min=1,
                                       help="Runs per channel and destination.")] = 10,
    format: Annotated[HistoryFormat, format_option("table, json or csv")
                      ] = HistoryFormat.table,
) -> None:
    """List the last runs per channel and destination: when, items, added / changed /
    removed, products left out (and why), how long it took, result. `--format csv` gives
    one row per run for a BI tool.
    Example: feedsync history -c shop/feedsync.yaml --channel google_es --format csv
    """
    output = Output()
    with _handled(output):
        records = api.load_project(config).history(channel, limit)
    if format is HistoryFormat.csv:
        sys.stdout.write(history_csv(records))
    elif format is HistoryFormat.json:
        sys.stdout.write(history_json(records))
    else:
        print_history_table(output, records)


@app.command()
def report(
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    channel: ChannelOption = None,
    output_path: Annotated[Path, typer.Option(
        "--output", "-o", envvar="FEEDSYNC_REPORT", metavar="FILE.html",
        help="Where to write the page.")] = Path("feedsync-report.html"),
    issues_file: IssuesFileOption = None,
    max_issues: MaxIssuesOption = DEFAULT_MAX_ISSUES,
    jobs: JobsOption = 0,
    quiet: QuietOption = 0,
    verbose: VerboseOption = 0,
) -> None:
    """Check every product (like validate) and write one self-contained HTML report.

    Items per channel, why products were left out, fill rate per field, unmapped master
    columns, the rules, the problems (searchable, sortable). No network needed to view it.
    Example: feedsync report -c shop/feedsync.yaml -o report.html
    """
    output = Output(quiet, verbose)
    with _handled(output):
        result, page = _run("report", config, channel, output, issues_file, max_issues, jobs)
        _write_page(output_path, page)
    output.log(f"wrote {output_path}: {result.rows:,} rows, {result.errors:,} errors, "
               f"{result.warnings:,} warnings")
    raise typer.Exit(int(api.ExitCode.DATA_ERRORS if result.errors else api.ExitCode.OK))


def _write_page(path: Path, page: str) -> None:
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise api.OutputError(f"cannot write the report {path}: "
                              f"{exc.strerror or exc}") from exc


@app.command()
def explain(
    product_id: Annotated[str, typer.Argument(metavar="ID", help="The product's id (SKU).")],
    channel: Annotated[str, typer.Option("--channel", envvar="FEEDSYNC_CHANNEL",
                                         metavar="NAME", help="The channel to explain.")],
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    format: Annotated[BuildFormat, format_option("table or json")] = BuildFormat.table,
) -> None:
    """Show why one product's values came out as they did in one channel.

    Prints the master row, each rule in order with what it changed (or why it did not apply)
    and the final channel item. Example: feedsync explain CAM-BAS-BLA-S --channel google_es
    """
    output = Output()
    with _handled(output):
        result = api.load_project(config).explain(product_id, channel)
    if format is BuildFormat.json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
    else:
        sys.stdout.write(explanation_text(result))


@app.command()
def preview(
    channel: Annotated[str, typer.Option("--channel", envvar="FEEDSYNC_CHANNEL",
                                         metavar="NAME", help="The feed to preview.")],
    limit: Annotated[int, typer.Option("-n", "--limit", envvar="FEEDSYNC_LIMIT", min=1,
                                       metavar="N", help="How many rows.")] = 5,
    ids: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
        "--id", envvar="FEEDSYNC_ID", metavar="ID",
        help="Only this product (repeat for several).")] = None,
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    format: Annotated[BuildFormat, format_option("table or json")] = BuildFormat.table,
) -> None:
    """Show the first rows of the master as one channel's items, with their issues.

    Writes nothing. Example: feedsync preview --channel google_es -n 3
    """
    output = Output()
    with _handled(output):
        previews = api.load_project(config).preview(channel, limit, ids or ())
    if format is BuildFormat.json:
        _write_json([p.to_dict() for p in previews])
    else:
        print_preview(output, channel, previews)


@app.command()
def push(
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    channel: ChannelOption = None,
    dry_run: Annotated[bool, flag(
        "--dry-run", "Check everything and show what would be sent where; send nothing "
                     "(needs no secrets).")
    ] = False,
    allow_empty: Annotated[bool, flag(
        "--allow-empty", "Publish a feed even when it has no items.")] = False,
    force: Annotated[bool, flag(
        "--force", "Publish whatever guard trips (the item count fell more than `max_drop`, "
                   "too many deletes, a price jump...).")] = False,
    allow: AllowOption = None,
    full: Annotated[bool, flag(
        "--full", "API destinations: send every item, not only the changes.")] = False,
    plan_file: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--plan", envvar="FEEDSYNC_PLAN", metavar="plan.json",
        help="Apply exactly this saved plan (`feedsync plan --out`); refused if "
                       "the master, the config or the ledger changed since.")] = None,
    format: Annotated[BuildFormat, format_option("table or json")] = BuildFormat.table,
    issues_file: IssuesFileOption = None,
    max_issues: MaxIssuesOption = DEFAULT_MAX_ISSUES,
    jobs: JobsOption = 0,
    quiet: QuietOption = 0,
    verbose: VerboseOption = 0,
) -> None:
    """Build every channel's feed, then publish it to the channel's destinations.

    A feed is published only when it passes the guards (not empty, not much smaller than
    the last publish); the exit code says what happened (see the README, "Publishing").
    Example: feedsync push -c shop/feedsync.yaml --dry-run
    """
    output = Output(quiet, verbose)
    notice = _RunNotice("push", output)
    with _handled(output, notice):
        report = _run("push", config, channel, output, issues_file, max_issues, jobs,
                      notice=notice, dry_run=dry_run, allow_empty=allow_empty, force=force,
                      log=output.log, full=full, allow=_guards(allow), plan=plan_file)
    _finish_publish(report, format, output, notice)


def _finish_publish(report: Any, format: BuildFormat, output: Output,
                    notice: _RunNotice) -> None:
    """What `push` and `sync` do after the run: print, tell the webhooks, exit."""
    exit_code = int(report.exit_code)
    if format is BuildFormat.json:
        print_push_json(report, notice.send(exit_code, report))
    else:
        print_push_table(output, report)
        notice.send(exit_code, report)
    raise typer.Exit(exit_code)


@app.command()
def status(
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    channel: ChannelOption = None,
    format: Annotated[BuildFormat, format_option("table or json")] = BuildFormat.table,
    fail_on: Annotated[Optional[FailOn], typer.Option(  # noqa: UP045
        "--fail-on", envvar="FEEDSYNC_FAIL_ON",
        help="new-disapprovals: exit 11 when a channel disapproved items it did not "
             "disapprove at the last `status`.")] = None,
    own_checks: Annotated[bool, typer.Option(
        "--checks/--no-checks", envvar="FEEDSYNC_CHECKS",
        help="Also read the master and join feedsync's own issues to the channel's "
             "(default: yes).")] = True,
    quiet: QuietOption = 0,
    verbose: VerboseOption = 0,
) -> None:
    """Show what each channel did with the items: approved, disapproved and why, expiring.

    Reads the channels' own view (Merchant API product statuses; Meta batch results and
    catalog diagnostics; for file destinations, what was published when), joins it per
    item with the ledger and feedsync's own issues, groups it by issue and remembers it,
    so the next run can say what is new. Sends nothing to any channel.
    Example: feedsync status -c shop/feedsync.yaml --fail-on new-disapprovals
    """
    output = Output(quiet, verbose)
    with _handled(output):
        report = api.load_project(config).status(channel, own_checks=own_checks,
                                                 log=output.log)
    if format is BuildFormat.json:
        sys.stdout.write(status_json(report))
    elif not quiet:
        print_status_table(output, report)
    for entry in report.destinations:
        if entry.error is not None:
            output.error(f"{entry.channel} -> {entry.destination}: {entry.error}")
    if report.exit_code is not api.ExitCode.OK:
        raise typer.Exit(int(report.exit_code))
    if fail_on is FailOn.new_disapprovals and report.new_disapprovals:
        output.error(f"{report.new_disapprovals:,} item(s) newly disapproved since the last "
                     "`feedsync status`")
        raise typer.Exit(int(api.ExitCode.NEW_DISAPPROVALS))
    raise typer.Exit(int(api.ExitCode.OK))


@app.command()
def sync(
    config: ConfigOption = Path(DEFAULT_CONFIG_NAME),
    channel: ChannelOption = None,
    only: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--only", envvar="FEEDSYNC_ONLY", metavar="FIELDS",
        help="Fields to compare and send, comma-separated (default: `sync.fields` in the "
             "config, else price,availability,quantity).")] = None,
    force: Annotated[bool, flag(
        "--force", "Send even when many items would go out of stock at once, or a price "
                   "moved more than its guard.")] = False,
    full_read: Annotated[bool, flag(
        "--full-read", "Read the whole master, even when only the joined stock changed "
                       "since the last sync (also names new and gone products).")] = False,
    format: Annotated[BuildFormat, format_option("table or json")] = BuildFormat.table,
    issues_file: IssuesFileOption = None,
    max_issues: MaxIssuesOption = DEFAULT_MAX_ISSUES,
    jobs: JobsOption = 0,
    quiet: QuietOption = 0,
    verbose: VerboseOption = 0,
) -> None:
    """Send only changed prices and stock to the API destinations, as partial updates.

    Fast enough to run every few minutes; never creates or deletes items (new and gone
    products are named and left to `feedsync push`). Exit codes as for push.
    Example: feedsync sync -c shop/feedsync.yaml --only price,availability,quantity
    """
    output = Output(quiet, verbose)
    notice = _RunNotice("sync", output)
    fields = [f.strip() for f in only.split(",") if f.strip()] if only else None
    with _handled(output, notice):
        report = _run("sync", config, channel, output, issues_file, max_issues, jobs,
                      notice=notice, only=fields, force=force, log=output.log,
                      full_read=full_read)
    _finish_publish(report, format, output, notice)


@channels_app.callback()
def channels_list(
    ctx: typer.Context,
    config: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--config", "-c", envvar="FEEDSYNC_CONFIG",
        help="Also list the project's own specs (channel_specs/ beside the config).")] = None,
    format: Annotated[BuildFormat, format_option("table or json")] = BuildFormat.table,
) -> None:
    """List every channel spec with its feed formats.

    Example: feedsync channels --format json; feedsync channels show google_merchant
    """
    if ctx.invoked_subcommand is not None:
        return
    output = Output()
    with _handled(output):
        specs = api.spec_summaries(_project_dir(config))
    if format is BuildFormat.json:
        _write_json([{"name": s.name, "title": s.title, "description": s.description,
                      "reference": s.reference, "formats": s.formats,
                      "fields": len(s.fields)} for s in specs])
    else:
        print_spec_list(output, specs)


@channels_app.command("show")
def channels_show(
    name: Annotated[str, typer.Argument(help="A spec name from `feedsync channels`.")],
    config: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--config", "-c", envvar="FEEDSYNC_CONFIG",
        help="Look in the project's channel_specs/ too.")] = None,
    format: Annotated[BuildFormat, format_option("table or json")] = BuildFormat.table,
) -> None:
    """Show a channel spec's formats, fields, limits and rules.

    Example: feedsync channels show google_merchant --format json
    """
    output = Output()
    with _handled(output):
        spec = api.spec_summary(name, _project_dir(config))
    if format is BuildFormat.json:
        _write_json(spec.to_dict())
    else:
        print_spec(output, spec)


def _write_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@app.command()
def codes(
    format: Annotated[CodesFormat, format_option("table, json or markdown")
                      ] = CodesFormat.table,
    config: Annotated[Optional[Path], typer.Option(  # noqa: UP045
        "--config", "-c", envvar="FEEDSYNC_CONFIG",
        help="Also list the codes of the project's own specs (channel_specs/).")] = None,
) -> None:
    """List every issue code feedsync reports, with its usual severity and what it means.

    Codes that a channel spec declares in its rules are marked with the spec's name.
    Example: feedsync codes --format json
    """
    output = Output()
    with _handled(output):
        issue_codes = api.issue_codes(_project_dir(config))
    if format is CodesFormat.json:
        print_issue_codes_json(issue_codes)
    elif format is CodesFormat.markdown:
        sys.stdout.write(issue_codes_markdown(issue_codes))
    else:
        output.out.print(issue_codes_table(issue_codes))


@app.command()
def init(
    master: Annotated[Path, typer.Argument(metavar="MASTER",
                                           help="The product master: a shop export, CSV, "
                                                "xlsx or JSON file.")],
    config: Annotated[Path, typer.Option(
        "--config", "-c", envvar="FEEDSYNC_CONFIG", metavar="PATH",
        help="Where to write the config.")] = Path(DEFAULT_CONFIG_NAME),
    shop_url: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--shop-url", envvar="FEEDSYNC_SHOP_URL", metavar="URL",
        help="The shop's address, for product links the master lacks.")] = None,
    currency: Annotated[Optional[str], typer.Option(  # noqa: UP045
        "--currency", envvar="FEEDSYNC_CURRENCY", metavar="CODE",
        help="The prices' currency when the cells carry none (EUR, TRY...).")] = None,
    spec: Annotated[str, typer.Option(
        "--spec", envvar="FEEDSYNC_SPEC", metavar="SPEC",
        help="The channel spec of the first channel.")] = "google_merchant",
    force: Annotated[bool, flag("--force", "Replace an existing config.")] = False,
    yes: Annotated[bool, flag("--yes", "Ask nothing, even on a terminal.")] = False,
) -> None:
    """Look at a product master and write a first, commented feedsync.yaml.

    Sniffs format, encoding, delimiter, list separator and decimal commas; recognises shop
    exports and header names in en, es, pt, fr, de, it and tr. On a terminal it asks for
    what it cannot tell (shop address, currency); flags answer instead.
    Example: feedsync init export.csv --shop-url https://shop.example.com --currency EUR
    """
    output = Output()
    with _handled(output):
        if _interactive() and not yes:
            found = api.draft_project(master, shop_url=shop_url, currency=currency)
            if found.needs_shop_url and not shop_url:
                shop_url = typer.prompt("The shop's address (for product links)",
                                        default=found.shop_url)
            if found.needs_currency and not currency:
                currency = typer.prompt("The prices' currency", default=found.currency)
        found = api.init_project(master, config, shop_url=shop_url, currency=currency,
                                 spec=spec, force=force)
    output.log(f"wrote {config}: {len(found.columns)} field(s) mapped"
               + (f" by the {found.preset} preset" if found.preset else "")
               + (f", {len(found.unmapped)} column(s) not mapped" if found.unmapped else ""))
    for guess in found.guesses:
        output.log(f"  check: {guess}")
    output.log(f"next: feedsync validate -c {config}")


def _interactive() -> bool:
    """Whether a person is at the keyboard (init asks only then)."""
    return sys.stdin.isatty()


@app.command()
def schema() -> None:
    """Print the JSON Schema of feedsync.yaml, for editors that complete and check keys.

    Point your editor at it with a first line in feedsync.yaml such as
    `# yaml-language-server: $schema=feedsync.schema.json`.
    Example: feedsync schema > feedsync.schema.json
    """
    _write_json(api.config_schema())


def _severity(level: SeverityLevel | None) -> api.Severity | None:
    return api.Severity(level.value) if level is not None else None


def _project_dir(config: Path | None) -> Path | None:
    if config is None:
        default = Path(DEFAULT_CONFIG_NAME)
        return Path.cwd() if default.exists() else None
    return (config if config.is_dir() else config.parent).resolve()


def main() -> None:
    app()
