"""Every Config setting has an upper bound as well as a lower one: ten years for a
duration (``*_ms``), a cap far above any real use for a count. ``now + setting`` (and
the backoff's doubling of ``backoff_base_ms``) then fits a signed 64-bit column on every
store: ``lease_ms=2**63-1`` was accepted and failed only at the first checkout on SQLite
and PostgreSQL (DataError), while the memory store took it."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from tests.support import SESSION

from paycore.catalog import MAX_STOCK
from paycore.config import MAX_MS, MOST, SWITCHES, Config, most
from paycore.errors import FlowPending, InvalidInput
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore_adapters.memory import in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore

SETTINGS = [f.name for f in attrs.fields(Config) if f.name not in SWITCHES]
INT64 = 2**63 - 1
#: 2100-01-01 in ms since the epoch: a "realistic now" with room to spare.
LATE_NOW_MS = 4_102_444_800_000


def test_ten_years_in_ms() -> None:
    assert MAX_MS == 10 * 365 * 24 * 3_600_000 == 315_360_000_000


@pytest.mark.parametrize("name", SETTINGS)
def test_a_setting_at_its_bound_is_taken_and_one_above_is_refused(name: str) -> None:
    bound = most(name)
    assert getattr(Config(**{name: bound}), name) == bound
    with pytest.raises(InvalidInput, match=f"Config.{name} must be a whole number") as caught:
        Config(**{name: bound + 1})
    assert caught.value.fields["field"] == name
    with pytest.raises(InvalidInput):
        Config(**{name: INT64})


@pytest.mark.parametrize("name", SETTINGS)
def test_every_bound_keeps_now_plus_the_setting_in_64_bits(name: str) -> None:
    bound = most(name)
    assert LATE_NOW_MS + bound <= INT64
    assert LATE_NOW_MS + bound * 1024 * 2 <= INT64  # the backoff's doubling, and jitter


def test_durations_are_bounded_by_ten_years_and_counts_by_their_own_cap() -> None:
    for name in SETTINGS:
        assert most(name) == (MAX_MS if name.endswith("_ms") else MOST[name]), name
    assert set(MOST) == {n for n in SETTINGS if not n.endswith("_ms")}
    assert MOST["max_quantity"] == MAX_STOCK  # no more can ever be in stock


def test_a_shop_on_sqlite_holds_every_setting_at_its_bound(tmp_path: Path) -> None:
    """The bounds together on a SQL store, which holds signed 64-bit integers: a checkout,
    its confirmation and a round of jobs store every time they make from a setting
    (``lease_until``, a reservation's expiry, a retry's due time). With ``lease_ms`` past
    the provider's key retention every step asks the provider first, so the checkout may
    wait for recovery (FlowPending); it never fails for a value the store cannot hold."""
    config = Config(**{name: most(name) for name in SETTINGS})
    w = in_memory(config, store=SQLiteStore(str(tmp_path / "shop.db"), migrate=True))
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.service.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    w.service.restock("s1", "SKU-MUG", 5)
    try:
        res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        w.service.confirm_payment(res.payment_id, "pm_card_visa")
    except FlowPending:
        pass
    w.clock.advance(MAX_MS)
    w.service.run_jobs()
    assert w.service.flows()
