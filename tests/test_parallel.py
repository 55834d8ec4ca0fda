"""--jobs N gives exactly what a sequential run gives: the same feed bytes, the same report."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from feedsync import parallel
from feedsync.api import load_project, run_build
from feedsync.cli.app import app
from feedsync.config import load_config
from feedsync.errors import ConfigError
from feedsync.pipeline import Pipeline, RowOutcome, Written, plan_channels, run_feeds
from feedsync.plan import LedgerRecorder
from feedsync.publish.items import ItemSpool
from feedsync.state.ledger import Ledger, Stager
from tests.helpers import write_config

pytestmark = pytest.mark.skipif(not parallel.available(), reason="needs the fork start method")
runner = CliRunner()


def _split(monkeypatch, split: str) -> list[int]:
    """Make --jobs N split the rows (`rows`) or the feeds (`feeds`, the default for a run
    of many feeds); the list returned gets each feed-group run's number of workers."""
    if split == "rows":
        monkeypatch.setattr(parallel, "MIN_FEEDS_PER_GROUP", 10**6)
    started: list[int] = []
    start = parallel.FeedGroups.start

    def counted(self: parallel.FeedGroups) -> None:
        started.append(len(self.groups))
        start(self)

    monkeypatch.setattr(parallel.FeedGroups, "start", counted)
    return started


def _build_both(config: Path, monkeypatch, jobs: int = 2,
                first_runs: bool = False) -> tuple[dict, dict, dict, dict]:
    """(sequential report, parallel report, sequential files, parallel files);
    `first_runs`: each build starts without a ledger (else the second finds no change)."""
    # Small batches so that even the example's 40 rows spread over several workers.
    monkeypatch.setattr(parallel, "BATCH_ROWS", 3)
    reports, files = [], []
    for run_jobs in (1, jobs):
        result = runner.invoke(app, ["build", "-c", str(config), "-f", "json",
                                     "--jobs", str(run_jobs)])
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        for timing in ("duration_seconds", "rows_per_second"):  # differ by nature
            report.pop(timing)
        reports.append(report)
        feeds = config.parent / "feeds"
        files.append({p.name: p.read_bytes() for p in sorted(feeds.rglob("*")) if p.is_file()})
        shutil.rmtree(feeds)
        if first_runs:
            shutil.rmtree(config.parent / ".feedsync")
    return reports[0], reports[1], files[0], files[1]


def test_example_shop_with_rules_is_identical_in_parallel(tienda: Path, monkeypatch):
    sequential, parallel_report, sequential_files, parallel_files = _build_both(
        tienda, monkeypatch)
    assert parallel_files == sequential_files and len(sequential_files) == 3
    assert parallel_report == sequential
    assert parallel_report["channels"]["google_es"]["rules"][0]["dropped"] == 3


@pytest.mark.parametrize(("split", "jobs"), [("rows", 3), ("feeds", 2), ("feeds", 3)])
def test_every_channel_and_market_is_identical_in_parallel(tienda: Path, monkeypatch,
                                                           split: str, jobs: int):
    config = tienda.parent / "feedsync.all-channels.yaml"
    started = _split(monkeypatch, split)
    sequential, parallel_report, sequential_files, parallel_files = _build_both(
        config, monkeypatch, jobs=jobs)
    assert parallel_files == sequential_files and len(sequential_files) > 15
    assert parallel_report == sequential
    assert started == ([jobs] if split == "feeds" else [])


def test_quirks_and_duplicates_are_reported_the_same(tmp_path: Path, monkeypatch):
    for name in ("duplicate_ids.csv", "ragged_rows.csv", "invalid_values.csv"):
        folder = tmp_path / name
        folder.mkdir()
        config = write_config(folder, name, outputs=["feeds/g.xml.gz", "feeds/g.tsv",
                                                     "feeds/g.xml"])
        sequential, parallel_report, sequential_files, parallel_files = _build_both(
            config, monkeypatch)
        assert parallel_report == sequential, name
        assert parallel_files == sequential_files, name


def test_a_failing_worker_stops_the_run_and_keeps_the_old_feed(tienda: Path, monkeypatch):
    run_build(load_config(tienda))
    old = (tienda.parent / "feeds" / "google_es.xml").read_bytes()

    def explode(self, product):
        raise RuntimeError("renderer bug")

    monkeypatch.setattr("feedsync.channels.render.ChannelRenderer.render", explode)
    with pytest.raises(parallel.WorkerFailed, match="renderer bug"):
        run_build(load_config(tienda), jobs=2)
    assert (tienda.parent / "feeds" / "google_es.xml").read_bytes() == old
    assert not list((tienda.parent / "feeds").glob(".*"))  # no temporary file left


# -- --jobs 0 (the command line's default): the run chooses ---------------------------------

def test_automatic_jobs_take_a_second_core_only_for_a_run_big_enough_to_pay() -> None:
    from feedsync.parallel import AUTO, choose_jobs

    assert choose_jobs(3, feeds=1, master_rows=10) == 3  # as asked
    assert choose_jobs(AUTO, feeds=1, master_rows=1_000_000,
                       cores=1) == 1  # one core: nothing to gain
    assert choose_jobs(AUTO, feeds=1, master_rows=99_999, cores=2) == 1
    assert choose_jobs(AUTO, feeds=1, master_rows=100_000, cores=2) == 2
    # Many feeds count too: 20,000 products to every channel (13 feeds) take 15.6 s of
    # wall time with two processes against 19.4 s with one.
    assert choose_jobs(AUTO, feeds=13, master_rows=20_000, cores=8) == 2  # 260,000 items
    assert choose_jobs(AUTO, feeds=13, master_rows=19_000, cores=8) == 1
    assert choose_jobs(AUTO, feeds=0, master_rows=1_000_000, cores=8) == 1
    assert choose_jobs(AUTO, feeds=13, master_rows=200_000, cores=2) == 2
    assert choose_jobs(AUTO, feeds=1, master_rows=20_000, cores=8) == 1


def test_batches_hold_fewer_rows_the_more_feeds_each_row_feeds() -> None:
    """A batch in flight holds every feed's item of each of its rows: 500 rows of the 13
    every-channel feeds took --jobs 2 to twice the memory of a sequential build."""
    assert parallel.batch_rows(1) == parallel.batch_rows(2) == parallel.BATCH_ROWS
    assert parallel.batch_rows(13) == parallel.BATCH_FEED_ITEMS // 13
    assert parallel.batch_rows(13) * 13 <= parallel.BATCH_FEED_ITEMS
    assert parallel.batch_rows(500) == parallel.MIN_BATCH_ROWS


def test_the_example_shop_builds_with_one_process_by_default() -> None:
    from feedsync.config import load_config
    from feedsync.pipeline import Pipeline

    pipeline = Pipeline(load_config(Path(__file__).parent.parent / "examples" / "tienda"
                                    / "feedsync.yaml"))
    assert pipeline.jobs_for(0) == 1  # 38 products: forking would only cost
    assert pipeline.jobs_for(4) == 4


def _ledger_rows(config: Path) -> tuple[list, list]:
    """The ledger's items (without times) and contents after a build of `config`."""
    with sqlite3.connect(config.parent / ".feedsync" / "ledger.db") as db:
        items = db.execute("SELECT feed, destination, item_id, hash, expires_at, state "
                           "FROM items ORDER BY 1, 2, 3").fetchall()
        contents = db.execute("SELECT hash, item, typeof(item) FROM contents "
                              "ORDER BY hash").fetchall()
    return items, contents


def test_workers_encode_the_ledger_items_a_sequential_run_would(tienda: Path, monkeypatch):
    """With --jobs N the workers compute each item's ledger JSON and hash (the main process
    only stores them); the ledger ends up the same as after a sequential build."""
    config = tienda.parent / "feedsync.all-channels.yaml"
    monkeypatch.setattr(parallel, "BATCH_ROWS", 3)
    _split(monkeypatch, "rows")
    ledgers = []
    for jobs in (1, 2):
        if jobs == 2:  # the main process must not encode items itself
            def refuse(*args: object, **kwargs: object) -> bytes:
                raise AssertionError("Stager.add ran in the main process")
            monkeypatch.setattr(Stager, "add", refuse)
        result = runner.invoke(app, ["build", "-c", str(config), "--jobs", str(jobs)])
        assert result.exit_code == 0, result.output
        ledgers.append(_ledger_rows(config))
        shutil.rmtree(config.parent / ".feedsync")
        shutil.rmtree(config.parent / "feeds")
    assert ledgers[1] == ledgers[0] and len(ledgers[0][0]) > 100


# -- what crosses the process boundary --------------------------------------------------------

class _Seen:
    """An observer noting, per feed, whether each written outcome still had its item."""

    def __init__(self, feeds: list[str], reads: frozenset[str] = frozenset()) -> None:
        self.feeds, self.reads = feeds, reads
        self.with_item: dict[str, int] = dict.fromkeys(feeds, 0)
        self.without: dict[str, int] = dict.fromkeys(feeds, 0)
        self.ids: dict[str, list[str]] = {name: [] for name in feeds}
        self.encoded: dict[str, list[list]] = {name: [] for name in feeds}

    def reads_items(self, feed: str) -> bool:
        return feed in self.reads

    def __call__(self, outcome: RowOutcome) -> None:
        for name, result in zip(self.feeds, outcome.feeds, strict=True):
            if isinstance(result, Written):
                counts = self.without if result.item is None else self.with_item
                counts[name] += 1
                self.ids[name].append(result.id_of(outcome.product_id))
                self.encoded[name].append(list(result.encoded or []))


def _all_channels(tienda: Path, **channel_settings: dict) -> Path:
    config = tienda.parent / "feedsync.all-channels.yaml"
    if channel_settings:
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        for name, settings in channel_settings.items():
            data["channels"][name].update(settings)
        config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                          encoding="utf-8")
    return config


def test_workers_send_no_item_the_main_process_has_no_use_for(tienda: Path, monkeypatch):
    """A build's feeds whose outputs the workers encode get no item dict back, only its
    id (eBay's and Klaviyo's JSON documents too); items numbered by position are still
    written from the item, and so is a feed with a changes-only file (the ledger observer
    copies its items to a file)."""
    monkeypatch.setattr(parallel, "BATCH_ROWS", 3)
    _split(monkeypatch, "rows")
    config = _all_channels(tienda, meta={"changes_only": "feeds/meta.changes.csv"})
    feeds = [f.name for f in load_project(config).feeds()]
    seen = {}
    for jobs in (1, 2):
        seen[jobs] = _Seen(feeds)
        load_project(config).build(jobs=jobs, observers=[seen[jobs]])
    assert seen[2].ids == seen[1].ids  # the same ids, computed by the workers
    assert all(n == 0 for n in seen[1].without.values())  # one process keeps every item
    kept = {name for name, n in seen[2].with_item.items() if n}
    # Amazon's messages are numbered by their place (`$@position`): encoded here.
    assert kept == {"amazon_listings", "meta.ES", "meta.MX"}
    assert all(seen[2].without[name] == seen[1].with_item[name] > 0
               for name in feeds if name not in kept)


def test_an_observer_that_reads_items_gets_them_for_its_feeds_only(tienda: Path,
                                                                    monkeypatch):
    monkeypatch.setattr(parallel, "BATCH_ROWS", 3)
    config = _all_channels(tienda)
    feeds = [f.name for f in load_project(config).feeds()]
    reader = _Seen(feeds, reads=frozenset({"google.ES"}))
    load_project(config).validate(jobs=2, observers=[reader])
    assert reader.with_item["google.ES"] > 0 and reader.without["google.ES"] == 0
    assert sum(reader.with_item.values()) == reader.with_item["google.ES"]

    counted = _Seen(feeds)

    def undeclared(outcome: RowOutcome) -> None:  # does not say: it may read any item
        counted(outcome)

    load_project(config).validate(jobs=2, observers=[undeclared])
    assert sum(counted.without.values()) == 0 and sum(counted.with_item.values()) > 100


@pytest.mark.parametrize("split", ["rows", "feeds"])
def test_changes_only_files_are_the_same_in_parallel(tienda: Path, monkeypatch, split: str):
    monkeypatch.setattr(parallel, "BATCH_ROWS", 3)
    _split(monkeypatch, split)
    config = _all_channels(tienda, meta={"changes_only": "feeds/meta.changes.csv"},
                           amazon_listings={"changes_only": "feeds/amazon.changes.json"})
    sequential, parallel_report, sequential_files, parallel_files = _build_both(
        config, monkeypatch, first_runs=True)
    assert parallel_report == sequential
    assert parallel_files == sequential_files
    assert {"meta.changes.csv", "amazon.changes.json"} <= set(parallel_files)


def test_typed_spools_and_ledger_rows_of_a_push_build_are_the_same_in_parallel(
        tienda: Path, monkeypatch):
    """push builds API feeds with typed items into a spool, and stages each item with its
    place in the spool: the typed items cross from the workers, the item dicts need not."""
    monkeypatch.setattr(parallel, "BATCH_ROWS", 3)
    config = load_config(_all_channels(tienda))
    results = []
    for jobs in (1, 2):
        planned = [f for f in plan_channels(config) if f.name in ("google.ES", "meta.ES")]
        names = [f.name for f in planned]
        pipeline = Pipeline(config, feeds=planned, typed_feeds=["google.ES"])
        spools = {"google.ES": ItemSpool(tienda.parent / f"spool{jobs}.jsonl")}
        ledger = Ledger.open(tienda.parent / f"state{jobs}")
        recorder = LedgerRecorder(ledger.stager(), names, [spools.get(n) for n in names])
        seen = _Seen(names)
        run_feeds(pipeline, write=False, jobs=jobs, spools=spools,
                  observers=[recorder, seen])
        spools["google.ES"].commit()
        digests = recorder.close()
        staged = ledger.db.execute("SELECT feed, item_id, hash, item, pos FROM staged "
                                   "ORDER BY feed, item_id").fetchall()
        ledger.close()
        results.append((digests, staged, (tienda.parent / f"spool{jobs}.jsonl").read_bytes(),
                        seen))
    (digests1, staged1, spool1, seen1), (digests2, staged2, spool2, seen2) = results
    assert digests2 == digests1 and staged2 == staged1 and spool2 == spool1
    assert len(staged1) > 50 and any(pos for *_, pos in staged1)
    assert sum(seen2.with_item.values()) == 0 and sum(seen1.without.values()) == 0


def test_a_batch_sends_each_joinable_output_as_one_bytes_object(tienda: Path, monkeypatch):
    """Per batch and output, the workers join the items' bytes: the feed's first item of
    the batch carries (bytes, items), the others None; eBay's parts (a part may end after
    any item) and its 25-item JSON lines still get each item's bytes."""
    monkeypatch.setattr(parallel, "BATCH_ROWS", 3)
    _split(monkeypatch, "rows")
    config = _all_channels(tienda)
    feeds = [f.name for f in load_project(config).feeds()]
    seen = _Seen(feeds)
    load_project(config).build(jobs=2, observers=[seen])
    google = seen.encoded["google.ES"]  # its XML and TSV outputs
    carriers = [e for e in google if e[0] is not None]
    assert all(type(data) is tuple for e in carriers for data in e)
    assert all(data is None for e in google if e[0] is None for data in e)
    assert sum(e[0][1] for e in carriers) == len(google) > len(carriers) > 1
    assert carriers[0][0][0].count(b"<item>") == carriers[0][0][1]
    ebay = seen.encoded["ebay"]
    assert ebay and all(type(data) is bytes for e in ebay for data in e)
    klaviyo = [e[0] for e in seen.encoded["klaviyo"] if e[0] is not None]
    assert klaviyo[0][0].count(b",\n") == klaviyo[0][1] - 1  # the array's separators


def test_a_feedsync_error_in_a_worker_ends_the_run_as_it_would_with_one_process(
        tienda: Path, monkeypatch):
    """A problem with a clear message, raised in a worker (here a config error while
    rendering), reaches the command line as itself: its message and exit code, not a
    worker's traceback and exit 70."""
    run_build(load_config(tienda))
    old = (tienda.parent / "feeds" / "google_es.xml").read_bytes()

    def refuse(self, product):
        raise ConfigError("channels.google_es: a rule cannot be applied")

    monkeypatch.setattr("feedsync.channels.render.ChannelRenderer.render", refuse)
    with pytest.raises(ConfigError, match="a rule cannot be applied"):
        run_build(load_config(tienda), jobs=2)
    for jobs in ("1", "2"):
        result = runner.invoke(app, ["build", "-c", str(tienda), "--jobs", jobs])
        assert result.exit_code == 2, result.output
        assert "a rule cannot be applied" in result.output
        assert "Traceback" not in result.output
    assert (tienda.parent / "feeds" / "google_es.xml").read_bytes() == old
    assert not list((tienda.parent / "feeds").glob(".*"))  # no temporary file left
