"""The set of product ids already seen in a run, at about 9 bytes per product.

A build must notice a duplicate id wherever it appears in the master, so it remembers every
id it has read. A dict of id strings costs about 140 bytes per product (the string, an int
for the row, the dict slot), which for a large catalog was nearly all of a build's memory.

Here each id costs one 6-byte slot of an open-addressing table: 16 bits of the id's hash
(its tag, in one array) and where the record of the id (its row and the id itself) starts
in a temporary spill file on disk, in 8-byte units (in another array: 32 bits address
32 GiB of records). A slot whose tag matches is only a candidate: the record is read back
and the real ids compared, so a hash collision can never report a false duplicate. The
table is split into 256 shards (8 more bits of the hash) that grow one at a time, so
growing never holds two copies of all of it at once (peak memory stays near the average).
A slot's home is its tag scaled to the shard's capacity: the tag alone places it again
when the shard grows (a shard holds 65,536 homes: beyond ~13 million ids neighbouring
slots start to share one, and lookups slow down gradually; nothing else changes).
"""

from __future__ import annotations

import os
import struct
import tempfile
from array import array
from typing import BinaryIO

_SHARD_BITS = 8
_SHARDS = 1 << _SHARD_BITS
_TAG_BITS = 16
_TAG_MASK = (1 << _TAG_BITS) - 1
_FIRST_CAPACITY = 64
# A shard grows by half once 80% full, so it is between 53% and 80% full: about 9 bytes
# per id on average, while a lookup of a new id (linear probing) still meets only a few
# slots.
_MAX_LOAD_NUMERATOR, _MAX_LOAD_DENOMINATOR = 4, 5
_GROWTH_NUMERATOR, _GROWTH_DENOMINATOR = 3, 2
_ALIGN = 8  # records start at multiples of 8 bytes
_MAX_PLACE = (1 << 32) - 1  # a place is the record's start / 8, plus 1 (0: an empty slot)
_HASH_MASK = (1 << 64) - 1
_MAX_OFFSET = _MAX_PLACE * _ALIGN
_RECORD = struct.Struct("<QI")  # row, byte length of the id; the id's UTF-8 follows
_RECORD_SIZE = _RECORD.size
_PADDING = bytes(_ALIGN)


class SeenIds:
    """`first_row(id, row)`: the row that first used `id`, recording it when new."""

    def __init__(self, directory: str | None = None) -> None:
        self._tags = [array("H", bytes(2 * _FIRST_CAPACITY)) for _ in range(_SHARDS)]
        self._places = [array("I", bytes(4 * _FIRST_CAPACITY)) for _ in range(_SHARDS)]
        self._counts = [0] * _SHARDS
        # The spill file is unlinked at once where the platform allows: it vanishes with
        # the process, however the run ends.
        fd, name = tempfile.mkstemp(prefix="feedsync-ids-", dir=directory)
        self._spill: BinaryIO = os.fdopen(fd, "w+b", buffering=1 << 16)
        try:
            os.unlink(name)
            self._name: str | None = None
        except OSError:  # Windows cannot unlink an open file: remove it on close
            self._name = name
        self._size = 0  # bytes written to the spill file (a multiple of _ALIGN)
        self._unflushed = False

    def __len__(self) -> int:
        return sum(self._counts)

    def first_row(self, product_id: str, row: int) -> int:
        """The row that first used `product_id`: `row` itself when the id is new."""
        hashed = hash(product_id) & _HASH_MASK  # str hashes are cached and 64-bit
        shard = hashed & (_SHARDS - 1)
        tag = (hashed >> _SHARD_BITS) & _TAG_MASK
        tags = self._tags[shard]
        places = self._places[shard]
        capacity = len(places)
        slot = (tag * capacity) >> _TAG_BITS
        while True:
            place = places[slot]
            if place == 0:
                break
            if tags[slot] == tag:
                first = self._confirm((place - 1) * _ALIGN, product_id)
                if first is not None:
                    return first
            slot = slot + 1 if slot + 1 < capacity else 0
        tags[slot] = tag
        # The id's record, appended to the spill file in one write (inline: this runs
        # once per product, and the call and a second write cost ~1K instructions of ~12K).
        encoded = product_id.encode("utf-8", "surrogatepass")
        offset = self._size
        if offset >= _MAX_OFFSET:
            raise OverflowError("more than 32 GiB of product ids")
        length = _RECORD_SIZE + len(encoded)
        padding = -length % _ALIGN
        self._spill.write(_RECORD.pack(row, len(encoded)) + encoded + _PADDING[:padding])
        self._size = offset + length + padding
        self._unflushed = True
        places[slot] = offset // _ALIGN + 1
        count = self._counts[shard] = self._counts[shard] + 1
        if count * _MAX_LOAD_DENOMINATOR > capacity * _MAX_LOAD_NUMERATOR:
            self._grow(shard)
        return row

    def close(self) -> None:
        """Remove the spill file and let go of the table."""
        self._spill.close()
        if self._name is not None:
            os.unlink(self._name)
            self._name = None
        self._tags, self._places = [], []

    def _confirm(self, offset: int, product_id: str) -> int | None:
        """The first row of the record at `offset` if its id is `product_id`."""
        if self._unflushed:
            self._spill.flush()
            self._unflushed = False
        encoded = product_id.encode("utf-8", "surrogatepass")
        record = os.pread(self._spill.fileno(), _RECORD.size + len(encoded), offset)
        row, length = _RECORD.unpack_from(record)
        if length != len(encoded) or record[_RECORD.size:] != encoded:
            return None
        return int(row)

    def _grow(self, shard: int) -> None:
        old_tags, old_places = self._tags[shard], self._places[shard]
        capacity = len(old_places) * _GROWTH_NUMERATOR // _GROWTH_DENOMINATOR
        tags = array("H", bytes(2 * capacity))
        places = array("I", bytes(4 * capacity))
        for tag, place in zip(old_tags, old_places, strict=True):
            if place:
                slot = (tag * capacity) >> _TAG_BITS
                while places[slot]:
                    slot = slot + 1 if slot + 1 < capacity else 0
                tags[slot] = tag
                places[slot] = place
        self._tags[shard], self._places[shard] = tags, places

    def __enter__(self) -> SeenIds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
