"""Editing the example shop's master the way a merchant would, for the ledger tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def _master(config: Path) -> Path:
    return config.parent / "productos.csv"


def _rows(config: Path) -> tuple[str, list[list[str]]]:
    text = _master(config).read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    return lines[0], [line.split(";") for line in lines[1:]]


def _write(config: Path, header: str, rows: list[list[str]]) -> None:
    _master(config).write_text("\n".join([header, *(";".join(r) for r in rows)]) + "\n",
                               encoding="utf-8")


def set_prices(config: Path, prices: dict[str, str]) -> None:
    """Set the PVP (price, decimal comma) of some products by SKU."""
    header, rows = _rows(config)
    column = header.split(";").index("PVP")
    for row in rows:
        if row[0] in prices:
            row[column] = prices[row[0]]
    _write(config, header, rows)


def remove_products(config: Path, skus: set[str]) -> None:
    header, rows = _rows(config)
    _write(config, header, [r for r in rows if r[0] not in skus])


def age_ledger(config: Path, destination: str, days: float) -> None:
    """Pretend every item was last sent `days` ago (as time passing would)."""
    seconds = int(days * 86_400)
    with sqlite3.connect(config.parent / ".feedsync" / "ledger.db") as db:
        db.execute("UPDATE items SET sent_at = sent_at - ?, confirmed_at = confirmed_at - ?, "
                   "expires_at = expires_at - ? WHERE destination = ?",
                   (seconds, seconds, seconds, destination))
