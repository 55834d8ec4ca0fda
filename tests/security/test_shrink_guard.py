"""The shrink guard remembers more than the last publish: successive small drops cannot
walk a catalog down without --force; a forced publish is the new baseline."""

from __future__ import annotations

from pathlib import Path

from feedsync.state.guards import check_guards
from feedsync.state.store import StateStore


def _push(store: StateStore, items: int, *, force: bool = False) -> str | None:
    reason = check_guards(items, store.reference("google", "sftp"), max_drop=0.3,
                          allow_empty=False, force=force)
    if reason is None:
        store.record("google", "sftp", items=items, sha256="x", size=1, target="t",
                     forced=force)
    return reason


def test_successive_drops_under_the_limit_trip_the_guard(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    assert _push(store, 35_158) is None
    assert _push(store, 24_611) is None  # 30% off the largest: allowed
    reason = _push(store, 17_228)  # 30% off the last, but 51% off 35,158
    assert reason is not None and "35,158" in reason
    assert store.last("google", "sftp").items == 24_611  # type: ignore[union-attr]


def test_a_forced_publish_becomes_the_baseline(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    _push(store, 35_158)
    assert _push(store, 11_058, force=True) is None
    assert _push(store, 10_000) is None  # compared with 11,058, not 35,158
    assert _push(store, 5_000) is not None


def test_growth_then_drop_compares_with_the_largest(tmp_path: Path) -> None:
    store = StateStore(tmp_path / "state.db")
    for items in (1_000, 2_000, 1_500):
        assert _push(store, items) is None
    assert _push(store, 1_300) is not None  # 35% under the 2,000 published before


def test_state_db_is_private(tmp_path: Path) -> None:
    StateStore(tmp_path / "state.db").close()
    assert (tmp_path / "state.db").stat().st_mode & 0o777 == 0o600
