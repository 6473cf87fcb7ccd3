"""`paycore check` on stores with money breaches written straight into them (audit rows
included, so that `audit-replays` does not catch them by accident): a charge without an
order, a refund past the capture through a refund made outside paycore, a payment that
received more than it asked. Each was reported as "0 violations" before; each is exit 1
now, naming its invariant. And `--store memory` (a new, empty store of the command's
own) is refused rather than checked.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from tests.support import cli, deliver_webhooks, mug_shop

from paycore.flows.checkout import CartItem
from paycore_adapters import fake_state
from paycore_adapters.memory import in_memory
from paycore_adapters.sql.sqlite_store import SQLiteStore

NOW = 1767225600000
_AUDIT = (
    "insert into audit select max(seq) + 1, {at}, '{agg}', '{id}', {frm}, '{to}', '{trig}', "
    "null from audit"
)


def audit(agg: str, id: str, frm: str | None, to: str, trig: str) -> str:
    shown = "null" if frm is None else f"'{frm}'"
    return _AUDIT.format(at=NOW, agg=agg, id=id, frm=shown, to=to, trig=trig)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """One paid order of two mugs (2500 EUR), 1000 of it refunded by paycore; the fake
    provider's books beside it."""
    path = tmp_path / "shop.db"
    store = SQLiteStore(path, migrate=True, checkpoint_every=None)
    w = in_memory(store=store)
    mug_shop(w, 10)
    res = w.service.create_payment_intent("cs_test_0000000001", [CartItem("p_mug", 2)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    w.service.create_refund(res.payment_id, 1000, idempotency_key="k1")
    deliver_webhooks(w)
    store.close()
    books(path).write_text(fake_state.dumps(w.provider, w.clock), encoding="utf-8")
    return path


def books(path: Path) -> Path:
    return path.with_name(path.name + ".provider.json")


def corrupted(shop: Path, name: str, *statements: str) -> Path:
    copy = shop.with_name(f"{name}.db")
    shutil.copy(shop, copy)
    shutil.copy(books(shop), books(copy))
    conn = sqlite3.connect(copy)
    with conn:
        for sql in statements:
            conn.execute(sql)
    conn.close()
    return copy


def check(store: Path, *more: str) -> tuple[int, str]:
    code, out, err = cli("check", "--store", f"sqlite:{store}", *more)
    assert err == ""
    return code, out


def test_the_healthy_shop_passes_with_its_books(shop: Path) -> None:
    assert check(shop)[0] == 0
    code, out = check(shop, "--all", "--fake-books", str(books(shop)))
    assert (code, "0 violations" in out) == (0, True)


def test_a_succeeded_charge_without_an_order_is_reported(shop: Path) -> None:
    """A succeeded payment of 5000 naming no order, on an intent the provider does not
    know: store only, the missing order; with the books, the unknown intent too."""
    bad = corrupted(
        shop,
        "no_order",
        "insert into payments (id, order_id, checkout_session_id, seller_account, amount, "
        "amount_currency, created_at, status, provider_intent_id, provider_status, "
        "client_secret, amount_received, amount_refunded, lock_owner, confirm_attempts, "
        "last_error, version, reference) select 'pay_000099', 'ord_000999', "
        "'cs_test_forged000099', seller_account, 5000, amount_currency, created_at, "
        "'succeeded', 'pi_999999', 'succeeded', 'pi_999999_secret_x', 5000, 0, null, 1, "
        "null, 3, 'pref_forged' from payments where id = 'pay_000001'",
        audit("payment", "pay_000099", None, "creating", "create"),
        audit("payment", "pay_000099", "creating", "open", "intent_created"),
        audit("payment", "pay_000099", "open", "succeeded", "succeed"),
    )
    code, out = check(bad)
    assert code == 1
    assert "VIOLATED [payment-has-its-order] pay_000099: its order ord_000999 does not" in out
    code, out = check(bad, "--all", "--fake-books", str(books(bad)))
    assert code == 1
    assert "VIOLATED [recorded-intent-exists] pay_000099: records provider intent pi_999999" in out


def test_a_refund_made_outside_paycore_past_the_capture_is_reported(shop: Path) -> None:
    """paycore refunded 1000, a dashboard refund of 2000 is recorded: 3000 of 2500."""
    bad = corrupted(
        shop,
        "ext_overrefund",
        "insert into refunds values ('rf_000009', 'pay_000001', 'ord_000001', 2000, 'EUR', "
        f"null, 'external:re_000009', {NOW}, 0, 'succeeded', 're_000009', null, 1, 1, 0, null, 0)",
        audit("refund", "rf_000009", None, "pending", "create"),
        audit("refund", "rf_000009", "pending", "succeeded", "settle"),
        audit("order", "ord_000001", "partially_refunded", "refunded", "refund_rest"),
        "update payments set amount_refunded = 3000",
        "update orders set status = 'refunded'",
    )
    code, out = check(bad, "--fake-books", str(books(bad)))
    assert code == 1
    assert "VIOLATED [local-refunds-within-captured] pay_000001: refunds the provider" in out
    # The store alone cannot tell it from a refund the bank reversed since: not judged.
    code, out = check(bad)
    assert "local-refunds-within-captured" not in out


def test_a_payment_received_more_than_its_amount_is_reported(shop: Path) -> None:
    """amount_received 5000 on a 2500 payment, all of it refunded."""
    bad = corrupted(
        shop,
        "received_twice",
        "update payments set amount_received = 5000, amount_refunded = 5000",
        "update refunds set amount = 5000, requested_amount = 5000",
        "update orders set status = 'refunded'",
        audit("order", "ord_000001", "partially_refunded", "refunded", "refund_rest"),
    )
    code, out = check(bad)
    assert code == 1
    assert "VIOLATED [amount-received-within-amount] pay_000001: received 5000" in out


@pytest.mark.parametrize(
    "command",
    [("check",), ("check", "--all"), ("flows", "list"), ("attention",)],
)
def test_a_memory_store_is_refused_by_the_commands_that_read_a_shared_one(
    command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`memory` is a new, empty store of the command's own: a check of it always passed.
    Refused with exit 2 and one line, given by --store or by PAYCORE_STORE."""
    for argv, env in (((*command, "--store", "memory"), None), (command, "memory")):
        if env is None:
            monkeypatch.delenv("PAYCORE_STORE", raising=False)
        else:
            monkeypatch.setenv("PAYCORE_STORE", env)
        code, out, err = cli(*argv)
        assert (code, out) == (2, "")
        assert err.startswith("error: store_not_shared: ") and err.count("\n") == 1
