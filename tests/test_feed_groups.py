"""--jobs N with many feeds: each worker builds a range of the feeds from every row
(feedsync.parallel.FeedGroups), writing and committing their files itself. Same feeds,
report and ledger as a sequential run (test_parallel.py compares those); here: how the
feeds are split, and what happens when a worker or the run fails or a guard holds a
feed back."""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from feedsync import parallel
from feedsync.api import load_project
from feedsync.cli.app import app
from feedsync.errors import ConfigError
from feedsync.pipeline import RowOutcome
from feedsync.state.ledger import Stager
from tests.test_parallel import _ledger_rows, _split

pytestmark = pytest.mark.skipif(not parallel.available(), reason="needs the fork start method")
runner = CliRunner()


# -- splitting the feeds ----------------------------------------------------------------------

def test_too_few_feeds_per_worker_split_the_rows_instead() -> None:
    assert parallel.split_feeds([3, 3, 3], 2) is None  # 3 feeds: under 2 per worker
    assert parallel.split_feeds([3] * 10, 1) is None
    assert parallel.split_feeds([3, 3, 3, 3], 2) == [range(0, 2), range(2, 4)]


def test_the_heaviest_group_is_as_light_as_a_contiguous_split_allows() -> None:
    rng = random.Random(7)
    for _ in range(300):
        count = rng.randrange(2, 12)
        jobs = rng.randrange(2, 4)
        weights = [rng.randrange(1, 9) for _ in range(count)]
        groups = parallel.split_feeds(weights, jobs)
        if count < 2 * jobs:
            assert groups is None
            continue
        assert groups is not None and len(groups) == jobs
        assert [i for group in groups for i in group] == list(range(count))  # in order, all
        assert all(len(group) for group in groups)
        heaviest = max(sum(weights[i] for i in group) for group in groups)
        best = min(max(sum(weights[a:b]) for a, b in itertools.pairwise((0, *cuts, count)))
                   for cuts in itertools.combinations(range(1, count), jobs - 1))
        assert heaviest == best, (weights, jobs, groups)


def test_the_every_channel_example_is_split_into_groups_of_similar_work(tienda: Path) -> None:
    feeds = load_project(tienda.parent / "feedsync.all-channels.yaml").feeds()
    weights = [parallel.feed_weight(len(f.outputs)) for f in feeds]
    groups = parallel.split_feeds(weights, 2)
    assert groups is not None
    loads = [sum(weights[i] for i in group) for group in groups]
    assert max(loads) - min(loads) <= max(weights)


# -- failures -----------------------------------------------------------------------------------

def _every_channel(tienda: Path) -> tuple[Path, dict[str, bytes]]:
    """The every-channel example built once (sequentially); its files, to see they stay."""
    config = tienda.parent / "feedsync.all-channels.yaml"
    result = runner.invoke(app, ["build", "-c", str(config), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    return config, _files(config)


def _files(config: Path) -> dict[str, bytes]:
    feeds = config.parent / "feeds"
    return {p.name: p.read_bytes() for p in sorted(feeds.iterdir()) if p.is_file()}


def test_a_worker_that_fails_leaves_every_old_feed_and_no_temporary_file(tienda: Path,
                                                                         monkeypatch):
    config, old = _every_channel(tienda)
    started = _split(monkeypatch, "feeds")
    real = parallel._build_feeds

    def failing_second_group(process, rules, feeds, *args):
        if feeds.start > 0:  # the other group writes on until the run stops it
            def explode(*_: object) -> None:
                raise RuntimeError("renderer bug")
            process.channels[-1][1].render = explode
        return real(process, rules, feeds, *args)

    monkeypatch.setattr(parallel, "_build_feeds", failing_second_group)
    with pytest.raises(parallel.WorkerFailed, match="renderer bug"):
        load_project(config).build(jobs=2)
    assert started == [2]
    assert _files(config) == old  # no feed replaced, and nothing left beside them


def test_a_feedsync_error_in_a_worker_ends_the_run_as_it_would_sequentially(tienda: Path,
                                                                            monkeypatch):
    """A problem with a clear message (here a config error raised while rendering) reaches
    the command line as itself, not as a worker's traceback."""
    config, old = _every_channel(tienda)
    started = _split(monkeypatch, "feeds")

    def refuse(self, product):
        raise ConfigError("channels.google: a rule cannot be applied")

    monkeypatch.setattr("feedsync.channels.render.ChannelRenderer.render", refuse)
    with pytest.raises(ConfigError, match="a rule cannot be applied"):
        load_project(config).build(jobs=2)
    result = runner.invoke(app, ["build", "-c", str(config), "--jobs", "2"])
    assert result.exit_code == 2, result.output
    assert "a rule cannot be applied" in result.output and "Traceback" not in result.output
    assert started == [2, 2]
    assert _files(config) == old


def test_a_run_that_fails_in_the_main_process_stops_the_workers_and_their_files(
        tienda: Path, monkeypatch):
    config, old = _every_channel(tienda)
    monkeypatch.setattr(parallel, "BATCH_ROWS", 3)
    started = _split(monkeypatch, "feeds")
    seen: list[int] = []

    def observer(outcome: RowOutcome) -> None:
        seen.append(outcome.row)
        if len(seen) == 10:
            raise RuntimeError("an observer broke")

    with pytest.raises(RuntimeError, match="an observer broke"):
        load_project(config).build(jobs=2, observers=[observer])
    assert started == [2] and len(seen) == 10
    assert _files(config) == old


def test_a_guard_holds_back_the_same_feed_as_in_a_sequential_run(tienda: Path,
                                                                 monkeypatch):
    """The feeds a guard stops keep their old files (the workers discard the new ones);
    the others are replaced; report and ledger as with one process."""
    config = tienda.parent / "feedsync.all-channels.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    started = _split(monkeypatch, "feeds")
    outcomes = []
    for jobs in (1, 2):
        for name in ("feeds", ".feedsync"):
            shutil.rmtree(config.parent / name, ignore_errors=True)
        data["channels"]["meta"].pop("guards", None)
        config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                          encoding="utf-8")
        assert runner.invoke(app, ["build", "-c", str(config), "--jobs", "1"]).exit_code == 0
        before = _files(config)
        data["channels"]["meta"]["guards"] = {"min_items": 1000}
        config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                          encoding="utf-8")
        # Each market's feed changes, so a replaced file can be told from a kept one.
        master = config.parent / "productos.csv"
        text = master.read_text(encoding="utf-8")
        master.write_text(text.replace("Camiseta", "Camisa"), encoding="utf-8")
        result = runner.invoke(app, ["build", "-c", str(config), "-f", "json",
                                     "--jobs", str(jobs)])
        master.write_text(text, encoding="utf-8")
        report = json.loads(result.stdout)
        for timing in ("duration_seconds", "rows_per_second"):
            report.pop(timing)
        after = _files(config)
        outcomes.append((result.exit_code, report, before, after, _ledger_rows(config)))
    (code1, report1, _, after1, ledger1), (code2, report2, before2, after2,
                                                  ledger2) = outcomes
    assert started == [2]  # the second run of jobs 2, in feed groups
    assert code2 == code1 == 6, report2  # GUARD_TRIPPED
    assert report2 == report1 and after2 == after1 and ledger2 == ledger1
    assert sorted(n for n, c in report2["channels"].items() if "held" in c) == [
        "meta.ES", "meta.MX"]
    kept = {n for n in after2 if n.startswith("meta")}
    assert kept and all(after2[n] == before2[n] for n in kept)
    assert any(after2[n] != before2[n] for n in after2 if not n.startswith("meta"))


# -- the ledger -------------------------------------------------------------------------------

def test_workers_stage_their_feeds_and_the_ledger_is_a_sequential_runs(tienda: Path,
                                                                      monkeypatch):
    """Each worker stages its feeds' items in a file of its own, which the run's ledger
    takes in: after a first build, a rebuild with nothing changed and one with changes,
    the ledger holds what it holds after the same builds with one process, and the main
    process staged no item of those feeds (no ledger form crossed for them)."""
    monkeypatch.setattr(parallel, "BATCH_ROWS", 3)
    config = tienda.parent / "feedsync.all-channels.yaml"
    master = config.parent / "productos.csv"
    original = master.read_text(encoding="utf-8")
    started = _split(monkeypatch, "feeds")
    main_process = os.getpid()
    staged_here: dict[int, int] = {1: 0, 2: 0}
    real_add = Stager.add_staged

    def counted(self, *args, **kwargs):  # every staged item goes through add_staged
        if os.getpid() == main_process:
            staged_here[jobs] += 1
        return real_add(self, *args, **kwargs)

    monkeypatch.setattr(Stager, "add_staged", counted)
    runs = {}
    for jobs in (1, 2):
        shutil.rmtree(config.parent / ".feedsync", ignore_errors=True)
        ledgers = []
        for text in (original, original, original.replace("Camiseta", "Camisa")):
            master.write_text(text, encoding="utf-8")
            result = runner.invoke(app, ["build", "-c", str(config), "--jobs", str(jobs)])
            assert result.exit_code == 0, result.output
            ledgers.append(_ledger_rows(config))
        runs[jobs] = ledgers
    assert started == [2, 2, 2]
    assert runs[2] == runs[1]
    assert staged_here[1] > 100 and staged_here[2] == 0  # the workers staged every item
    assert not list(Path(tempfile.gettempdir()).glob("feedsync-staged-*.db"))
