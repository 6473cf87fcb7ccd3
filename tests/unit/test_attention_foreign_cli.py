"""`paycore attention foreign --store URL [--limit N] [--json]` lists the intents the
one ``foreign_intent`` alert counts (the orphan cases with action ``foreign``), newest
found first: the alert names only the five created last. ``newest_created`` is in
milliseconds, as every time of the port's views."""

from __future__ import annotations

import json
from pathlib import Path

from tests.chaos.test_foreign_intents_counted import ALERT_ID, foreign, reconcile_until_quiet
from tests.support import cli, make_shop

from paycore import schema as s
from paycore_adapters.stores import OpenStore


def saved_shop_with_foreign(tmp_path: Path, n: int) -> tuple[Path, list[str]]:
    w = make_shop()
    ids = [foreign(w, i) for i in range(n)]
    w.provider.take_events()
    reconcile_until_quiet(w)
    alert = w.store.snapshot().get(s.ALERTS, ALERT_ID)
    assert alert is not None
    created = [int(c) for c in str(alert.fields["newest_created"]).split(",")]
    assert created == [w.provider.retrieve_intent(i).created for i in ids[::-1][:5]]
    path = tmp_path / "shop.json"
    OpenStore(w.store, path).save()
    return path, ids


def test_lists_every_foreign_intent_the_alert_counts(tmp_path: Path) -> None:
    path, ids = saved_shop_with_foreign(tmp_path, 8)
    code, out, _ = cli("attention", "foreign", "--store", str(path), "--json")
    assert code == 0
    doc = json.loads(out)
    assert sorted(d["intent_id"] for d in doc) == sorted(ids)
    assert {(d["status"], d["amount"]) for d in doc} == {("succeeded", 999)}
    code, out, _ = cli("attention", "--store", str(path), "foreign", "--limit", "3")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 4 and all(line.startswith("pi_") for line in lines[:3])
    assert lines[3].startswith("3 of 8 foreign intents")
