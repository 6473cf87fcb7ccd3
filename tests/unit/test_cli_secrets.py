"""A store URL's password never reaches the output of a command, and a value that names
no store (a libpq key=value string, a URL libpq cannot parse) is refused as such."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support import cli

from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.stores import StoreFileMissing, StoreUrlInvalid, open_store, parse_url

SECRET = "s3cret-Pw"
#: Nothing listens on port 1: every command meets the connection error path.
UNREACHABLE = f"postgresql://app:{SECRET}@127.0.0.1:1/shop"
#: ``%t`` is no percent-encoded character: libpq cannot parse the URL at all.
UNPARSEABLE = f"postgresql://app:{SECRET}%t@127.0.0.1:1/shop"
KEY_VALUE = f"host=db user=app password={SECRET} dbname=shop"

COMMANDS = [
    ("migrate",),
    ("check",),
    ("attention",),
    ("flows", "list"),
    ("attention", "resolve", "flow_dead", "refund:rf_1"),
    ("demo",),
]


@pytest.mark.parametrize("url", [UNREACHABLE, UNPARSEABLE, KEY_VALUE])
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_no_command_shows_the_password_of_its_store(command: tuple[str, ...], url: str) -> None:
    """Every store command refuses the store (exit 2) without the password in its output."""
    code, out, err = cli(*command, "--store", url)
    assert code == 2, (out, err)
    assert SECRET not in out + err
    assert "Traceback" not in err
    assert err.startswith("error: ")


@pytest.mark.parametrize("url", [UNREACHABLE, UNPARSEABLE, KEY_VALUE])
def test_the_password_in_the_environment_is_not_shown_either(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store named by PAYCORE_STORE is refused as quietly as one given with --store."""
    monkeypatch.setenv("PAYCORE_STORE", url)
    for command in COMMANDS[:-1]:  # the demo never reads PAYCORE_STORE
        code, out, err = cli(*command)
        assert (code, SECRET in out + err) == (2, False), (command, out, err)


def test_a_key_value_connection_string_is_not_a_store_url() -> None:
    """A libpq key=value string is refused, not read as the path of a JSON file."""
    with pytest.raises(StoreUrlInvalid) as caught:
        parse_url(KEY_VALUE)
    assert SECRET not in str(caught.value) and "postgresql://" in caught.value.message


def test_a_url_libpq_cannot_parse_is_refused_without_its_text() -> None:
    """The URL is checked up front; the message says what to encode, not the URL."""
    with pytest.raises(StoreUrlInvalid) as caught:
        parse_url(UNPARSEABLE)
    assert SECRET not in str(caught.value) and "%25" in caught.value.message


def test_the_repr_of_a_postgres_store_never_raises() -> None:
    """A store whose DSN libpq cannot parse still has a repr, without the DSN."""
    store = object.__new__(PostgresStore)
    store.dsn = UNPARSEABLE
    shown = repr(store)
    assert shown.startswith("PostgresStore(") and SECRET not in shown
    store.dsn = UNREACHABLE
    assert repr(store) == "PostgresStore(host=127.0.0.1 port=1 dbname=shop user=app)"


@pytest.mark.parametrize("url", ["memory", "json:shop.json", "shop.json"])
def test_migrate_refuses_a_store_without_a_schema(url: str, tmp_path: Path) -> None:
    """Only SQLite and PostgreSQL stores have a schema: anything else is exit 2."""
    code, out, err = cli("migrate", "--store", url)
    assert (code, out) == (2, "")
    assert "has no schema to migrate" in err and "sqlite:PATH" in err


def test_a_missing_store_file_is_told_without_the_demo(tmp_path: Path) -> None:
    """The message names the file, not the URL, and does not suggest running the demo
    on it."""
    path = tmp_path / "shop.json"
    with pytest.raises(StoreFileMissing) as caught:
        open_store(f"json:{path}")
    assert str(path) in caught.value.message
    rest = caught.value.message.replace(str(path), "")
    assert "demo" not in rest and "json:" not in rest
