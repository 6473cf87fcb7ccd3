"""Idempotency keys after a store is restored from a backup, and a key that answers for
another request.

A restore brings back the installation row, and local ids repeat after it (``rf_000001``,
``confirm:pay_000002:1``): a key built from them alone would be one the provider already
holds for another request. Stripe answers such a key with 400 ``idempotency_error``
("Keys for idempotent requests can only be used with the same parameters they were first
used with", docs.stripe.com/api/idempotent_requests): the request never ran under it.
So each flow's keys carry a random part of its own, and a mismatch at any step is taken
for what it says: this request did not run, never that the provider refused it.
"""

from __future__ import annotations

from typing import Any

from tests.support import SESSION, make_shop

from paycore import errors as err
from paycore import schema as sc
from paycore.flows.checkout import CartItem
from paycore.flows.defs import key
from paycore.service import PaymentService
from paycore.status import FlowStatus, RefundStatus
from paycore.tokens import SeededTokens
from paycore_adapters.memory import Wiring
from paycore_adapters.memory_store import MemoryStore


def restored(w: Wiring, backup: Any) -> PaymentService:
    """A service on the store restored from ``backup``, on the same provider account
    (a restarted process: its random source is not the first one's)."""
    store = MemoryStore.restore(*backup)
    return PaymentService(
        store, w.provider, w.clock, w.alerts, w.notifier, w.service.config, "worker-2",
        SeededTokens(7),
    )  # fmt: skip


def backup_of(w: Wiring) -> Any:
    return w.store.inner.export()  # type: ignore[attr-defined]


def test_a_refund_after_a_restore_is_made_under_a_key_of_its_own() -> None:
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 2)])
    w.service.confirm_payment(res.payment_id, "pm_card_visa")
    backup = backup_of(w)
    first = w.service.create_refund(res.payment_id, 500, idempotency_key="rma-1")
    svc = restored(w, backup)
    second = svc.create_refund(res.payment_id, 700, idempotency_key="rma-2")
    assert second.refund_id == first.refund_id  # ids repeat after the restore
    assert second.status == "succeeded"
    assert sorted(r.amount for r in w.provider.refunds()) == [500, 700]
    assert [r.status for r in svc.refunds_of(res.payment_id)] == [RefundStatus.SUCCEEDED]
    assert not [a for a in w.alerts.raised if a.kind == "refund_failed"]


def test_a_confirm_after_a_restore_charges_the_new_intent() -> None:
    w = make_shop()
    z = w.service.create_payment_intent("cs_test_0000000001", [CartItem("p_tee", 1)])
    w.service.confirm_payment(z.payment_id, "pm_card_visa")
    backup = backup_of(w)
    a = w.service.create_payment_intent("cs_test_0000000002", [CartItem("p_mug", 1)])
    assert w.service.confirm_payment(a.payment_id, "pm_card_visa").status == "succeeded"
    svc = restored(w, backup)
    b = svc.create_payment_intent("cs_test_0000000003", [CartItem("p_mug", 1)])
    assert b.payment_id == a.payment_id  # ids repeat after the restore
    assert svc.confirm_payment(b.payment_id, "pm_card_visa").status == "succeeded"
    assert [i.status for i in w.provider.intents()] == ["succeeded"] * 3


def mismatch_once(w: Wiring, call: str) -> list[str]:
    """The first ``call`` meets a key that answers for another request (what a key of
    an earlier store's flow does); the keys each ``call`` was sent under."""
    keys: list[str] = []

    def hook(name: str, phase: str, key: str | None) -> None:
        if name == call and phase == "before":
            keys.append(key or "")
            if len(keys) == 1:
                raise err.ProviderIdempotencyMismatch(
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with",
                    http_status=400,
                )

    w.provider.fault = hook
    return keys


def paid(w: Wiring) -> str:
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    return res.payment_id


def test_a_first_refund_call_whose_key_answers_for_another_request_is_made_again() -> None:
    w = make_shop()
    pid = paid(w)
    keys = mismatch_once(w, "create_refund")
    fid = w.service.start_refund(pid, None, None, "rma-1")
    flow = step_until_ended(w, fid)
    assert flow.status is FlowStatus.SUCCEEDED, flow.result
    assert len(keys) == 2 and keys[0] != keys[1]  # a new key generation
    (refund,) = w.service.refunds_of(pid)
    assert refund.status is RefundStatus.SUCCEEDED
    assert [r.amount for r in w.provider.refunds()] == [1250]
    assert not [a for a in w.alerts.raised if a.kind == "refund_failed"]


def step_until_ended(w: Wiring, fid: str) -> Any:
    """Step ``fid`` to its end, letting the clock pass each wait (landing windows too)."""
    for _ in range(50):
        flow = w.store.snapshot().get(sc.FLOWS, fid)
        if flow is not None and flow.status is not FlowStatus.ACTIVE:
            return flow
        w.clock.advance(w.service.config.create_landing_ms)
        w.service.engine.step(fid)
    raise AssertionError(f"flow {fid} did not end")


def test_a_confirm_whose_key_answers_for_another_request_is_sent_again() -> None:
    w = make_shop()
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    keys = mismatch_once(w, "confirm_intent")
    out = w.service.confirm_payment(res.payment_id, "pm_card_visa")
    assert out.status == "succeeded", out
    assert len(keys) == 2 and keys[0] != keys[1]
    assert [i.status for i in w.provider.intents()] == ["succeeded"]


def test_a_checkout_whose_key_answers_for_another_request_creates_its_intent() -> None:
    w = make_shop()
    keys = mismatch_once(w, "create_intent")
    fid = w.service.start_checkout(SESSION, [CartItem("p_mug", 1)])
    flow = step_until_ended(w, fid)
    assert flow.status is FlowStatus.SUCCEEDED, flow.result
    assert len(keys) == 2 and keys[0] != keys[1]
    assert len(w.provider.intents()) == 1


def test_two_flows_with_one_id_have_keys_of_their_own() -> None:
    """Each flow's keys carry a random part recorded with the flow."""
    w = make_shop()
    w.service.installation_id()  # in the backup: the restored store keeps this identity
    backup = backup_of(w)
    svc = restored(w, backup)
    fids = [s.start_checkout(SESSION, [CartItem("p_mug", 1)]) for s in (w.service, svc)]
    assert fids[0] == fids[1]
    first, second = (
        store.snapshot().get(sc.FLOWS, fids[0]) for store in (w.store, svc.engine.store)
    )
    assert first is not None and second is not None
    assert first.params["installation"] == second.params["installation"]
    assert key(first, "create") != key(second, "create")
