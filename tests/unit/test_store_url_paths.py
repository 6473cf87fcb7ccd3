"""A ``sqlite:``/``json:`` URL names any file: ``?`` in a file name is written ``%3F``
(``?`` itself starts the options), ``%`` before ``3F`` or ``25`` is written ``%25``, and
a leading ``~`` is the home directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from paycore_adapters.stores import StoreUrlInvalid, open_store, parse_url


def test_a_question_mark_in_a_file_name_is_written_percent_3f() -> None:
    assert parse_url("sqlite:/x/a%3Fb.db").path == Path("/x/a?b.db")
    assert parse_url("sqlite:/x/a%3fb.db?synchronous=NORMAL").path == Path("/x/a?b.db")
    assert parse_url("json:/x/a%3Fb.json").path == Path("/x/a?b.json")
    assert parse_url("sqlite:/x/a%253Fb.db").path == Path("/x/a%3Fb.db")  # literally
    assert parse_url("sqlite:/x/a%20b%.db").path == Path("/x/a%20b%.db")  # as written


def test_a_raw_question_mark_still_starts_the_options() -> None:
    with pytest.raises(StoreUrlInvalid, match="%3F"):
        parse_url("sqlite:/x/a?b.db")


def test_a_leading_tilde_is_the_home_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/shop")
    assert parse_url("sqlite:~/x.db").path == Path("/home/shop/x.db")
    assert parse_url("json:~/x.json").path == Path("/home/shop/x.json")
    assert parse_url("sqlite:/srv/~/x.db").path == Path("/srv/~/x.db")  # only leading


def test_an_unknown_user_is_refused_clearly() -> None:
    with pytest.raises(StoreUrlInvalid, match="~no_such_user_here"):
        parse_url("sqlite:~no_such_user_here/x.db")


def test_open_store_opens_such_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    odd = tmp_path / "odd dir"
    odd.mkdir()
    opened = open_store(f"sqlite:{odd}/a%3Fb.db", create=True)
    opened.close()
    assert (odd / "a?b.db").exists()
    monkeypatch.setenv("HOME", str(odd))
    again = open_store("sqlite:~/a%3Fb.db")
    assert again.path == odd / "a?b.db"
    again.close()
    assert not (tmp_path / "~").exists()
