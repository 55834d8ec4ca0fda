"""The set of product ids already seen in a run, at about 12 bytes per product.

A build must notice a duplicate id wherever it appears in the master, so it remembers every
id it has read. A dict of id strings costs about 140 bytes per product (the string, an int
for the row, the dict slot), which for a large catalog was nearly all of a build's memory.

Here each id costs one 8-byte word in an open-addressing table: 24 bits of the id's hash
and the 40-bit offset of a record (the row number and the id itself) in a temporary spill
file on disk. A word whose hash bits match is only a candidate: the record is read back and
the real ids compared, so a hash collision can never report a false duplicate. The table is
split into 256 shards that grow one at a time, so growing never holds two copies of all of
it at once (peak memory stays near the average).
"""

from __future__ import annotations

import os
import struct
import tempfile
from array import array
from typing import BinaryIO

_SHARDS = 256
_FIRST_CAPACITY = 64
# A shard grows by half once 80% full, so it is between 53% and 80% full: about 12 bytes
# per id on average (doubling at 75% left it between 37% and 75%: 16 bytes at 1,000,000),
# while a lookup of a new id (linear probing) still meets only a few words.
_MAX_LOAD_NUMERATOR, _MAX_LOAD_DENOMINATOR = 4, 5
_GROWTH_NUMERATOR, _GROWTH_DENOMINATOR = 3, 2
_OFFSET_BITS = 40
_OFFSET_MASK = (1 << _OFFSET_BITS) - 1
_HASH_MASK = (1 << 64) - 1
_RECORD = struct.Struct("<QI")  # row, byte length of the id; the id's UTF-8 follows


class SeenIds:
    """`first_row(id, row)`: the row that first used `id`, recording it when new."""

    def __init__(self, directory: str | None = None) -> None:
        self._tables = [array("Q", bytes(8 * _FIRST_CAPACITY)) for _ in range(_SHARDS)]
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
        self._size = 0  # bytes written to the spill file
        self._unflushed = False

    def __len__(self) -> int:
        return sum(self._counts)

    def first_row(self, product_id: str, row: int) -> int:
        """The row that first used `product_id`: `row` itself when the id is new."""
        hashed = hash(product_id) & _HASH_MASK  # str hashes are cached and 64-bit
        shard = hashed & (_SHARDS - 1)
        tag = hashed >> _OFFSET_BITS  # the top 24 bits: also give the home slot
        table = self._tables[shard]
        capacity = len(table)
        slot = tag % capacity
        while True:
            word = table[slot]
            if word == 0:
                break
            if word >> _OFFSET_BITS == tag:
                first = self._confirm((word & _OFFSET_MASK) - 1, product_id)
                if first is not None:
                    return first
            slot = slot + 1 if slot + 1 < capacity else 0
        table[slot] = (tag << _OFFSET_BITS) | (self._append(product_id, row) + 1)
        count = self._counts[shard] = self._counts[shard] + 1
        if count * _MAX_LOAD_DENOMINATOR > capacity * _MAX_LOAD_NUMERATOR:
            self._grow(shard)
        return row

    def close(self) -> None:
        self._spill.close()
        if self._name is not None:
            os.unlink(self._name)
            self._name = None

    def _append(self, product_id: str, row: int) -> int:
        encoded = product_id.encode("utf-8", "surrogatepass")
        offset = self._size
        if offset > _OFFSET_MASK - 1:
            raise OverflowError("more than 1 TB of product ids")
        self._spill.write(_RECORD.pack(row, len(encoded)))
        self._spill.write(encoded)
        self._size += _RECORD.size + len(encoded)
        self._unflushed = True
        return offset

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
        old = self._tables[shard]
        capacity = len(old) * _GROWTH_NUMERATOR // _GROWTH_DENOMINATOR
        table = array("Q", bytes(8 * capacity))
        for word in old:
            if word:
                slot = (word >> _OFFSET_BITS) % capacity
                while table[slot]:
                    slot = slot + 1 if slot + 1 < capacity else 0
                table[slot] = word
        self._tables[shard] = table

    def __enter__(self) -> SeenIds:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
