"""A webhook signing secret with whitespace or a control character (a trailing newline
from a mounted secret file) would make every delivery's signature differ, for good: the
intake refuses it where it is given, naming what is wrong, never the secret."""

from __future__ import annotations

import pytest
from tests.support import make_shop

from paycore.errors import InvalidInput
from paycore_adapters.signing import Secret
from paycore_adapters.stripe_webhooks import StripeWebhookIntake

GOOD = "whsec_GoodSecret123"


@pytest.mark.parametrize("bad", ["whsec_Secret42\n", " whsec_Secret42", "whsec_Sec ret42"])
@pytest.mark.parametrize("wrap", [str, Secret.of])
def test_a_secret_with_whitespace_is_refused_without_being_shown(bad: str, wrap: object) -> None:
    service = make_shop().service
    with pytest.raises(InvalidInput) as refused:
        StripeWebhookIntake(service, [GOOD, wrap(bad)])  # type: ignore[operator]
    text = f"{refused.value} {refused.value!r} {refused.value.fields}"
    assert "Secret42" not in text
    assert "whitespace" in str(refused.value)


def test_a_clean_secret_is_taken() -> None:
    intake = StripeWebhookIntake(make_shop().service, [GOOD, Secret.of("whsec_Other9")])
    assert "hidden" in repr(intake)
