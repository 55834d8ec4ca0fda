"""SeenIds answers exactly what a dict of ids would, collisions of its hash bits included."""

from __future__ import annotations

import random

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


def test_equal_hash_bits_are_confirmed_against_the_real_id(monkeypatch) -> None:
    # Every id gets the same hash: each lookup meets only candidates, and the ids
    # themselves must still tell them apart.
    monkeypatch.setattr(seen_ids, "hash", lambda _: 12345, raising=False)
    with SeenIds() as seen:
        for row in range(100):
            assert seen.first_row(f"A{row}", row) == row
        for row in range(100):
            assert seen.first_row(f"A{row}", 1000 + row) == row
