"""`paycore attention resolve KIND SUBJECT --store URL [--note TEXT]` closes an alert."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support import cli, make_shop
from tests.unit.test_operations import dead_refund

from paycore import schema as s
from paycore_adapters.stores import OpenStore, open_store


def saved_dead_refund(tmp_path: Path) -> tuple[Path, str]:
    """A store file holding a dead refund flow and its open flow_dead_lettered alert."""
    w = make_shop()
    fid = dead_refund(w)
    path = tmp_path / "shop.json"
    OpenStore(w.store, path).save()
    return path, fid


class TestAttentionResolve:
    def test_resolves_the_alert_with_the_note_and_saves_the_store(self, tmp_path: Path) -> None:
        """The alert is closed with the note as its resolution, and the file keeps it."""
        path, fid = saved_dead_refund(tmp_path)
        code, out, _ = cli(
            "attention",
            "resolve",
            "flow_dead_lettered",
            fid,
            "--store",
            str(path),
            "--note",
            "provider back, reviving tomorrow",
        )
        assert code == 0
        assert out == (
            f"alert flow_dead_lettered:{fid} resolved: provider back, reviving tomorrow\n"
        )
        alert = open_store(str(path)).store.snapshot().get(s.ALERTS, f"flow_dead_lettered:{fid}")
        assert alert is not None
        assert (alert.open, alert.resolution) == (False, "provider back, reviving tomorrow")
        # the dead flow itself still needs a human: it stays listed, now without an alert
        code, out, _ = cli("attention", "--store", str(path), "--json")
        assert code == 0
        assert [(i["kind"], i["subject"]) for i in json.loads(out)] == [("flow_dead", fid)]

    def test_without_a_note_says_where_it_was_resolved(self, tmp_path: Path) -> None:
        """--note is optional; --json prints the closed alert."""
        path, fid = saved_dead_refund(tmp_path)
        code, out, _ = cli(
            "attention", "resolve", "flow_dead_lettered", fid, "--store", str(path), "--json"
        )
        assert code == 0
        doc = json.loads(out)
        assert (doc["alert_id"], doc["open"], doc["resolution"]) == (
            f"flow_dead_lettered:{fid}",
            False,
            "resolved from the command line",
        )

    def test_unknown_alert_exits_2_with_its_code_and_changes_nothing(self, tmp_path: Path) -> None:
        """No such open alert: AlertNotFound's code on stderr, exit 2, the file untouched."""
        path, fid = saved_dead_refund(tmp_path)
        before = path.read_bytes()
        code, out, err = cli(
            "attention", "resolve", "flow_dead_lettered", "nope", "--store", str(path)
        )
        assert (code, out) == (2, "")
        assert err.startswith("error: alert_not_found: no open alert flow_dead_lettered:nope:")
        assert path.read_bytes() == before
        # resolving twice: the second time there is no open alert any more
        assert cli("attention", "resolve", "flow_dead_lettered", fid, "--store", str(path))[0] == 0
        code, _, err = cli("attention", "resolve", "flow_dead_lettered", fid, "--store", str(path))
        assert code == 2 and "alert_not_found" in err

    def test_an_empty_note_is_refused(self, tmp_path: Path) -> None:
        """A resolution must say something: InvalidInput, exit 2, nothing changed."""
        path, fid = saved_dead_refund(tmp_path)
        before = path.read_bytes()
        code, _, err = cli(
            "attention", "resolve", "flow_dead_lettered", fid, "--store", str(path), "--note", " "
        )
        assert code == 2 and "invalid_input" in err
        assert path.read_bytes() == before

    def test_the_list_still_needs_a_store(self) -> None:
        """`paycore attention` with no --store is a usage error (exit 2), not a crash."""
        code, out, err = cli("attention")
        assert (code, out) == (2, "")
        assert "--store" in err

    def test_the_store_and_json_given_before_resolve_are_kept(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """`attention --store A --json resolve ...` resolves in A (not in PAYCORE_STORE's
        store) and prints JSON: the subcommand's own options do not undo them."""
        path, fid = saved_dead_refund(tmp_path)
        other = tmp_path / "other.json"
        monkeypatch.setenv("PAYCORE_STORE", f"json:{other}")
        code, out, err = cli(
            "attention", "--store", str(path), "--json", "resolve", "flow_dead_lettered", fid
        )
        assert (code, err) == (0, "")
        assert json.loads(out)["alert_id"] == f"flow_dead_lettered:{fid}"
        assert not other.exists()
        monkeypatch.delenv("PAYCORE_STORE")
        code, _, err = cli("attention", "--store", str(path), "resolve", "flow_dead_lettered", fid)
        assert code == 2 and "alert_not_found" in err  # found the store: resolved already

    def test_the_store_given_after_resolve_wins_over_the_environment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--store after the subcommand's arguments is read too; PAYCORE_STORE is the
        fallback of both places."""
        path, fid = saved_dead_refund(tmp_path)
        monkeypatch.setenv("PAYCORE_STORE", str(path))
        code, out, _ = cli("attention", "resolve", "flow_dead_lettered", fid)
        assert code == 0 and "resolved" in out
        monkeypatch.setenv("PAYCORE_STORE", f"json:{tmp_path / 'other.json'}")
        code, _, err = cli("attention", "resolve", "flow_dead_lettered", fid, "--store", str(path))
        assert code == 2 and "alert_not_found" in err
