"""A key the provider refuses (401: invalid or revoked) on the reconciler's disputes
step fails the run as a refused key, as the other steps do; only a 403 (a restricted key
without Disputes: Read) raises ``provider_permission`` naming the permission."""

from __future__ import annotations

from collections.abc import Callable

from tests.chaos.test_dispute_reconciliation import paid, w  # noqa: F401
from tests.support import faultable

from paycore import schema as s
from paycore.errors import ProviderConfigurationError
from paycore_adapters.memory import Wiring


def refusing(status: int) -> Callable[[str, str, str | None], None]:
    def refuse(call: str, phase: str, key: str | None) -> None:
        if call == "list_disputes" and phase == "before":
            raise ProviderConfigurationError(
                "Invalid API Key provided" if status == 401 else "no permission",
                error_code=None,
                http_status=status,
            )

    return refuse


def test_a_refused_key_fails_the_run_and_names_no_permission(w: Wiring) -> None:  # noqa: F811
    faultable(w)
    paid(w)
    w.provider.fault = refusing(401)  # type: ignore[attr-defined]
    report = w.service.run_jobs()
    assert "reconciler" in report.failed
    assert w.store.snapshot().get(s.ALERTS, "provider_permission:disputes") is None


def test_a_missing_permission_is_named(w: Wiring) -> None:  # noqa: F811
    faultable(w)
    paid(w)
    w.provider.fault = refusing(403)  # type: ignore[attr-defined]
    report = w.service.run_jobs()
    assert "reconciler" not in report.failed
    row = w.store.snapshot().get(s.ALERTS, "provider_permission:disputes")
    assert row is not None and row.open and "Disputes: Read" in row.message
