"""Where the money goes: every charge this installation makes pays the payment's seller.

The mutation a review showed: checkout's create request naming the wrong account (none:
the platform keeps the money; another seller's) took money no seller was paid, and no
invariant saw it, since the provider's intent views named no account. The views now
carry it, and ``charge-pays-the-seller`` checks it: these tests patch the create request
and see the harness catch it, then see it quiet without the patch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import attrs
import pytest
from tests.support import SESSION, make_shop

from paycore.flows import checkout
from paycore.flows.checkout import CartItem
from paycore.money import Money
from paycore.ports import CreateIntent
from paycore_adapters.harness.runner import ChaosReport, run_chaos
from paycore_adapters.memory import Wiring

INVARIANT = "charge-pays-the-seller"
#: The second seller's account to the first's (the harness's marketplace and the shop
#: below: s1 on acct_1, s2 on acct_2). Only that way: acct_1 is in every example, while
#: acct_2 is only where a second seller is, and a create to an account the provider does
#: not have is refused.
OTHER_SELLER = {"acct_2": "acct_1"}


def _nobody(account: str) -> str:
    return ""


def _other_seller(account: str) -> str:
    return OTHER_SELLER.get(account, account)


MUTATIONS: Mapping[str, Callable[[str], str]] = {
    "no account": _nobody,
    "another seller's": _other_seller,
}


@pytest.fixture
def mutate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Callable[[str], str]], None]]:
    """Patch checkout's create request so it names ``wrong(seller's account)``."""

    def apply(wrong: Callable[[str], str]) -> None:
        def create(*args: Any, **kwargs: Any) -> CreateIntent:
            req = CreateIntent(*args, **kwargs)
            return attrs.evolve(req, account=wrong(req.account))

        monkeypatch.setattr(checkout, "CreateIntent", create)

    yield apply


def two_sellers() -> Wiring:
    """The conftest shop (s1 on acct_1) and a second seller s2 on acct_2, with a mug."""
    w = make_shop()
    w.provider.set_account("acct_2")
    w.service.add_seller("s2", "Other Mugs", "acct_2")
    w.service.add_product("p_mug_b", "s2", "SKU-MUG", "Mug (s2)", Money(1100, "EUR"))
    w.service.restock("s2", "SKU-MUG", 1)
    return w


def charge_violations(w: Wiring) -> list[str]:
    return [str(v) for v in w.violations("safety") if v.invariant == INVARIANT]


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_a_charge_to_the_wrong_account_is_caught(
    name: str, mutate: Callable[[Callable[[str], str]], None]
) -> None:
    """s2's mug paid through an intent that pays nobody, or s1: the invariant names it."""
    w = two_sellers()
    mutate(MUTATIONS[name])
    res = w.service.create_payment_intent(SESSION, [CartItem("p_mug_b", 1)])
    assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    (intent,) = w.provider.intents()
    wrong = MUTATIONS[name]("acct_2")
    assert intent.account == wrong
    assert charge_violations(w) == [
        f"[{INVARIANT}] {intent.id}: pays account {wrong!r}, not the seller's 'acct_2'"
    ]


def test_the_same_charge_unpatched_is_quiet() -> None:
    """Both sellers' charges pay their own accounts: nothing to report."""
    w = two_sellers()
    for session, product in ((SESSION, "p_mug"), ("cs_test_0000000002", "p_mug_b")):
        res = w.service.create_payment_intent(session, [CartItem(product, 1)])
        assert w.service.confirm_payment(res.payment_id, "pm_card_visa").status == "succeeded"
    assert sorted(v.account or "" for v in w.provider.intents()) == ["acct_1", "acct_2"]
    assert w.violations() == []


#: Short chaos runs, on the first seeds until one finds something: a seller's charge
#: pays the wrong account only in examples with the marketplace's second seller.
SEEDS, EXAMPLES = 6, 12


def hunt() -> ChaosReport:
    for seed in range(SEEDS):
        report = run_chaos(seed=seed, examples=EXAMPLES, shrink=False)
        if report.violations or report.error:
            break
    return report


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUTATIONS))
def test_the_harness_catches_the_mutation_and_not_without(
    name: str, mutate: Callable[[Callable[[str], str]], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the harness: with the create request patched, a chaos run reports the
    invariant (the first counterexample, unshrunk); the same run unpatched holds every
    invariant."""
    mutate(MUTATIONS[name])
    report = hunt()
    assert report.error is None, report.error
    assert INVARIANT in {v.invariant for v in report.violations}, report.violations
    monkeypatch.undo()
    assert checkout.CreateIntent is CreateIntent
    clean = run_chaos(seed=report.seed, examples=EXAMPLES)
    assert clean.ok, clean.violations
