"""SeenIds answers exactly what a dict of ids would, collisions of its hash bits included,
for ids of any length and script (its 6-byte slots: a 16-bit tag, an 8-byte-aligned place
in the spill file)."""

from __future__ import annotations

import random

import pytest

from feedsync import seen_ids
from feedsync.seen_ids import SeenIds


def test_first_rows_match_a_dict_on_many_ids_with_duplicates() -> None:
    rng = random.Random(7)
    reference: dict[str, int] = {}
    with SeenIds() as seen:
        for row in range(2, 60_000):
            product_id = f"SKU-{rng.randrange(40_000)}" if row % 3 else f"ü-{row}-ñ"
            assert seen.first_row(product_id, row) == reference.setdefault(product_id, row)
        assert len(seen) == len(reference)


def test_equal_hash_bits_are_confirmed_against_the_real_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Every id gets the same hash: each lookup meets only candidates, and the ids
    # themselves must still tell them apart.
    monkeypatch.setattr(seen_ids, "hash", lambda _: 12345, raising=False)
    with SeenIds() as seen:
        for row in range(100):
            assert seen.first_row(f"A{row}", row) == row
        for row in range(100):
            assert seen.first_row(f"A{row}", 1000 + row) == row


def test_ids_of_every_length_and_script_match_a_dict() -> None:
    """Records are padded to 8 bytes: ids of every length (empty, multi-byte, a lone
    surrogate) read back from wherever their record starts."""
    rng = random.Random(11)
    alphabet = "aZ9-_ ñü€😀\udc80"
    ids = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(40)))
           for _ in range(5_000)]
    reference: dict[str, int] = {}
    with SeenIds() as seen:
        for row, product_id in enumerate(ids + ids[::3] + rng.sample(ids, 500)):
            assert seen.first_row(product_id, row) == reference.setdefault(product_id, row)
        assert len(seen) == len(reference)


@pytest.mark.parametrize("seed", range(20))
def test_short_ids_from_a_small_alphabet_match_a_dict(seed: int) -> None:
    # (Seeded rather than hypothesis: importing hypothesis here, before the writers'
    # tracemalloc tests, made one of them see its import's allocations.)
    rng = random.Random(seed)
    ids = ["".join(rng.choice("ab\u00e9\udc80") for _ in range(rng.randrange(6)))
           for _ in range(300)]
    reference: dict[str, int] = {}
    with SeenIds() as seen:
        for row, product_id in enumerate(ids + ids):
            assert seen.first_row(product_id, row) == reference.setdefault(product_id, row)


def test_ids_with_the_same_tag_and_shard_but_other_hashes_are_told_apart(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the bits above the shard and the tag differ: every id lands in one shard with
    # one tag (one home), and only the spilled ids tell them apart.
    same = (0x2A << seen_ids._SHARD_BITS) | 7
    monkeypatch.setattr(seen_ids, "hash", lambda text: same | (len(text) << 40),
                        raising=False)
    with SeenIds() as seen:
        for row in range(300):
            assert seen.first_row("x" * row, row) == row
        for row in range(300):
            assert seen.first_row("x" * row, 1000 + row) == row
        assert len(seen) == 300


def test_about_nine_bytes_per_id() -> None:
    with SeenIds() as seen:
        for row in range(200_000):
            seen.first_row(f"SKU-{row:07d}", row)
        table = sum(len(a) * a.itemsize for a in (*seen._tags, *seen._places))
    assert table / 200_000 < 10
