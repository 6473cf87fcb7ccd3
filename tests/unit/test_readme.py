"""The README's embedding example runs as written."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import paycore

README = Path(__file__).resolve().parents[2] / "README.md"


def test_embedding_example_runs() -> None:
    """The python block in 'Embedding the core' executes and its assertion holds."""
    text = README.read_text()
    section = text.split("## Embedding the core", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None, "README lost its embedding example"
    lines = code.group(1).strip().splitlines()
    assert len(lines) <= 20, f"the example should stay within 20 lines, has {len(lines)}"
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), str(README), "exec"), namespace)
    assert namespace["refund"].status == "succeeded"  # type: ignore[attr-defined]


def test_public_api_all_is_exact() -> None:
    """paycore.__all__ names exactly the public names, each importable."""
    for name in paycore.__all__:
        assert hasattr(paycore, name), name
    public = {
        n
        for n, v in vars(paycore).items()
        if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"
    }
    assert public == set(paycore.__all__) - {"__version__"}, public ^ set(paycore.__all__)


def test_stripe_wiring_example_builds_the_service(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second python block (the service on Stripe) builds a service with the Stripe
    adapter behind the breaker; it sends nothing until the service is used."""
    from paycore.service import PaymentService
    from paycore_adapters.breaker import BreakerProvider
    from paycore_adapters.memory import RecordingNotifier
    from paycore_adapters.stripe_provider import StripeProvider

    section = README.read_text().split("## Embedding the core", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) >= 2, "README lost its Stripe wiring example"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_readme")
    namespace: dict[str, object] = {"my_notifier": RecordingNotifier()}
    exec(compile(blocks[1], str(README), "exec"), namespace)
    svc = namespace["svc"]
    assert isinstance(svc, PaymentService)
    guarded = svc.engine.provider
    assert isinstance(guarded, BreakerProvider) and isinstance(guarded.inner, StripeProvider)
    assert (tmp_path / "payments.db").is_file()
