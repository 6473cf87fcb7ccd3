"""A file written through a temporary one (a store file, the demo's provider's books)
leaves no temporary file behind when the write fails or is interrupted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paycore_adapters import fake_state
from paycore_adapters.fake_provider import FakeProvider
from paycore_adapters.memory import ManualClock
from paycore_adapters.memory_store import MemoryStore
from paycore_adapters.stores import OpenStore


def interrupted(*_: object, **__: object) -> str:
    raise KeyboardInterrupt


def test_an_interrupted_store_save_leaves_only_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the JSON is written: the file as it was, nothing beside it."""
    path = tmp_path / "shop.json"
    OpenStore(MemoryStore(), path).save()
    before = path.read_bytes()
    monkeypatch.setattr(json, "dump", interrupted)
    with pytest.raises(KeyboardInterrupt):
        OpenStore(MemoryStore(), path).save()
    assert [p.name for p in tmp_path.iterdir()] == ["shop.json"]
    assert path.read_bytes() == before


def test_a_failed_books_save_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Interrupted while the books are written, or refused the rename: no
    `.NAME.provider.json.XXXX` is left."""
    path = tmp_path / "shop.db.provider.json"
    clock = ManualClock()
    saving = fake_state.SavedAfterEveryCall(FakeProvider(clock), clock, path)
    monkeypatch.setattr(fake_state, "dumps", interrupted)
    with pytest.raises(KeyboardInterrupt):
        saving.save()
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()

    def refused(*_: object) -> None:
        raise PermissionError("rename refused")

    monkeypatch.setattr(fake_state.os, "replace", refused)
    with pytest.raises(PermissionError):
        saving.save()
    assert list(tmp_path.iterdir()) == []
