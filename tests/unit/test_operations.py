"""The operator's API and commands: list, show, revive and abandon flows; the attention list."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import SESSION, cli, flow_of, made_here, make_shop, with_config

from paycore import schema as s
from paycore.errors import (
    AlertNotFound,
    FlowNotAbandonable,
    FlowNotFound,
    FlowNotRevivable,
    FlowPending,
    InvalidInput,
    ProviderError,
    ProviderUnavailable,
)
from paycore.flows.checkout import CartItem
from paycore.flows.engine import Engine
from paycore.flows.params import REFUND_LANDING_MS
from paycore.money import Money
from paycore.operations import Operator
from paycore.ports import CreateIntent
from paycore.service import FLOW_DEFS
from paycore.status import FlowStatus, PaymentStatus, RefundStatus, ReservationStatus
from paycore_adapters.memory import ManualClock, RecordingAlerts, Wiring
from paycore_adapters.stores import (
    OpenStore,
    StoreFileMissing,
    StoreFileUnreadable,
    StoreUrlInvalid,
    open_store,
)


def down(w: Wiring) -> None:
    def fault(name: str, phase: str, key: str | None) -> None:
        raise ProviderUnavailable(f"{name}: 503 (outage)")

    w.provider.fault = fault


def dead_refund(w: Wiring) -> str:
    """A paid order whose refund died while the provider was down; returns the flow id."""
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    w.service.confirm_payment(res.payment_id, payment_method="pm_card_visa")
    with_config(w, retry_horizon_ms=0)
    down(w)
    with pytest.raises(FlowPending):
        w.service.create_refund(res.payment_id, idempotency_key="rma-1")
    (refund,) = w.service.refunds_of(res.payment_id)
    fid = f"refund:{refund.id}"
    assert flow_of(w, fid).status is FlowStatus.DEAD
    return fid


def dead_checkout(w: Wiring) -> str:
    """A checkout whose create was answered by nothing, dead with its intent made."""
    with_config(w, retry_horizon_ms=0)
    made: list[bool] = []

    def fault(name: str, phase: str, key: str | None) -> None:
        if name == "create_intent" and phase == "after":
            made.append(True)
        if made:
            raise ProviderUnavailable(f"{name}: 503 (outage)")

    w.provider.fault = fault
    with pytest.raises((FlowPending, ProviderError)):
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
    fid = f"checkout:{SESSION}"
    assert flow_of(w, fid).status is FlowStatus.DEAD
    return fid


class TestFlows:
    def test_lists_flows_by_state_oldest_first(self) -> None:
        """flows(state) lists only that state; flows() lists every flow."""
        w = make_shop()
        fid = dead_refund(w)
        assert [f.id for f in w.service.flows("dead")] == [fid]
        assert [f.id for f in w.service.flows(FlowStatus.DEAD)] == [fid]
        every = w.service.flows()
        assert fid in [f.id for f in every] and len(every) == 3
        assert [f.created_at for f in every] == sorted(f.created_at for f in every)

    def test_unknown_state_and_unknown_flow_are_typed_errors(self) -> None:
        """A bad state is InvalidInput, a missing flow FlowNotFound (a LookupError)."""
        w = make_shop()
        with pytest.raises(InvalidInput):
            w.service.flows("stuck")
        with pytest.raises(InvalidInput):
            w.service.flows(["dead"])  # type: ignore[arg-type]
        with pytest.raises(FlowNotFound):
            w.service.flow("refund:nope")
        with pytest.raises(LookupError):
            w.service.flow({"id": 1})  # type: ignore[arg-type]


class TestRevive:
    def test_revived_refund_lands_with_its_own_key_and_closes_its_alert(self) -> None:
        """A refund dead from an outage is revived by the operator and made once."""
        w = make_shop()
        fid = dead_refund(w)
        assert [(i.kind, i.subject) for i in w.service.attention()] == [("flow_dead_lettered", fid)]
        w.provider.fault = None
        w.clock.advance(REFUND_LANDING_MS)  # revived later: no request of its key can land
        w.service.revive_flow(fid)  # it asks first, finds nothing, backs off, calls again
        w.clock.advance(60_000)
        w.service.run_recovery()
        flow = flow_of(w, fid)
        assert flow.status is FlowStatus.SUCCEEDED
        refund = w.store.snapshot().get(s.REFUNDS, flow.params["refund_id"])
        assert refund is not None and refund.status is RefundStatus.SUCCEEDED
        assert [r.amount for r in w.provider.refunds()] == [1250]
        assert w.service.attention() == []
        alert = w.store.snapshot().get(s.ALERTS, f"flow_dead_lettered:{fid}")
        assert alert is not None and alert.resolution == "revived by operator"

    def test_a_flow_revived_from_a_host_whose_clock_is_ahead_is_due_at_once(self) -> None:
        """The operator's host may read a later time than the instances (the command line
        runs on the wall clock): the flow it revives is due for the instances' next
        recovery round all the same, not once their clock reaches the operator's."""
        w = make_shop()
        fid = dead_refund(w)
        w.provider.fault = None
        w.clock.advance(REFUND_LANDING_MS)
        ahead = Engine(
            w.store,
            w.provider,
            ManualClock(w.clock.now() + 3 * 3_600_000),  # three hours ahead
            RecordingAlerts(),
            w.service.config,
            FLOW_DEFS,
            "operator-host",
        )
        Operator(ahead, "the command line").revive(fid)
        for _ in range(3):  # the instances' rounds, a minute apart
            w.clock.advance(60_000)
            w.service.run_recovery()
        assert flow_of(w, fid).status is FlowStatus.SUCCEEDED

    def test_only_a_dead_flow_can_be_revived(self) -> None:
        """Reviving a finished flow is refused and changes nothing."""
        w = make_shop()
        res = w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        before = w.store.fingerprint()
        with pytest.raises(FlowNotRevivable):
            w.service.revive_flow(f"checkout:{SESSION}")
        assert w.store.fingerprint() == before
        assert w.service.payment(res.payment_id).status is PaymentStatus.OPEN


class TestAbandon:
    def test_abandoned_checkout_cancels_its_intent_before_releasing_stock(self) -> None:
        """Abandon runs the checkout's compensation: ask, cancel what exists, release."""
        w = make_shop()
        fid = dead_checkout(w)
        w.provider.fault = None
        flow = w.service.abandon_flow(fid)
        assert flow.status is FlowStatus.FAILED
        assert [v.status for v in w.provider.intents()] == ["canceled"]
        snap = w.store.snapshot()
        assert all(r.status is not ReservationStatus.HELD for r in snap.rows(s.RESERVATIONS))
        assert w.service.attention() == [] or all(
            i.kind == "flow_gave_up" for i in w.service.attention()
        )

    def test_abandoned_checkout_keeps_its_stock_while_the_provider_cannot_answer(self) -> None:
        """With the provider still down the compensation waits: nothing is released blind."""
        w = make_shop()
        fid = dead_checkout(w)
        with_config(w, retry_horizon_ms=3_600_000)
        w.service.abandon_flow(fid)
        flow = flow_of(w, fid)
        assert flow.status is FlowStatus.ACTIVE and flow.data["compensating"] is True
        snap = w.store.snapshot()
        assert [r.status for r in snap.rows(s.RESERVATIONS)] == [ReservationStatus.HELD]

    def test_a_refund_cannot_be_abandoned(self) -> None:
        """A refund has no compensation: abandoning it is refused, nothing changes."""
        w = make_shop()
        fid = dead_refund(w)
        before = w.store.fingerprint()
        with pytest.raises(FlowNotAbandonable):
            w.service.abandon_flow(fid)
        assert w.store.fingerprint() == before

    def test_a_finished_flow_cannot_be_abandoned(self) -> None:
        """Only a dead or retrying flow can be abandoned."""
        w = make_shop()
        w.service.create_payment_intent(SESSION, [CartItem("p_mug", 1)])
        with pytest.raises(FlowNotAbandonable):
            w.service.abandon_flow(f"checkout:{SESSION}")


class TestAttention:
    def test_dead_flow_whose_alert_was_closed_is_still_listed(self) -> None:
        """Closing the alert does not hide the dead flow: it stays on the list."""
        w = make_shop()
        fid = dead_refund(w)
        closed = w.service.resolve_alert(f"flow_dead_lettered:{fid}", "looking into it")
        assert not closed.open and closed.resolution == "looking into it"
        assert [(i.kind, i.subject, i.alert_id) for i in w.service.attention()] == [
            ("flow_dead", fid, None)
        ]

    def test_waiting_orphan_stays_listed_after_its_alert_was_closed(self) -> None:
        """An orphan charge the bank is still processing stays on the list until settled."""
        w = make_shop()
        view = w.provider.create_intent(
            CreateIntent(
                Money(1250, "EUR"), "acct_1", made_here(w, checkout_session_id="cs_elsewhere")
            ),
            idempotency_key="elsewhere-1",
        )
        w.provider.customer_confirm(view.id, "pm_successDelayed_de")
        w.service.run_jobs()
        assert w.provider.retrieve_intent(view.id).status == "processing"
        assert ("orphan_intent", view.id) in [(i.kind, i.subject) for i in w.service.attention()]
        w.service.resolve_alert(f"orphan_intent:{view.id}", "bank debit, waiting")
        assert [(i.kind, i.subject) for i in w.service.attention()] == [("orphan_waiting", view.id)]

    def test_resolving_an_unknown_alert_or_without_a_note_is_refused(self) -> None:
        """AlertNotFound for no such open alert, InvalidInput for an empty note."""
        w = make_shop()
        fid = dead_refund(w)
        with pytest.raises(AlertNotFound):
            w.service.resolve_alert("flow_dead_lettered:nope", "done")
        with pytest.raises(InvalidInput):
            w.service.resolve_alert(f"flow_dead_lettered:{fid}", "  ")


# --- the store opener and the commands ------------------------------------------------


class TestStoreOpener:
    def test_a_saved_store_opens_with_the_same_content(self, tmp_path: Path) -> None:
        """Saving and opening a JSON store keeps every row and sequence."""
        w = make_shop()
        dead_refund(w)
        path = tmp_path / "shop.json"
        OpenStore(w.store, path).save()
        again = open_store(f"json:{path}")
        assert again.store.fingerprint() == w.store.fingerprint()
        assert open_store(str(path)).store.fingerprint() == w.store.fingerprint()

    def test_bad_urls_and_files_are_typed_errors(self, tmp_path: Path) -> None:
        """Unknown scheme, missing file, garbage file: each its own StoreError."""
        with pytest.raises(StoreUrlInvalid):
            open_store("redis://db/shop")
        with pytest.raises(StoreUrlInvalid):
            open_store("")
        with pytest.raises(StoreFileMissing):
            open_store(str(tmp_path / "none.json"))
        bad = tmp_path / "bad.json"
        bad.write_text('{"format": "paycore-store/1", "tables": {"flows": [{"x": 1}]}}')
        with pytest.raises(StoreFileUnreadable):
            open_store(str(bad))
        bad.write_bytes(b"\xff\xfe")
        with pytest.raises(StoreFileUnreadable):
            open_store(str(bad))
        assert open_store("memory").store.snapshot().rows(s.FLOWS) == []


class TestCommands:
    def test_attention_and_flows_commands_read_a_store_file(self, tmp_path: Path) -> None:
        """attention and flows list/show show the dead refund; revive writes it back."""
        w = make_shop()
        fid = dead_refund(w)
        path = tmp_path / "shop.json"
        OpenStore(w.store, path).save()
        code, out, _ = cli("attention", "--store", str(path))
        assert code == 0 and "flow_dead_lettered" in out and fid in out
        code, out, _ = cli("flows", "list", "--state", "dead", "--store", f"json:{path}")
        assert code == 0 and fid in out and "1 flows" in out
        code, out, _ = cli("flows", "show", fid, "--store", str(path))
        assert code == 0 and "dead" in out and "resolve" in out
        code, out, _ = cli("flows", "revive", fid, "--store", str(path))
        assert code == 0 and "revived" in out
        revived = open_store(str(path)).store.snapshot().get(s.FLOWS, fid)
        assert revived is not None and revived.status is FlowStatus.ACTIVE
        code, out, _ = cli("attention", "--store", str(path), "--json")
        assert code == 0 and out.strip() == "[]"

    def test_refused_actions_and_bad_stores_exit_2_with_the_reason(self, tmp_path: Path) -> None:
        """A refused action or an unusable store prints its code and leaves the file as is."""
        w = make_shop()
        fid = dead_refund(w)
        path = tmp_path / "shop.json"
        OpenStore(w.store, path).save()
        before = path.read_bytes()
        code, _, err = cli("flows", "abandon", fid, "--store", str(path))
        assert code == 2 and "flow_not_abandonable" in err
        assert path.read_bytes() == before
        code, _, err = cli("flows", "show", "nope", "--store", str(path))
        assert code == 2 and "flow_not_found" in err
        code, _, err = cli("attention", "--store", str(tmp_path / "missing.json"))
        assert code == 2 and "store_file_missing" in err

    def test_demo_leaves_a_store_the_commands_read(self, tmp_path: Path) -> None:
        """paycore demo --store PATH saves the day; flows list reads it."""
        path = tmp_path / "day.json"
        code, out, _ = cli("demo", "--store", str(path))
        assert code == 0 and path.exists()
        code, out, _ = cli("flows", "list", "--store", str(path))
        assert code == 0 and "checkout:" in out
