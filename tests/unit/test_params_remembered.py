"""A flow's params record is kept when the flow is created (``create_flow``), so its
steps find it instead of building it from the stored dict again; what they find must be
exactly what ``params_of`` builds from that dict."""

from __future__ import annotations

import attrs
from tests.support import make_shop

from paycore.flows.engine import create_flow
from paycore.flows.params import CancelParams, ConfirmParams, params_of, to_plain
from paycore.flows.transactions import Transactions
from paycore.records import Flow


def _created(params: object, flow_id: str) -> Flow:
    w = make_shop()
    engine: Transactions = w.service.engine
    return engine.transact(lambda u: create_flow(u, flow_id, "cancel", "call", params))


class TestRemembered:
    def test_the_record_given_is_what_the_flow_steps_get(self) -> None:
        """With its installation set, the record itself is what ``params_of`` returns."""
        given = CancelParams("pay_1", "pi_1", "requested", "inst_given")
        flow = _created(given, "cancel:pay_1:1")
        assert flow.params == to_plain(given)
        assert params_of(CancelParams, flow) is given

    def test_what_is_remembered_equals_what_the_stored_dict_builds(self) -> None:
        """The remembered record and one built from a copy of the stored dict agree."""
        given = CancelParams("pay_2", "pi_2", "duplicate", "inst_given")
        flow = _created(given, "cancel:pay_2:1")
        rebuilt = params_of(CancelParams, attrs.evolve(flow, params=dict(flow.params)))
        assert rebuilt is not given
        assert rebuilt == params_of(CancelParams, flow)

    def test_a_record_whose_installation_was_filled_in_is_not_remembered(self) -> None:
        """``create_flow`` adds the installation to the dict, not to the record: the
        steps then get the record with it, built from the dict."""
        given = CancelParams("pay_3", "pi_3", "requested")
        flow = _created(given, "cancel:pay_3:1")
        got = params_of(CancelParams, flow)
        assert got is not given
        assert got.installation == flow.params["installation"] != ""
        assert got == attrs.evolve(given, installation=flow.params["installation"])


def test_a_confirmation_records_its_installation_in_its_params() -> None:
    """The confirm flow's params carry the installation as the checkout's do."""
    w = make_shop()
    svc = w.service
    res = svc.create_payment_intent("cs_remember_000001", [{"product_id": "p_mug", "quantity": 1}])
    fid = svc.start_confirm(res.payment_id, payment_method="pm_card_visa")
    assert fid is not None
    flow = svc.engine.load(fid)
    assert flow is not None and flow.params["installation"] == svc.installation_id()
    assert params_of(ConfirmParams, flow).installation == svc.installation_id()
