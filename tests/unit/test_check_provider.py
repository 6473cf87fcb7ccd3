"""`paycore check --provider stripe`: the provider's side of the books read from Stripe's
API (here the emulator, serving a demo day's books over HTTP on 127.0.0.1), a window of
intents and their refunds, checked against the store with the safety invariants."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support import cli

from paycore import invariants
from paycore_adapters import cli_check
from paycore_adapters.demo import shop_day
from paycore_adapters.demo_days import books_path
from paycore_adapters.emulator import Emulator
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.fake_state import loads
from paycore_adapters.memory import EPOCH_MS, ManualClock
from paycore_adapters.provider_books import WINDOWED
from paycore_adapters.stripe_provider import KEY_ENV

KEY = "sk_test_check_provider_0123456789"
#: Back to before the demo's clock starts: the whole demo day is in the window.
SINCE_EPOCH_HOURS = str((int(time.time() * 1000) - EPOCH_MS) // 3_600_000 + 48)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    assert shop_day(io.StringIO(), f"sqlite:{path}") == 0
    return path


def served(books: Path) -> Emulator:
    clock = ManualClock()
    fake = FakeProvider(clock)
    loads(books.read_text(encoding="utf-8"), fake, clock)
    return Emulator(fake)


@pytest.fixture
def stripe_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv(KEY_ENV, KEY)
    yield KEY


def check_over_http(shop: Path, books: Path, *more: str) -> tuple[int, str, str]:
    with served(books) as emu:
        return cli(
            "check",
            "--store",
            f"sqlite:{shop}",
            "--provider",
            "stripe",
            "--stripe-api-base",
            emu.url,
            "--window-hours",
            SINCE_EPOCH_HOURS,
            *more,
        )


def test_every_safety_invariant_runs_against_the_providers_books(
    shop: Path, stripe_key: str
) -> None:
    code, out, err = check_over_http(shop, books_path(shop), "--json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    safety = {i.id for i in invariants.INVARIANTS if i.kind == "safety"}
    assert (set(doc["checked"]), doc["not_checked_without_provider"]) == (safety, [])
    assert doc["violations"] == []


def test_a_charge_in_the_providers_books_that_pays_no_seller_is_reported(
    shop: Path, stripe_key: str
) -> None:
    """The first intent of the demo day lost its destination at the provider (Stripe
    shows ``transfer_data`` null): read from the API, the check names it and exits 1."""
    books = books_path(shop)
    doc = json.loads(books.read_text(encoding="utf-8"))
    first = doc["intents"][0]
    intent_id = first["view"]["$intent"]["id"]
    first["account"], first["view"]["$intent"]["account"] = "", None
    books.write_text(json.dumps(doc), encoding="utf-8")
    code, out, _ = check_over_http(shop, books)
    assert code == 1
    assert out.splitlines()[0].startswith(f"VIOLATED [charge-pays-the-seller] {intent_id}:")


def test_a_window_that_holds_none_of_the_intents_finds_nothing_to_report(
    shop: Path, stripe_key: str
) -> None:
    """The demo's intents were made months ago on its clock: a one-hour window reads
    none, and checks nothing against them rather than report them missing."""
    books = books_path(shop)
    doc = json.loads(books.read_text(encoding="utf-8"))
    doc["intents"][0]["account"] = doc["intents"][0]["view"]["$intent"]["account"] = ""
    books.write_text(json.dumps(doc), encoding="utf-8")
    with served(books) as emu:
        code, out, _ = cli(
            "check",
            *("--store", f"sqlite:{shop}", "--provider", "stripe"),
            *("--stripe-api-base", emu.url, "--window-hours", "1"),
        )
    assert code == 0
    assert "0 violations" in out


def test_over_a_window_the_convergence_invariants_that_need_the_books_are_not_run(
    shop: Path, stripe_key: str
) -> None:
    code, out, _ = check_over_http(shop, books_path(shop), "--all", "--json")
    doc = json.loads(out)
    unchecked = set(doc["not_checked_without_provider"])
    assert code == 0
    assert "statuses-agree" in unchecked
    assert {i.kind for i in invariants.INVARIANTS if i.id in unchecked} - WINDOWED == {
        "convergence"
    }
    assert "no-oversell" in doc["checked"]


def test_without_a_key_it_says_which_setting_is_missing(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    code, out, err = cli("check", "--store", f"sqlite:{shop}", "--provider", "stripe")
    assert code == 2
    assert err.startswith("error: ") and KEY_ENV in err
    assert "Traceback" not in err and out == ""


def test_the_key_is_never_printed(shop: Path, stripe_key: str) -> None:
    code, out, err = check_over_http(shop, books_path(shop))
    assert code == 0
    assert stripe_key not in out + err
    with served(books_path(shop)) as emu:
        url = emu.url
    # The emulator is gone: the provider cannot be read, and the error names no key.
    code, out, err = cli(
        "check",
        *("--store", f"sqlite:{shop}", "--provider", "stripe", "--stripe-api-base", url),
    )
    assert code == 2
    assert err.startswith("error: provider_")
    assert stripe_key not in out + err


def test_a_window_of_no_hours_is_refused(shop: Path, stripe_key: str) -> None:
    code, _, err = cli(
        "check", "--store", f"sqlite:{shop}", "--provider", "stripe", "--window-hours", "0"
    )
    assert code == 2
    assert "--window-hours" in err


def test_books_from_the_fake_and_from_stripe_cannot_both_be_given(shop: Path) -> None:
    with pytest.raises(SystemExit):
        cli("check", "--store", f"sqlite:{shop}", "--provider", "stripe", "--fake-books", "x")


def test_fake_books_that_cannot_be_read_are_an_error_not_a_pass(shop: Path, tmp_path: Path) -> None:
    for books in (tmp_path / "missing.json", shop):  # no file; a file that is not books
        code, out, err = cli("check", "--store", f"sqlite:{shop}", "--fake-books", str(books))
        assert (code, out) == (2, "")
        assert err.startswith("error: file_unreadable: cannot read the fake provider's books: ")


class _Later:
    """``time`` for the check, whose clock jumps three days after its first reading: the
    books read again to confirm a violation are read that much later."""

    def __init__(self) -> None:
        self.readings = 0

    def time(self) -> float:
        self.readings += 1
        return time.time() + (0 if self.readings == 1 else 72 * 3600)

    def perf_counter(self) -> float:
        return time.perf_counter()


def test_the_books_read_again_start_where_the_first_read_started(
    shop: Path, stripe_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first intent of the window lost its destination; the confirmation reads the
    books three days later. A window that slid with the clock would no longer hold that
    intent and drop the violation: the window starts where it started."""
    books = books_path(shop)
    doc = json.loads(books.read_text(encoding="utf-8"))
    first = doc["intents"][0]
    first["account"], first["view"]["$intent"]["account"] = "", None
    books.write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setattr(cli_check, "time", _Later())
    code, out, _ = check_over_http(shop, books)
    assert code == 1
    assert out.startswith("VIOLATED [charge-pays-the-seller]")
