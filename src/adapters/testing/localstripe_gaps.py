"""The provider contract's cases that localstripe 1.15.10 cannot pass, each with why.

The contract runs the Stripe adapter without Connect (``connect=False``): localstripe has
no connected accounts and refuses ``transfer_data``, so the destination charges of the
default mode make no intent there at all. The connected-account cases are expected
failures "no Connect in this mode" (:func:`~.expected_failures.without_connect`); the
others are listed here with the first thing that stops them, then what would stop them
next. Found by running the contract (``tests/localstripe/test_contract.py``) and by the
probes of ``tests/localstripe/test_localstripe_facts.py``, which pin down each reason. The
marks are strict: a case that starts to pass (a newer localstripe, a changed adapter)
fails until its line here is removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from .expected_failures import mark_expected_failures, without_connect

C = TypeVar("C", bound=type)

#: What stops most cases: the adapter confirms with the port's payment method, and
#: localstripe's confirm does not take one (the method must be set at create or by an
#: update, which the port does not do).
CONFIRM = "a confirm naming its payment_method answers 500 'Not implemented'"
CARDS = "it knows no pm_card_chargeDeclined, pm_card_threeDSecure2Required or pm_*_de (404)"
KEYS = "it ignores Idempotency-Key: each request runs again"
LISTS = "it takes no created filter on the intents' list (400 'Unexpected created')"
ORDER = "it lists intents oldest first and takes any limit"
AMOUNTS = "it takes any positive amount in any currency (no minimum, no maximum)"
MESSAGES = "its errors say 'Bad request', without the intent's status"
DRIVER = "the driver has no such hook on it"
EVENTS = (
    "it sends payment_intent.succeeded and .payment_failed only, and the driver cannot read them"
)
SEARCH = "it has no search (404)"
PROCESSING = "a SEPA debit shows processing for half a second, settled by its IBAN, not driven"
NO_PENDING = "each refund succeeds when made: none is pending or fails"
REASON = "it takes no refund reason (400)"
OVER_REFUND = "refunds may add up to more than the charge"


def _why(*parts: str) -> str:
    return "; ".join(parts)


GAPS: Mapping[str, str] = {
    # provider_contract.py
    "test_a_card_that_succeeds_receives_the_amount": _why(
        CONFIRM, "its intents have no amount_received"
    ),
    "test_a_decline_raises_with_the_intent_after_it": _why(
        CONFIRM, CARDS, "its decline carries no payment_intent"
    ),
    "test_a_declined_method_is_detached": _why(
        CONFIRM, "a decline leaves the payment method on the intent"
    ),
    "test_three_d_secure_requires_action_then_succeeds": _why(
        CONFIRM, CARDS, "its next_action is use_stripe_sdk, with no redirect URL"
    ),
    "test_a_processing_payment_waits_for_the_network": _why(CONFIRM, CARDS, PROCESSING),
    "test_a_succeeded_intent_cannot_be_confirmed": _why(CONFIRM, MESSAGES),
    "test_cancel_from_an_open_status": _why(CONFIRM, CARDS),
    "test_no_cancel_once_processing_succeeded_or_canceled": _why(MESSAGES, CONFIRM),
    "test_capture_needs_requires_capture": _why(CONFIRM, MESSAGES),
    "test_a_replay_returns_the_first_result": _why(CONFIRM, KEYS),
    "test_a_saved_decline_replays_as_the_same_error": _why(CONFIRM, KEYS),
    "test_other_parameters_with_a_key_are_a_mismatch": _why(KEYS),
    "test_a_refund_replayed_under_its_key_returns_the_first_refund": _why(CONFIRM, KEYS),
    "test_a_refund_key_reused_with_another_amount_is_a_mismatch": _why(CONFIRM, KEYS),
    "test_a_cancel_replayed_under_its_key_returns_the_first_result": _why(KEYS),
    "test_validation_errors_leave_the_key_free": _why(CONFIRM, REASON),
    "test_refunds_add_up_to_what_was_received": _why(CONFIRM, OVER_REFUND),
    "test_pending_refunds_hold_their_amount": _why(NO_PENDING),
    "test_only_a_successful_charge_is_refunded": "it says 'Cannot refund a failed payment.'",
    "test_search_matches_metadata_exactly_newest_first": _why(SEARCH),
    # provider_amounts.py
    "test_a_charge_below_the_currency_minimum_is_too_small": _why(AMOUNTS),
    "test_zero_decimal_currencies_count_whole_units": _why(AMOUNTS),
    "test_metadata_limits": "it enforces no metadata limit",
    "test_refund_metadata_keeps_the_same_limits": _why(CONFIRM, "it enforces no metadata limit"),
    "test_a_key_of_255_characters_is_taken_and_256_refused": _why(KEYS),
    "test_a_key_is_kept_for_at_least_24_hours": _why(DRIVER, KEYS),
    "test_a_payment_sends_its_intent_and_charge_events": _why(EVENTS),
    "test_a_refund_sends_its_refund_and_charge_events": _why(EVENTS),
    # provider_concurrency.py: a request cannot be held in flight or failed on purpose
    "test_a_key_in_flight_refuses_its_key_saves_nothing_then_replays_the_first": _why(KEYS, DRIVER),
    "test_another_request_on_an_intent_in_flight_times_out_on_its_lock": _why(
        "it has no lock_timeout", DRIVER
    ),
    "test_a_refund_of_an_intent_in_flight_times_out_and_the_first_refund_lands_once": _why(
        CONFIRM, "it has no lock_timeout", DRIVER
    ),
    "test_a_saved_500_is_replayed_on_its_key_while_a_new_key_works": _why(KEYS, DRIVER),
    "test_a_saved_500_may_hide_what_its_request_made": _why(KEYS, DRIVER),
    # provider_flows.py
    "test_a_cancel_sends_payment_intent_canceled": _why(EVENTS),
    "test_three_d_secure_sends_requires_action_then_the_outcome": _why(EVENTS),
    "test_a_processing_payment_sends_processing_then_the_outcome": _why(EVENTS),
    "test_a_partial_refund_then_the_exact_remainder_then_nothing": _why(CONFIRM, OVER_REFUND),
    "test_each_of_stripes_refund_reasons_is_taken": _why(CONFIRM, REASON),
    "test_a_refund_can_fail_after_it_succeeded": _why(CONFIRM, NO_PENDING),
    # provider_listing.py
    "test_intents_list_newest_first": _why(LISTS, ORDER),
    "test_the_cursor_walks_back_in_time_over_pages": _why(LISTS, ORDER),
    "test_limit_defaults_to_ten_and_is_at_most_one_hundred": _why(LISTS, ORDER),
    "test_created_window_bounds_are_whole_seconds": _why(LISTS),
    "test_intents_of_one_second_are_each_listed_once": _why(LISTS, ORDER),
    "test_a_cursor_naming_no_intent_is_not_found": _why(
        LISTS, "an unknown starting_after reads from the top"
    ),
    "test_more_than_ten_refunds_take_two_pages": _why(CONFIRM),
    # provider_disputes.py
    **dict.fromkeys(
        (
            "test_a_disputed_payment_s_dispute_is_listed_as_paycore_reads_it",
            "test_disputes_list_newest_first_a_page_at_a_time",
            "test_a_dispute_before_the_window_is_not_listed",
            "test_a_cursor_naming_no_dispute_is_not_found",
        ),
        _why("it has no disputes: GET /v1/disputes answers 404"),
    ),
    # provider_payments.py
    "test_a_declines_error_holds_no_client_secret": _why(CONFIRM, CARDS),
    "test_a_failed_challenge_is_payment_intent_authentication_failure": _why(CONFIRM, CARDS),
    "test_too_many_declines_cancel_the_intent_automatically": _why(
        DRIVER, "a declined intent can never be confirmed again"
    ),
    "test_confirm_without_return_url_is_refused_when_redirects_are_allowed": _why(
        "it takes automatic_payment_methods only as allow_redirects=never (400 'Unexpected "
        "automatic_payment_methods')",
        "it takes no return_url (400)",
    ),
    "test_confirm_with_an_unknown_payment_method_is_refused_naming_it": _why(CONFIRM),
    "test_confirm_without_return_url_is_taken_when_redirects_are_never": _why(CONFIRM),
    "test_a_sepa_debit_processes_then_succeeds": _why(CONFIRM, CARDS, PROCESSING),
    "test_a_failed_sepa_debit_asks_for_a_new_payment_method": _why(CONFIRM, CARDS, PROCESSING),
    "test_a_refund_before_the_debit_settled_waits_on_the_charge": _why(CONFIRM, PROCESSING),
    "test_a_refund_of_a_debit_that_failed_holds_nothing": _why(CONFIRM, PROCESSING),
    "test_the_provider_may_cancel_a_processing_debit": _why(CONFIRM, PROCESSING, DRIVER),
    # provider_search.py
    "test_a_new_intent_is_listed_at_once_and_searchable_once_search_caught_up": _why(LISTS, SEARCH),
    "test_search_does_not_show_a_new_intent_until_its_lag_passed": _why(SEARCH),
    "test_the_lag_counts_from_each_intents_own_creation": _why(DRIVER, SEARCH),
}


def with_gaps(cls: C) -> C:
    """Marks each case of :data:`GAPS` on the contract subclass ``cls`` as a strict
    expected failure (its reason prefixed ``localstripe:``), and the connected-account
    cases as not applicable without Connect (a class decorator). Every name must be a
    case of ``cls``."""
    reasons = {name: f"localstripe: {why}" for name, why in GAPS.items()}
    return without_connect(mark_expected_failures(cls, reasons))
