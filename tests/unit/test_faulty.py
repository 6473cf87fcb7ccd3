"""The fault wrappers (paycore_adapters.harness.faulty) around the fake and the memory store."""

from __future__ import annotations

import pytest

from paycore.errors import (
    CommitUnknown,
    IntegrityError,
    OperationalError,
    ProviderCardDeclined,
    ProviderError,
    ProviderInvalidRequest,
    ProviderRateLimited,
    ProviderUnavailable,
)
from paycore.listing import all_refunds
from paycore.money import Money
from paycore.ports import CreateIntent, IntentView, PaymentProvider, Store
from paycore.schema import ORDERS
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.harness.faults import FaultKind, FaultPlan
from paycore_adapters.harness.faulty import FaultyProvider, FaultyStore
from paycore_adapters.memory import ManualClock
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.testing.store_contract import order


@pytest.fixture
def fp() -> FakeProvider:
    provider = FakeProvider(ManualClock())
    provider.set_account("acct_1")
    return provider


@pytest.fixture
def faulty(fp: FakeProvider) -> FaultyProvider:
    return FaultyProvider(fp)


def req(amount: int = 1000, order: str = "ord_1") -> CreateIntent:
    return CreateIntent(Money(amount, "EUR"), "acct_1", {"order_id": order})


def confirm(p: PaymentProvider, intent_id: str, method: str, key: str) -> IntentView:
    return p.confirm_intent(intent_id, payment_method=method, return_url=None, idempotency_key=key)


class TestFaultyProvider:
    def test_satisfies_the_port_and_forwards_the_rest(self, fp: FakeProvider) -> None:
        """The wrapper is a PaymentProvider; the fake's own helpers and flags reach the fake."""
        wrapped: PaymentProvider = FaultyProvider(fp)
        faulty = FaultyProvider(fp)
        assert wrapped.retrieve_account("acct_1").charges_enabled
        faulty.refunds_settle_immediately = False
        assert fp.refunds_settle_immediately is False
        pi = faulty.create_intent(req(), idempotency_key="c")
        assert faulty.intents() == fp.intents() == [pi]

    def test_fault_before_means_nothing_happened(
        self, fp: FakeProvider, faulty: FaultyProvider
    ) -> None:
        """A fault raised before the call leaves no intent and no saved key behind."""
        seen: list[tuple[str, str, str | None]] = []

        def fault(name: str, phase: str, key: str | None) -> None:
            seen.append((name, phase, key))
            if phase == "before" and len(seen) == 1:
                raise ProviderRateLimited("slow down")

        faulty.fault = fault
        with pytest.raises(ProviderRateLimited):
            faulty.create_intent(req(1000), idempotency_key="k")
        assert fp.intents() == [] and fp.all_events == []
        assert faulty.create_intent(req(2000), idempotency_key="k").amount == 2000
        assert seen == [
            ("create_intent", "before", "k"),
            ("create_intent", "before", "k"),
            ("create_intent", "after", "k"),
        ]
        assert (faulty.calls["create_intent"], fp.calls["create_intent"]) == (2, 1)

    def test_fault_after_applies_effect_and_retry_replays(
        self, fp: FakeProvider, faulty: FaultyProvider
    ) -> None:
        """A fault raised after the call keeps the effect; a retry with the key replays it."""
        pi = faulty.create_intent(req(), idempotency_key="c")
        lose = {"confirm_intent"}

        def fault(name: str, phase: str, key: str | None) -> None:
            if phase == "after" and name in lose:
                lose.discard(name)
                raise ProviderUnavailable("connection reset")

        faulty.fault = fault
        with pytest.raises(ProviderUnavailable):
            confirm(faulty, pi.id, "pm_card_visa", "k")
        current = fp.retrieve_intent(pi.id)
        assert current.status == "succeeded"
        assert confirm(faulty, pi.id, "pm_card_visa", "k") == current
        assert [e.type for e in fp.all_events].count("payment_intent.succeeded") == 1

    def test_fault_after_a_decline_keeps_the_saved_decline(self, faulty: FaultyProvider) -> None:
        """A lost decline response still leaves the decline saved for the retry."""
        pi = faulty.create_intent(req(), idempotency_key="c")

        def fault(name: str, phase: str, key: str | None) -> None:
            if phase == "after" and name == "confirm_intent" and faulty.calls[name] == 1:
                raise ProviderUnavailable("lost")

        faulty.fault = fault
        with pytest.raises(ProviderUnavailable):
            confirm(faulty, pi.id, "pm_card_chargeDeclined", "k")
        with pytest.raises(ProviderCardDeclined):
            confirm(faulty, pi.id, "pm_card_chargeDeclined", "k")

    def test_fault_hook_sees_reads_without_key(self, faulty: FaultyProvider) -> None:
        """Read calls go through the hook with key None and are counted."""
        seen: list[tuple[str, str, str | None]] = []
        faulty.fault = lambda name, phase, key: seen.append((name, phase, key))
        pi = faulty.create_intent(req(), idempotency_key="c")
        confirm(faulty, pi.id, "pm_card_visa", "k")
        faulty.retrieve_intent(pi.id)
        faulty.search_intents(metadata_key="order_id", value="ord_1")
        faulty.list_intents(created_gte_s=0, limit=1)
        faulty.list_refunds(pi.id)
        faulty.retrieve_account("acct_1")
        faulty.create_refund(pi.id, amount=1, reason=None, metadata={}, idempotency_key="r")
        faulty.retrieve_refund("re_000001")
        reads = [s for s in seen if s[2] is None]
        names = [
            "retrieve_intent",
            "search_intents",
            "list_intents",
            "list_refunds",
            "retrieve_account",
        ]
        names.append("retrieve_refund")
        assert reads == [(n, p, None) for n in names for p in ("before", "after")]
        assert faulty.calls["retrieve_intent"] == 1 and faulty.calls["confirm_intent"] == 1

        def refuse(name: str, phase: str, key: str | None) -> None:
            raise ProviderUnavailable("down")

        faulty.fault = refuse
        with pytest.raises(ProviderError):
            faulty.retrieve_intent(pi.id)

    def test_every_mutating_call_is_hooked_with_its_key(self, faulty: FaultyProvider) -> None:
        """Cancel and capture pass their key to the hook, as create and confirm do."""
        seen: list[tuple[str, str, str | None]] = []
        faulty.fault = lambda name, phase, key: seen.append((name, phase, key))
        pi = faulty.create_intent(req(), idempotency_key="c")
        faulty.cancel_intent(pi.id, idempotency_key="x")
        with pytest.raises(ProviderInvalidRequest):
            faulty.capture_intent(pi.id, idempotency_key="y")
        assert [s for s in seen if s[0] != "create_intent"] == [
            ("cancel_intent", "before", "x"),
            ("cancel_intent", "after", "x"),
            ("capture_intent", "before", "y"),
            ("capture_intent", "after", "y"),
        ]

    def test_a_plan_drives_the_wrapper(self, fp: FakeProvider) -> None:
        """Built with a FaultPlan, the wrapper fires its armed faults and counts them."""
        plan = FaultPlan()
        faulty = FaultyProvider(fp, plan)
        plan.arm(FaultKind.RESPONSE_LOST, "create_intent")
        with pytest.raises(ProviderUnavailable):
            faulty.create_intent(req(), idempotency_key="c")
        assert plan.fired[FaultKind.RESPONSE_LOST] == 1
        assert [i.id for i in fp.intents()] == [faulty.create_intent(req(), idempotency_key="c").id]


class Faults:
    def __init__(self, before: Exception | None = None, after: Exception | None = None) -> None:
        self.before, self.after = before, after
        self.asked = 0

    def before_commit(self) -> None:
        self.asked += 1
        if self.before is not None:
            raise self.before

    def after_commit(self) -> None:
        if self.after is not None:
            raise self.after


class TestFaultyStore:
    def test_satisfies_the_port_and_forwards_the_rest(self) -> None:
        """The wrapper is a Store; the memory store's own counters reach through."""
        inner = MemoryStore()
        wrapped: Store = FaultyStore(inner)
        with wrapped.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        assert FaultyStore(inner).stats == inner.stats
        assert wrapped.snapshot().get(ORDERS, "o1") == order("o1")

    def test_read_only_transactions_are_never_failed(self) -> None:
        """A transaction that wrote nothing has nothing to lose: the plan is not asked."""
        faults = Faults(before=OperationalError("down"))
        store = FaultyStore(MemoryStore(), faults)
        with store.transaction() as tx:
            assert tx.get(ORDERS, "o1") is None
            list(tx.scan(ORDERS))
        assert faults.asked == 0
        with pytest.raises(OperationalError), store.transaction() as tx:
            tx.next_seq("audit")
        assert faults.asked == 1

    def test_an_integrity_error_is_not_turned_into_a_fault(self) -> None:
        """A transaction an integrity error rolled back raises that error; no fault is used."""
        inner = MemoryStore()
        with inner.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        faults = Faults(before=OperationalError("down"))
        store = FaultyStore(inner, faults)
        with pytest.raises(IntegrityError), store.transaction() as tx:
            tx.insert(ORDERS, order("o2"))
            with pytest.raises(IntegrityError):
                tx.insert(ORDERS, order("o1"))
        assert faults.asked == 0
        assert inner.stats["rollbacks"] == 1

    def test_commit_unknown_is_raised_in_the_committing_thread_only(self) -> None:
        """A plan's lost commit answer belongs to the transaction that drew it."""
        plan = FaultPlan()
        store = FaultyStore(MemoryStore(), plan)
        plan.arm(FaultKind.COMMIT_UNKNOWN)
        with pytest.raises(CommitUnknown), store.transaction() as tx:
            tx.insert(ORDERS, order("o1"))
        with store.transaction() as tx:
            tx.insert(ORDERS, order("o2"))
        assert plan.fired[FaultKind.COMMIT_UNKNOWN] == 1
        assert store.snapshot().get(ORDERS, "o1") == order("o1")


class TestPageCap:
    def test_a_capped_page_is_shorter_and_a_walk_still_reads_every_object(
        self, fp: FakeProvider
    ) -> None:
        """With ``page_cap`` 1 each list call gives one object and says ``has_more``;
        reading every page still finds all refunds, each once."""
        faulty = FaultyProvider(fp, page_cap=1)
        pi = faulty.create_intent(req(), idempotency_key="c")
        confirm(faulty, pi.id, "pm_card_visa", "k")
        made = [
            faulty.create_refund(
                pi.id, amount=1, reason=None, metadata={}, idempotency_key=f"r{n}"
            ).id
            for n in range(3)
        ]
        page = faulty.list_refunds(pi.id, limit=100)
        assert ([r.id for r in page.data], page.has_more) == ([made[-1]], True)
        assert [r.id for r in all_refunds(faulty, pi.id)] == made[::-1]
        assert faulty.calls["list_refunds"] == 4
        assert len(faulty.list_intents(created_gte_s=0, limit=10).data) == 1
