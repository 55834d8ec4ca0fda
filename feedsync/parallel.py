"""`--jobs N`: N worker processes share a run's rows, or, with many feeds, its feeds.

Rows (`process_in_workers`): the master is read here, in order; batches of rows go
round-robin to the workers, each of which runs the same RowProcessor as a sequential run
(forked after everything is compiled, so workers need no set-up of their own), and the
outcomes come back in the order the rows were read. Writing, duplicate detection,
counting and reporting stay in this process.

Feeds (`FeedGroups`, at least MIN_FEEDS_PER_GROUP feeds per worker, builds only): every
batch goes to every worker, each of which builds a contiguous range of the feeds, writing,
committing and staging them in the ledger itself; the outcomes (issues, counts) come back
and are joined in plan order.

Either way a parallel run gives the same feeds, bytes, report and ledger as a sequential
one (tests check it). Only a bounded number of batches is in flight, so memory stays
constant. Worker processes are forked, so this needs a platform with `fork` (Linux,
macOS); elsewhere runs are sequential.
"""
from __future__ import annotations

import contextlib
import copy
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from feedsync.errors import FeedsyncError

if TYPE_CHECKING:
    from feedsync.pipeline import RowOutcome, RowProcessor
    from feedsync.rules.compile import CompiledRules
    from feedsync.sources.base import SourceRow
    from feedsync.writers import FeedWriter, WrittenOutput

BATCH_ROWS = 500
# A row's outcome carries an item (and its encoded lines and ledger JSON) per feed, so a
# batch holds at most about this many feed items: 500 rows for one or two feeds, 76 for
# the 13 feeds of every channel. (500 rows of 13 feeds in flight had --jobs 2 at 200 MB
# for 20,000 products, against 95 MB sequential.)
BATCH_FEED_ITEMS = 1_000
MIN_BATCH_ROWS = 40
BATCHES_IN_FLIGHT = 3  # per worker


def batch_rows(feeds: int) -> int:
    """Rows per batch sent to a worker, for a run building `feeds` feeds."""
    return min(BATCH_ROWS, max(MIN_BATCH_ROWS, BATCH_FEED_ITEMS // max(feeds, 1)))

Work = list[tuple["SourceRow", int | None]]


class WorkerFailed(RuntimeError):
    """A worker process raised; carries its traceback text."""


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


AUTO = 0  # `--jobs 0`, the command line's default: choose_jobs decides
# Below these sizes the workers' start-up and pickling cost more than the second core
# gives back. Measured on the 2-core machine (benchmarks/bench_compare.py, 2026-12-02):
# Google, 1,000,000 products: --jobs 2 126 s of wall time against 166 s; 100,000: 15.2
# against 16.7. Every channel (13 feeds), first builds, since workers send back bytes
# rather than items: 20,000 products 15.6 s against 19.4 (median of 3 paired rounds, 39%
# more CPU); 200,000: 163 s against 199. Before that change, 20,000 gained nothing (19.1
# against 19.4 s), so a small master with many feeds was left to one process.
AUTO_MIN_ROWS = 100_000
AUTO_MIN_FEED_ITEMS = 250_000  # rows x feeds: 20,000 rows x 13 feeds is 260,000
AUTO_WORKERS = 2  # what was measured; more cores may take more, set --jobs N for them


def choose_jobs(jobs: int, feeds: int, master_rows: int | None,
                cores: int | None = None) -> int:
    """The worker processes a run uses: `jobs` itself unless it is AUTO; then 2 on a
    machine with two or more cores (and fork) when the run is big enough to pay (master
    rows, as feedsync.sources.estimate guesses them, at least AUTO_MIN_ROWS, or rows x
    `feeds` at least AUTO_MIN_FEED_ITEMS; never with no feed), else 1."""
    if jobs != AUTO:
        return jobs
    cores = cores if cores is not None else (os.cpu_count() or 1)
    if cores < 2 or not available():
        return 1
    rows = master_rows or 0
    big = rows >= AUTO_MIN_ROWS or rows * feeds >= AUTO_MIN_FEED_ITEMS
    return AUTO_WORKERS if feeds and big else 1


def process_in_workers(process: RowProcessor, rules: list[CompiledRules],
                       rows: Iterable[tuple[SourceRow, int | None]],
                       jobs: int) -> Iterator[RowOutcome]:
    """The outcomes of `process` over `rows`, in order, computed by `jobs` processes.

    When the iteration ends, the workers' rule counts are added to `rules` in this process.
    """
    if not available():
        yield from (process(row, duplicate_of) for row, duplicate_of in rows)
        return
    context = multiprocessing.get_context("fork")
    # Queues, not bare pipes: their feeder threads let either side put a large batch
    # while the other is itself busy putting one, where pipes would deadlock.
    workers: list[tuple[Any, Any, Any]] = []
    try:
        for _ in range(jobs):
            inbox, outbox = context.Queue(), context.Queue()
            worker = context.Process(target=_work, args=(process, rules, inbox, outbox),
                                     daemon=True)
            worker.start()
            workers.append((worker, inbox, outbox))
        rows_iter = iter(rows)
        size = batch_rows(len(process.channels))
        batches = iter(lambda: list(islice(rows_iter, size)), [])
        in_flight = sent = received = 0
        exhausted = False
        while True:
            while not exhausted and in_flight < jobs * BATCHES_IN_FLIGHT:
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                workers[sent % jobs][1].put(batch)
                sent += 1
                in_flight += 1
            if in_flight == 0:
                break
            yield from _receive(workers[received % jobs], "outcomes")
            received += 1
            in_flight -= 1
        for _, inbox, _ in workers:
            inbox.put(None)
        for handles in workers:
            counts = _receive(handles, "counts")
            for channel_rules, channel_counts in zip(rules, counts, strict=True):
                channel_rules.add_counts(channel_counts)
        for worker, _, _ in workers:
            worker.join()
    finally:
        for worker, inbox, outbox in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join()
            inbox.close()
            outbox.close()
            inbox.cancel_join_thread()
            outbox.cancel_join_thread()


def _receive(worker: tuple[Any, Any, Any], wanted: str) -> Any:
    process, _, outbox = worker
    while True:
        try:
            kind, payload = outbox.get(timeout=1.0)
        except queue.Empty:
            if not process.is_alive():
                raise WorkerFailed(f"a worker process ended without an answer (exit code "
                                   f"{process.exitcode})") from None
            continue
        if kind == "failed":
            if isinstance(payload, BaseException):  # one of feedsync's own: see _failure
                raise payload
            raise WorkerFailed(payload)
        if kind != wanted:
            raise WorkerFailed(f"a worker answered {kind!r} where {wanted!r} was expected")
        return payload


def _work(process: RowProcessor, rules: list[CompiledRules], inbox: Any,
          outbox: Any) -> None:
    """A worker: outcomes for each batch, then the rule counts when told to stop."""
    for channel_rules in rules:
        channel_rules.reset_counts()  # forked with the parent's counts: count afresh
    try:
        while (batch := inbox.get()) is not None:
            outbox.put(("outcomes", process.process_batch(batch)))
        outbox.put(("counts", [channel_rules.raw_counts() for channel_rules in rules]))
    except BaseException:
        outbox.put(("failed", _failure()))
    finally:
        outbox.close()
        outbox.join_thread()  # everything put is sent before the process ends


# -- feed groups: each worker takes some of the feeds, for every row ---------------------
#
# With many feeds, splitting the rows pays little: every feed item crosses the pipe as
# bytes to the one process that writes every file and stages every ledger row, and that
# process bounds the run. Split by feeds instead, each worker parses every row (a small
# share of many feeds' work), renders, writes and commits its own feeds' files and stages
# their ledger rows in a file of its own; only what the report reads comes back (issues,
# counts). Every channel (13 feeds), first builds, --jobs 2, 2026-12-04 on the 2-core
# machine: 200,000 products 163.9 s of wall time and 248.2 CPU s against 191.5 s and 320.1
# with the rows split (benchmarks/bench_compare.py, one paired round); 20,000 products
# 16.4 / 15.4 s against 22.2 / 16.9 (the main process: 4.5 CPU s against 8.4-11.2).

# Below this many feeds per worker, rows are split instead: parsing, which every group
# repeats, is a large share of the work of one or two feeds (Google alone: about half).
MIN_FEEDS_PER_GROUP = 2
# How long a failed run waits for a feed-group worker to discard its files and stop.
STOP_SECONDS = 30.0


def feed_weight(outputs: int) -> int:
    """A feed's share of a row's work, roughly: rendering counts as two outputs (every
    channel, 20,000 products: a feed cost 1.2-2.9 CPU s, an output about a third of that)."""
    return 2 + outputs


def split_feeds(weights: list[int], jobs: int) -> list[range] | None:
    """Contiguous ranges of the feeds (in plan order, so that a row's issues join in the
    order a sequential run gives them), one per worker, the heaviest as light as it can be;
    None when there are fewer than MIN_FEEDS_PER_GROUP feeds per worker (split the rows)."""
    count = len(weights)
    if jobs < 2 or count < jobs * MIN_FEEDS_PER_GROUP:
        return None
    prefix = [0]
    for weight in weights:
        prefix.append(prefix[-1] + weight)
    # best[k][n]: the lightest heaviest group splitting the first n feeds into k groups
    inf = float("inf")
    best = [[inf] * (count + 1) for _ in range(jobs + 1)]
    cut = [[0] * (count + 1) for _ in range(jobs + 1)]
    best[0][0] = 0
    for k in range(1, jobs + 1):
        for n in range(k, count + 1):
            for m in range(k - 1, n):
                heaviest = max(best[k - 1][m], prefix[n] - prefix[m])
                if heaviest < best[k][n]:
                    best[k][n], cut[k][n] = heaviest, m
    ranges: list[range] = []
    end = count
    for k in range(jobs, 0, -1):
        start = cut[k][end]
        ranges.append(range(start, end))
        end = start
    return ranges[::-1]


class FeedGroups:
    """Worker processes that each build a contiguous range of a run's feeds from every row:
    `outcomes` yields each row's outcome joined from theirs, as a sequential run gives it
    (without the items, where the observers do not read them); `end` collects the rule
    counts and the ledger digests; `commit` publishes (or, for feeds a guard held back,
    discards) what they wrote; `close` stops them if the run failed.

    The rows are read and numbered here, once, and every batch goes to every worker."""

    def __init__(self, process: RowProcessor, rules: list[CompiledRules],
                 groups: list[range], open_writers: Callable[[int], list[FeedWriter]],
                 drop_items: list[bool], recorder: Any = None) -> None:
        """`open_writers(feed)`: the writers of one feed's outputs (called in the worker
        that builds it); `drop_items`: per feed, whether no observer reads its items;
        `recorder`: the run's ledger observer (plan.LedgerRecorder), whose staging of
        each group's feeds its worker takes over where it can (`worker_part`)."""
        self.process, self.rules, self.groups = process, rules, groups
        self.open_writers, self.drop_items = open_writers, drop_items
        self.recorder = recorder
        self.staging: list[Any] = [None] * len(groups)
        self.workers: list[tuple[Any, Any, Any]] = []
        self._ended = False
        self._stop: Any = None  # an Event the workers check between batches

    def start(self) -> None:
        """Fork the workers (after everything is compiled: they need no set-up)."""
        context = multiprocessing.get_context("fork")
        self._stop = context.Event()
        if self.recorder is not None:
            self.staging = [self.recorder.worker_part(list(feeds)) for feeds in self.groups]
        for number, feeds in enumerate(self.groups):
            process = copy.copy(self.process)
            process.channels = self.process.channels[feeds.start:feeds.stop]
            # A row's own issues (parsing, duplicates) come from the first group only.
            process.row_issues = number == 0
            inbox, outbox = context.Queue(), context.Queue()
            worker = context.Process(
                target=_build_feeds,
                args=(process, self.rules, feeds, self.open_writers,
                      self.drop_items[feeds.start:feeds.stop], self.staging[number], inbox,
                      outbox, self._stop),
                daemon=True)
            worker.start()
            self.workers.append((worker, inbox, outbox))

    def outcomes(self, rows: Iterable[tuple[SourceRow, int | None]]) -> Iterator[RowOutcome]:
        """Every row's outcome, in order: the first group's, with the other groups' feeds
        and issues appended (plan order)."""
        if not self.workers:
            self.start()
        rows_iter = iter(rows)
        size = batch_rows(max(len(feeds) for feeds in self.groups))
        batches = iter(lambda: list(islice(rows_iter, size)), [])
        in_flight = 0
        exhausted = False
        while True:
            while not exhausted and in_flight < BATCHES_IN_FLIGHT * len(self.workers):
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                data = pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)  # once, for every worker
                for _, inbox, _ in self.workers:
                    inbox.put(data)
                in_flight += 1
            if in_flight == 0:
                break
            parts = [_receive(worker, "outcomes") for worker in self.workers]
            in_flight -= 1
            first, *others = parts
            for number, outcome in enumerate(first):
                if outcome.valid:
                    for other in others:
                        theirs = other[number]
                        outcome.feeds += theirs.feeds
                        if theirs.issues:
                            outcome.issues += theirs.issues
                yield outcome

    def end(self) -> None:
        """After the last row: the workers' rule counts, added to `rules` here."""
        for worker in self.workers:
            worker[1].put(None)
        for worker, feeds, staging in zip(self.workers, self.groups, self.staging,
                                          strict=True):
            counts, digests = _receive(worker, "counts")
            for index, channel_counts in zip(feeds, counts, strict=True):
                self.rules[index].add_counts(channel_counts)
            if staging is not None:
                self.recorder.adopt(digests)
        self._ended = True

    def commit(self, held: set[int]) -> list[list[WrittenOutput] | None]:
        """Publish each feed's outputs (a feed at once, as commit_writers does), except the
        feeds in `held`, whose new files are discarded: per feed, its outputs' figures
        (None for one held back)."""
        assert self._ended, "end() comes first"
        for _, inbox, _ in self.workers:
            inbox.put(held)
        results: list[list[WrittenOutput] | None] = []
        for worker in self.workers:
            results += _receive(worker, "committed")
        for worker, _, _ in self.workers:
            worker.join()
        return results

    def close(self) -> None:
        """Stop any worker still running (a failed run): each discards what it wrote."""
        if any(worker.is_alive() for worker, _, _ in self.workers):
            # Each worker stops at its next batch (or wait), discarding what it wrote.
            self._stop.set()
            for _, inbox, _ in self.workers:
                inbox.put(_STOP)
            for worker, _, _ in self.workers:
                worker.join(timeout=STOP_SECONDS)
            for worker, _, _ in self.workers:
                if worker.is_alive():  # stuck: its temporary files wait for the next sweep
                    worker.kill()
                    worker.join()
        for _, inbox, outbox in self.workers:
            inbox.close()
            outbox.close()
            inbox.cancel_join_thread()
            outbox.cancel_join_thread()
        self.workers = []


def _build_feeds(process: RowProcessor, rules: list[CompiledRules], feeds: range,
                 open_writers: Callable[[int], list[FeedWriter]], drop_items: list[bool],
                 staging: Any, inbox: Any, outbox: Any, stop: Any) -> None:
    """A feed-group worker: for every batch of rows, write its feeds' items and send back
    the outcomes (items left out where `drop_items`); at the end its rule counts; then, told
    which feeds are held back, commit the others."""
    from feedsync.writers import WrittenOutput, commit_writers

    # Stopped by the run (FeedGroups.close), not by a signal: an exception raised at any
    # point (between creating a temporary file and keeping it) could leave files behind.
    # Ctrl-C reaches the run, which stops its workers so.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for index in feeds:
        rules[index].reset_counts()  # forked with the parent's counts: count afresh
    writers: list[list[FeedWriter]] = []
    failure: Any = None
    stopped = False
    recorder = None
    try:
        for index in feeds:
            writers.append(open_writers(index))
        # The feeds this worker stages in the ledger itself (plan.WorkerRecorder); for
        # the others, the ledger form goes to the main process, which stages them.
        recorder = staging.open(feeds.start) if staging is not None else None
        staged_here = {index - feeds.start for index, _ in staging.feeds} if staging else set()
        ledger_form = process.ledger_form
        forms = [ledger_form if n not in staged_here else None for n in range(len(feeds))]
        dropped = [n for n, drop in enumerate(drop_items) if drop]
        while (data := inbox.get()) is not None:
            if data is _STOP or stop.is_set():
                raise _Stopped
            outcomes = process.build_batch(pickle.loads(data), writers, forms, dropped,
                                           recorder)
            outbox.put(("outcomes", outcomes))
        digests = recorder.close() if recorder is not None else {}
        recorder = None
        outbox.put(("counts", ([rules[index].raw_counts() for index in feeds], digests)))
        held = inbox.get()
        if held is _STOP:
            raise _Stopped
        results: list[list[WrittenOutput] | None] = []
        for index, feed_writers in zip(feeds, writers, strict=True):
            if index in held:
                for writer in feed_writers:
                    writer.abort()
                results.append(None)
                continue
            commit_writers(feed_writers)  # type: ignore[arg-type]
            results.append([WrittenOutput.of(writer) for writer in feed_writers])
        writers = []
        outbox.put(("committed", results))
    except _Stopped:
        stopped = True
    except BaseException:
        failure = _failure()
    if recorder is not None:  # the run failed (that is what it reports); the main
        # process deletes the file
        with contextlib.suppress(Exception):
            recorder.part.close()
    for feed_writers in writers:
        for writer in feed_writers:
            writer.abort()
    if failure is not None:
        outbox.put(("failed", failure))
    if stopped:  # nobody reads what is still unsent
        outbox.cancel_join_thread()
    outbox.close()
    outbox.join_thread()


# Put in a worker's inbox to stop it (with the event set, for a worker busy with a batch).
_STOP = "stop"


class _Stopped(Exception):
    """A feed-group worker was told to stop (FeedGroups.close)."""


def _failure() -> Any:
    """What a worker sends when it raises: the exception itself where it is one of
    feedsync's own (a template that cannot render a product, say) or an OSError, and
    pickles, so that the run ends as a sequential run would (its message and exit code,
    not exit 70); anything else as its traceback (WorkerFailed, a bug)."""
    error = sys.exc_info()[1]
    if isinstance(error, (FeedsyncError, OSError)):
        try:
            pickle.loads(pickle.dumps(error))
            return error
        except Exception:  # any pickling problem: the traceback will do
            pass
    return traceback.format_exc()
