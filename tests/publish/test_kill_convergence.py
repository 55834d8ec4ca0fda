"""SIGKILL at random points of delta pushes to the fake Merchant API: the ledger never
claims an item the server did not accept, and the next run converges.

Each round changes a few prices (and sometimes removes a product), starts a push in a
forked process and kills it with SIGKILL as the fake server receives a chosen batch,
either before or after it answers. After every kill the ledger may be behind the server
(an accepted batch whose answer never arrived: sent again next run), never ahead of it.
The loop is bounded (ROUNDS kills), seeded, and needs no timing."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from feedsync.config import load_config
from feedsync.errors import ExitCode
from feedsync.publish.run import run_push
from tests.ledger.helpers import remove_products, set_prices
from tests.publish import servers
from tests.publish.conftest import configure, invoke
from tests.publish.test_channel_apis import DISCOVERY, _google

ROUNDS = 20
SKUS = ["CAM-BAS-BLA-S", "CAM-BAS-BLA-M", "CAM-BAS-BLA-L", "CAM-BAS-NEG-S", "CAM-BAS-NEG-M",
        "CAM-BAS-NEG-L", "CAM-BAS-AZU-S", "CAM-BAS-AZU-M"]
ORIGINAL = Path(__file__).parents[2] / "examples" / "tienda" / "productos.csv"


def _push_in_child(config: Path) -> int:
    """Fork a process that runs one push (feedsync is already imported: forking is quick,
    so the loop can kill many times); it never returns into pytest."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = int(run_push(load_config(config)).exit_code)
        finally:
            os._exit(code)
    return pid


@pytest.fixture
def merchant(tmp_path, monkeypatch):
    from google.oauth2 import service_account

    monkeypatch.setattr(service_account.Credentials,
                        "_is_regional_access_boundary_lookup_required", lambda self: False)
    with servers.start_merchant_api(tmp_path, DISCOVERY) as fake:
        yield fake


def _ledger_claims(config: Path) -> dict[str, str]:
    """offer id -> price micros of every item the ledger says Google holds."""
    path = config.parent / ".feedsync" / "ledger.db"
    if not path.exists():
        return {}
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT item_id, COALESCE(c.item, '{}') FROM items i LEFT JOIN "
                          "contents c ON c.hash = i.hash WHERE destination = 'google'")
        claims = {}
        for item_id, text in rows:
            price = json.loads(text).get("price")
            if price:
                amount = Decimal(price.split()[0])
                claims[item_id] = str(int(amount * 1_000_000))
        return claims


def test_sigkill_anywhere_never_overclaims_and_converges(merchant, tienda, cli):
    base, account_file, state = merchant
    config = configure(tienda, {"google": _google(base, account_file, batch_size=4)})
    rng = random.Random(20261202)
    kills = 0
    for _ in range(ROUNDS):
        # A new master each round: some prices changed, sometimes a product removed (and
        # back the next round), so every push has inserts and deletes to send.
        shutil.copyfile(ORIGINAL, config.parent / "productos.csv")
        set_prices(config, {sku: f"{rng.randint(10, 30)},95" for sku in rng.sample(SKUS, 3)})
        if rng.random() < 0.5:
            remove_products(config, {rng.choice(SKUS)})
        kill_at, after_answer = rng.randint(1, 10), rng.random() < 0.5
        killed = threading.Event()
        first = len(state.batches)
        pid: list[int] = []

        def on_batch(number: int, answered: bool, first=first, killed=killed,
                     kill_at=kill_at, after_answer=after_answer, pid=pid) -> None:
            if number - first == kill_at and answered == after_answer and pid:
                os.kill(pid[0], signal.SIGKILL)
                killed.set()

        state.on_batch = on_batch
        pid.append(_push_in_child(config))
        os.waitpid(pid[0], 0)
        state.on_batch = None
        kills += killed.is_set()
        claims = _ledger_claims(config)
        overclaimed = {k: v for k, v in claims.items() if (k, v) not in state.accepted}
        assert not overclaimed, f"the ledger claims what Google never accepted: {overclaimed}"
    assert kills >= ROUNDS // 2  # most rounds were really killed mid-push

    result = invoke(cli, "push", "-c", str(config))
    assert result.exit_code == ExitCode.OK, result.output
    held = {name.split("~", 2)[-1]: p["productAttributes"]["price"]["amountMicros"]
            for name, p in state.products.items()}
    assert _ledger_claims(config) == held  # converged: the ledger is what Google holds
    state.received.clear()
    assert invoke(cli, "push", "-c", str(config)).exit_code == ExitCode.OK
    assert state.received == []  # nothing left to send or delete
