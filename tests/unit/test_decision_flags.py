"""A decision argument is a real bool: ``resolve_alert(force=...)`` records money as
settled outside paycore, ``start_checkout(chain=...)`` decides whether a refused create
holds stock, ``create_refund(restock=...)`` puts goods back on sale. A value an
integration passes from a form or JSON (``"false"``, ``"no"``, ``[0]``, ``1``) is refused
with InvalidInput naming the argument, and nothing is read or written."""

from __future__ import annotations

import pytest
from tests.support import SESSION, make_shop
from tests.unit.test_operator_guards import refund_reversed

from paycore import schema as s
from paycore.catalog import flag
from paycore.errors import InvalidInput
from paycore.flows.checkout import CartItem

NOT_A_DECISION = ["false", "no", "", [0], [], 1, 0, 0.0, None]


@pytest.mark.parametrize("value", NOT_A_DECISION, ids=repr)
def test_flag_refuses_anything_but_a_bool(value: object) -> None:
    with pytest.raises(InvalidInput, match="force must be True or False") as caught:
        flag("force", value)
    assert caught.value.fields["field"] == "force"


def test_flag_keeps_a_bool() -> None:
    assert flag("force", True) is True and flag("force", False) is False


@pytest.mark.parametrize("force", ["false", "no", [0], 1], ids=repr)
def test_force_that_is_not_a_bool_closes_nothing(force: object) -> None:
    """The alert is the only record that a customer is still owed money: a truthy
    string or list must not close it as settled outside paycore."""
    w = make_shop()
    _, alert_id = refund_reversed(w)
    before = w.store.fingerprint()
    with pytest.raises(InvalidInput, match="force must be True or False"):
        w.service.resolve_alert(alert_id, "per ticket", force=force)  # type: ignore[arg-type]
    assert w.store.fingerprint() == before
    alert = w.store.snapshot().get(s.ALERTS, alert_id)
    assert alert is not None and alert.open and "settled_outside" not in alert.fields


def test_force_true_still_closes_it() -> None:
    w = make_shop()
    _, alert_id = refund_reversed(w)
    closed = w.service.resolve_alert(alert_id, "paid back by bank transfer", force=True)
    assert not closed.open and closed.fields["settled_outside"] is True


@pytest.mark.parametrize("chain", ["no", "false", [0], 1], ids=repr)
def test_chain_that_is_not_a_bool_starts_nothing(chain: object) -> None:
    w = make_shop()
    before = w.store.fingerprint()
    with pytest.raises(InvalidInput, match="chain must be True or False"):
        w.service.start_checkout(SESSION, [CartItem("p_mug", 1)], chain=chain)  # type: ignore[arg-type]
    assert w.store.fingerprint() == before


def test_restock_and_charges_enabled_use_the_same_rule() -> None:
    w = make_shop()
    before = w.store.fingerprint()
    with pytest.raises(InvalidInput, match="restock must be True or False") as caught:
        w.service.create_refund("pay_000001", idempotency_key="k", restock="yes")  # type: ignore[arg-type]
    assert caught.value.fields["field"] == "restock"
    with pytest.raises(InvalidInput, match="charges_enabled must be True or False") as caught:
        w.service.set_charges_enabled("s1", "false")  # type: ignore[arg-type]
    assert caught.value.fields["field"] == "charges_enabled"
    assert w.store.fingerprint() == before
