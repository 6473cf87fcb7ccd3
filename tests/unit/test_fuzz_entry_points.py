"""Every public entry point, fed anything: a PaycoreError subclass or success, never a raw
``TypeError``/``ValueError`` from inside, and a store left exactly as it was on an error.

The entry points are the service's methods, webhook intake, signature verification and
parsing, and the command line's arguments. Values are drawn from a mix of plausible
ones (so calls also succeed) and junk: other types, containers, odd Unicode (superscript
and Arabic-Indic digits, lone surrogates, NUL), huge and negative numbers.

Bad input never reaches a store: no call ends in a ``StoreError``. The calls that touch
the store run on memory (the most examples), and on SQLite and PostgreSQL, where each
example runs the same call on an in-memory twin too and both must give the same answer
(the same error code, or success of the same kind): a store that treats some input
differently shows here. The PostgreSQL cases need a server and fail without one.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support import deliver_webhooks

from paycore.config import Config
from paycore.errors import PaycoreError, ProviderError, StoreError, WebhookSignatureInvalid
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.outcomes import WebhookOutcome
from paycore.ports import ProviderEvent
from paycore_adapters import cli, signing
from paycore_adapters.harness.stores import WiringFactory, worlds_on
from paycore_adapters.memory import Wiring, in_memory

SECRET = "whsec_fuzz"
NOW_S = 1_767_225_600
#: The fuzzing tests keep no state on their class's instance, so a runner that runs the
#: suite twice in one process (the mutation runner: its timing run, then its clean run)
#: may call them through a second instance without changing what they draw.
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.differing_executors,
    ],
)
#: On SQLite and PostgreSQL (a store per example, and an in-memory twin): a few per call,
#: as each costs about half a second of a worker on PostgreSQL.
FUZZ_STORES = settings(FUZZ, max_examples=4)

odd_text = st.sampled_from(
    ["", " ", "\u00b2", "\u0661\u0662", "\ud800", "x\n", "\x00", "é" * 3, "a" * 300]
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    odd_text,
    st.binary(max_size=8),
)
junk = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=5), scalars, max_size=3),
    st.tuples(scalars),
)


def mixed(*good: Any) -> st.SearchStrategy[Any]:
    """Mostly plausible values, often junk."""
    return st.one_of(st.sampled_from(good), junk)


money = st.one_of(
    st.builds(
        Money,
        st.integers(min_value=0, max_value=10**6),
        st.sampled_from(["EUR", "USD", "JPY"]),
    ),
    junk,
)


def shop(worlds: WiringFactory = in_memory) -> tuple[Wiring, str]:
    """The small shop with one paid payment, on a store of ``worlds``; returns it and the
    payment id."""
    w = worlds(Config())
    w.provider.set_account("acct_1")
    w.service.add_seller("s1", "Mug Shop", "acct_1")
    w.service.add_product("p_mug", "s1", "SKU-MUG", "Mug", Money(1250, "EUR"))
    w.service.add_product("p_tee", "s1", "SKU-TEE", "Tee", Money(2000, "EUR"))
    w.service.restock("s1", "SKU-MUG", 5)
    w.service.restock("s1", "SKU-TEE", 5)
    r = w.service.create_payment_intent("cs_test_fuzz000001", [CartItem("p_mug", 1)])
    w.service.confirm_payment(r.payment_id, "pm_card_visa")
    deliver_webhooks(w)
    return w, r.payment_id


def typed_or_success(w: Wiring, call: Callable[[], Any]) -> Any:
    """Run ``call``: success, or a PaycoreError that is not the store's (bad input must
    never reach a store); on an error that is not the provider's (recorded by design,
    like a declined card) the store must be unchanged."""
    before = w.store.fingerprint()
    try:
        return call()
    except PaycoreError as exc:
        assert not isinstance(exc, StoreError), f"the input reached the store: {exc!r}"
        if not isinstance(exc, ProviderError):
            assert w.store.fingerprint() == before, f"{exc!r} left a change in the store"
        return exc


def answer(out: Any) -> tuple[str, str]:
    """What a call's result says, to compare between stores: its error code, an outcome
    (a str), or the kind of what it returned."""
    if isinstance(out, PaycoreError):
        return "error", out.code
    if isinstance(out, str):
        return "value", str(out)
    return "returned", type(out).__name__


def same_on_memory(worlds: WiringFactory, call: Callable[[Wiring], Any]) -> None:
    """``call`` on a shop of ``worlds`` and on an in-memory twin: the same answer."""
    w, _ = shop(worlds)
    twin, _ = shop()
    got = typed_or_success(w, lambda: call(w))
    expected = typed_or_success(twin, lambda: call(twin))
    assert answer(got) == answer(expected), f"{got!r} where memory gives {expected!r}"
    bad = w.violations("safety")
    assert not bad, "\n".join(map(str, bad))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sql_worlds(request: pytest.FixtureRequest) -> Iterator[WiringFactory]:
    """A new store per example, on SQLite or PostgreSQL (the test server, which must be
    there: its fixture fails the test without one, never skips it)."""
    server = request.getfixturevalue("postgres_server") if request.param == "postgresql" else None
    with worlds_on(request.param, server) as worlds:
        yield worlds


def call(name: str, *args: Any, **kwargs: Any) -> Callable[[Wiring], Any]:
    """The service's method ``name`` with these (already drawn) arguments, to run on any
    wiring, as often as asked."""
    return lambda w: getattr(w.service, name)(*args, **kwargs)


PAY = "pay_000001"
#: Each draws its arguments when called with the test's data, and gives the call to run.
SERVICE_CALLS: dict[str, Callable[[st.DataObject], Callable[[Wiring], Any]]] = {
    "add_seller": lambda d: call(
        "add_seller",
        d.draw(mixed("s2", "s1")),
        d.draw(mixed("Shop")),
        d.draw(mixed("acct_2")),
        charges_enabled=d.draw(mixed(True, False)),
    ),
    "set_charges_enabled": lambda d: call(
        "set_charges_enabled", d.draw(mixed("s1")), d.draw(mixed(True, False))
    ),
    "add_product": lambda d: call(
        "add_product",
        d.draw(mixed("p_new", "p_mug")),
        d.draw(mixed("s1")),
        d.draw(mixed("SKU-NEW")),
        d.draw(mixed("New")),
        d.draw(money),
    ),
    "delete_product": lambda d: call("delete_product", d.draw(mixed("p_tee"))),
    "set_price": lambda d: call("set_price", d.draw(mixed("p_tee")), d.draw(money)),
    "restock": lambda d: call(
        "restock", d.draw(mixed("s1", "s2")), d.draw(mixed("SKU-MUG")), d.draw(mixed(3))
    ),
    "adjust_stock": lambda d: call(
        "adjust_stock",
        d.draw(mixed("s1", "s2")),
        d.draw(mixed("SKU-MUG")),
        d.draw(mixed(-1, 1)),
        d.draw(mixed("count")),
    ),
    "create_payment_intent": lambda d: call(
        "create_payment_intent",
        d.draw(mixed("cs_test_fuzz000002", "cs_test_fuzz000001")),
        d.draw(
            st.one_of(
                st.just([CartItem("p_mug", 1)]),
                st.lists(
                    st.one_of(
                        st.builds(CartItem, mixed("p_mug", "p_tee"), mixed(1, 2)),
                        st.fixed_dictionaries({"product_id": mixed("p_mug"), "quantity": mixed(1)}),
                        junk,
                    ),
                    max_size=3,
                ),
                junk,
            )
        ),
    ),
    "confirm_payment": lambda d: call(
        "confirm_payment",
        d.draw(mixed(PAY)),
        d.draw(mixed(None, "pm_card_visa")),
        d.draw(mixed(None)),
    ),
    "cancel_payment": lambda d: call("cancel_payment", d.draw(mixed(PAY))),
    "create_refund": lambda d: call(
        "create_refund",
        d.draw(mixed(PAY, "pay_nope")),
        d.draw(mixed(None, 1, 500, 2000, -5)),
        d.draw(mixed(None, "duplicate", "requested_by_customer", "", "other")),
        d.draw(mixed("rk-1", "external:re_1", "rk-1\n")),
        restock=d.draw(mixed(False, True)),
    ),
    "payment": lambda d: call("payment", d.draw(mixed(PAY))),
    "order": lambda d: call("order", d.draw(mixed("ord_000001"))),
    "refunds_of": lambda d: call("refunds_of", d.draw(mixed(PAY))),
    "flows": lambda d: call("flows", d.draw(mixed(None, "active", "dead"))),
    "flow": lambda d: call("flow", d.draw(mixed("checkout:cs_test_fuzz000001"))),
    "revive_flow": lambda d: call("revive_flow", d.draw(mixed("checkout:cs_test_fuzz000001"))),
    "abandon_flow": lambda d: call("abandon_flow", d.draw(mixed("checkout:cs_test_fuzz000001"))),
    "resolve_alert": lambda d: call(
        "resolve_alert", d.draw(mixed("flow_dead_lettered:f1")), d.draw(mixed("fixed"))
    ),
}


#: The operations started to run elsewhere, and run_flow: the same calls as above, so a
#: few examples each (the full draws above already cover the arguments they share).
STARTED_CALLS: dict[str, Callable[[st.DataObject], Callable[[Wiring], Any]]] = {
    "start_checkout": lambda d: call(
        "start_checkout",
        d.draw(mixed("cs_test_fuzz000002", "cs_test_fuzz000001")),
        d.draw(st.one_of(st.just([CartItem("p_mug", 1)]), junk)),
    ),
    "start_confirm": lambda d: call(
        "start_confirm", d.draw(mixed(PAY)), d.draw(mixed(None, "pm_card_visa"))
    ),
    "start_cancel": lambda d: call("start_cancel", d.draw(mixed(PAY))),
    "start_refund": lambda d: call(
        "start_refund",
        d.draw(mixed(PAY, "pay_nope")),
        d.draw(mixed(None, 500, -5)),
        d.draw(mixed(None, "duplicate")),
        d.draw(mixed("rk-1", "external:re_1")),
    ),
    "start_webhook": lambda d: call("start_webhook", d.draw(st.one_of(events, junk))),
    "run_flow": lambda d: call("run_flow", d.draw(mixed("checkout:cs_test_fuzz000001"))),
}
FUZZ_STARTED = settings(FUZZ, max_examples=20)
FUZZ_STARTED_STORES = settings(FUZZ, max_examples=2)


class TestServiceMethods:
    @pytest.mark.parametrize("method", sorted(SERVICE_CALLS))
    @FUZZ
    @given(data=st.data())
    def test_typed_error_or_success(self, method: str, data: st.DataObject) -> None:
        """Any arguments: a PaycoreError with the store unchanged, or success."""
        w, _ = shop()
        typed_or_success(w, lambda: SERVICE_CALLS[method](data)(w))
        bad = w.violations("safety")
        assert not bad, "\n".join(map(str, bad))

    @pytest.mark.parametrize("method", sorted(SERVICE_CALLS))
    @FUZZ_STORES
    @given(data=st.data())
    def test_every_store_answers_as_memory_does(
        self, sql_worlds: WiringFactory, method: str, data: st.DataObject
    ) -> None:
        """Any arguments, on SQLite and PostgreSQL: what the in-memory store answers."""
        same_on_memory(sql_worlds, SERVICE_CALLS[method](data))


class TestStartedOperations:
    @pytest.mark.parametrize("method", sorted(STARTED_CALLS))
    @FUZZ_STARTED
    @given(data=st.data())
    def test_typed_error_or_success(self, method: str, data: st.DataObject) -> None:
        """Any arguments: a PaycoreError with the store unchanged, or success."""
        w, _ = shop()
        typed_or_success(w, lambda: STARTED_CALLS[method](data)(w))
        bad = w.violations("safety")
        assert not bad, "\n".join(map(str, bad))

    @pytest.mark.parametrize("method", sorted(STARTED_CALLS))
    @FUZZ_STARTED_STORES
    @given(data=st.data())
    def test_every_store_answers_as_memory_does(
        self, sql_worlds: WiringFactory, method: str, data: st.DataObject
    ) -> None:
        """Any arguments, on SQLite and PostgreSQL: what the in-memory store answers."""
        same_on_memory(sql_worlds, STARTED_CALLS[method](data))


# A list or dict where an id or a reason belongs: each once for certain, beside the fuzzing.
CONTAINER_ARGUMENTS = [
    pytest.param(
        lambda w: w.service.set_charges_enabled(["s1"], True),
        id="seller-id-list",
    ),
    pytest.param(
        lambda w: w.service.create_refund(PAY, None, ["duplicate"], "rk-x"),
        id="refund-reason-list",
    ),
    pytest.param(
        lambda w: w.service.create_refund(PAY, None, {"a": 1}, "rk-x"), id="refund-reason-dict"
    ),
    pytest.param(lambda w: w.service.order(["ord_000001"]), id="order-id-list"),
    pytest.param(lambda w: w.service.refunds_of(["pay_000001"]), id="payment-id-list"),
    pytest.param(lambda w: w.service.payment(["pay_000001"]), id="payment-lookup-list"),
    pytest.param(lambda w: w.service.cancel_payment({"id": 1}), id="cancel-payment-id-dict"),
    pytest.param(
        lambda w: w.service.create_refund(["pay_000001"], None, None, "rk-x"),
        id="refund-payment-id-list",
    ),
]


class TestContainerArguments:
    @pytest.mark.parametrize("bad", CONTAINER_ARGUMENTS)
    def test_container_argument_is_a_typed_error(self, bad: Callable[[Wiring], Any]) -> None:
        """A list or dict where an id or a reason belongs: a typed error, store unchanged."""
        w, _ = shop()
        assert isinstance(typed_or_success(w, lambda: bad(w)), PaycoreError)

    @pytest.mark.parametrize("bad", CONTAINER_ARGUMENTS)
    def test_every_store_answers_as_memory_does(
        self, sql_worlds: WiringFactory, bad: Callable[[Wiring], Any]
    ) -> None:
        """The same typed error on SQLite and PostgreSQL."""
        same_on_memory(sql_worlds, bad)


events = st.builds(
    ProviderEvent,
    mixed("evt_fuzz_1", "evt_000002"),
    mixed("payment_intent.succeeded", "refund.updated"),
    mixed(0, NOW_S),
    mixed("payment_intent", "refund", "charge"),
    mixed("pi_000001", "re_000001", "pi_nope", ""),
    mixed(None, "succeeded"),
)


def signed(doc: Any, shape: bool) -> Callable[[Wiring], Any]:
    """Intake of ``doc`` as a correctly signed body (``shape``: close to an event, with
    fuzzed leaves)."""
    if shape:
        doc = {"id": doc, "type": "refund.updated", "created": 1, "data": {"object": doc}}
    try:
        payload = json.dumps(doc).encode()
    except (TypeError, ValueError):
        payload = b"{"
    header = signing.sign(payload, SECRET, NOW_S)
    return lambda w: w.service.handle_webhook(signing.receive(payload, header, SECRET, NOW_S))


documents = st.recursive(
    st.one_of(scalars.filter(lambda v: not isinstance(v, bytes | float)), st.just({})),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner)
    ),
    max_leaves=8,
)


class TestWebhookIntake:
    @FUZZ
    @given(event=st.one_of(events, junk))
    def test_any_event(self, event: Any) -> None:
        """An event with any fields, or something else: an outcome or a typed error."""
        w, _ = shop()
        out = typed_or_success(w, lambda: w.service.handle_webhook(event))
        assert isinstance(out, WebhookOutcome | PaycoreError)

    @FUZZ
    @given(doc=documents, shape=st.booleans())
    def test_signed_body_of_any_shape(self, doc: Any, shape: bool) -> None:
        """A correctly signed body of any JSON shape: refused with a typed error or handled."""
        w, _ = shop()
        out = typed_or_success(w, lambda: signed(doc, shape)(w))
        assert isinstance(out, WebhookOutcome | PaycoreError)

    @FUZZ_STORES
    @given(event=st.one_of(events, junk))
    def test_every_store_answers_any_event_as_memory_does(
        self, sql_worlds: WiringFactory, event: Any
    ) -> None:
        """Any event, on SQLite and PostgreSQL: what the in-memory store answers."""
        same_on_memory(sql_worlds, lambda w: w.service.handle_webhook(event))

    @FUZZ_STORES
    @given(doc=documents, shape=st.booleans())
    def test_every_store_answers_any_body_as_memory_does(
        self, sql_worlds: WiringFactory, doc: Any, shape: bool
    ) -> None:
        """Any signed body, on SQLite and PostgreSQL: what the in-memory store answers."""
        same_on_memory(sql_worlds, signed(doc, shape))


class TestSignatureVerification:
    @FUZZ
    @given(
        payload=st.one_of(st.binary(max_size=40), junk),
        header=st.one_of(
            st.text(max_size=80),
            st.builds(lambda t, v: f"t={t},v1={v}", st.text(max_size=6), st.text(max_size=70)),
            st.builds(lambda t: f"t={t},v1=" + "0" * 64, odd_text),
            junk,
        ),
        now_s=st.integers(0, 2 * NOW_S),
    )
    def test_only_typed_refusals(self, payload: Any, header: Any, now_s: int) -> None:
        """verify and receive raise WebhookSignatureInvalid or accept; nothing else."""
        for fn in (signing.verify, signing.receive):
            with contextlib.suppress(WebhookSignatureInvalid):
                fn(payload, header, SECRET, now_s)

    @FUZZ
    @given(payload=st.binary(max_size=60))
    def test_parse_any_bytes(self, payload: bytes) -> None:
        with contextlib.suppress(WebhookSignatureInvalid):
            assert isinstance(signing.from_payload(payload), ProviderEvent)


class _Ran(Exception):
    """A command's arguments parsed and it would have run."""


def _stop(*_: Any, **__: Any) -> Any:
    raise _Ran


COMMANDS = ["demo", "invariants", "bugs", "chaos", "explore"]
FLAGS = ["--json", "--seed", "--examples", "--steps", "--bug", "--profile", "--flows", "--faults"]


class TestCommandLine:
    @FUZZ
    @given(
        argv=st.lists(
            st.one_of(st.sampled_from(COMMANDS + FLAGS + ["S1", "3", "-1", "x"]), st.text()),
            max_size=5,
        )
    )
    def test_any_arguments(self, argv: list[str]) -> None:
        """Parsed and run, or refused by argparse with a usage message (exit status 2)."""
        out = io.StringIO()
        with (
            mock.patch("paycore_adapters.harness.runner.run_chaos", _stop),
            mock.patch("paycore_adapters.harness.explore.explore", _stop),
            mock.patch.object(cli, "shop_day", _stop),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(out),
        ):
            try:
                status = cli.main(argv)
            except _Ran:
                return
            except SystemExit as exc:
                assert exc.code in (0, 2), exc.code
                return
        assert status in (0, 1, 2)
