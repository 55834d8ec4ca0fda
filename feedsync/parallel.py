"""`--jobs N`: parse, rule and render rows in N worker processes; write in this one.

The master is read here, in order; batches of rows go round-robin to the workers, each of
which runs the same RowProcessor as a sequential run (forked after everything is compiled,
so workers need no set-up of their own), and the outcomes come back in the order the rows
were read. Writing, duplicate detection, counting and reporting stay in this process, so a
parallel run gives the same feeds, bytes and report as a sequential one (tests check it).

Only a bounded number of batches is in flight, so memory stays constant. Worker processes
are forked, so this needs a platform with `fork` (Linux, macOS); elsewhere runs are
sequential.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import sys
import traceback
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TYPE_CHECKING, Any

from feedsync.errors import FeedsyncError

if TYPE_CHECKING:
    from feedsync.pipeline import RowOutcome, RowProcessor
    from feedsync.rules.compile import CompiledRules
    from feedsync.sources.base import SourceRow

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
