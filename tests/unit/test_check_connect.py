"""`paycore check --fake-books`: the demo's shop charges through Connect, so a charge in
its provider's books that names no destination pays no seller, and the check says so."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from paycore_adapters.cli import main
from paycore_adapters.demo import shop_day
from paycore_adapters.demo_days import books_path


def test_a_demo_charge_that_dropped_its_destination_is_reported(tmp_path: Path) -> None:
    """The first intent of a demo day loses its destination in the books (Stripe would
    show ``transfer_data`` null): the check names it and exits 1."""
    store = tmp_path / "shop.db"
    assert shop_day(io.StringIO(), f"sqlite:{store}") == 0
    books = books_path(store)
    doc = json.loads(books.read_text(encoding="utf-8"))
    first = doc["intents"][0]
    seller, intent_id = first["account"], first["view"]["$intent"]["id"]
    first["account"], first["view"]["$intent"]["account"] = "", None
    books.write_text(json.dumps(doc), encoding="utf-8")
    out = io.StringIO()
    with redirect_stdout(out), redirect_stderr(io.StringIO()):
        code = main(["check", "--store", f"sqlite:{store}", "--fake-books", str(books)])
    assert code == 1
    assert out.getvalue().splitlines()[0] == (
        f"VIOLATED [charge-pays-the-seller] {intent_id}: pays no account (no destination), "
        f"not the seller's {seller!r}"
    )
