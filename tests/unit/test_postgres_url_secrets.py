"""A PostgreSQL URL whose password holds an unencoded ``/`` or ``@``: libpq reads part of
the password as a host, a port or a database name, which a repr or an error message would
then show. Such a URL is refused, without repeating it; no server is needed."""

from __future__ import annotations

import pytest

from paycore.errors import PaycoreError
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.stores import StoreUrlInvalid, open_store, parse_url

#: The password of every URL below: ``s3cr/etPW`` or ``s3cr@etPW`` written unencoded.
PARTS = ("s3cr", "etPW")

GARBLED = [
    "postgresql://alice:s3cr/etPW@127.0.0.1:5999/shop",  # host=alice port=s3cr
    "postgresql://alice:s3cr@etPW@127.0.0.1:5999/shop",  # host=etPW@127.0.0.1
    "postgres://alice:s3cr/etPW@127.0.0.1/shop",
    "postgresql://alice:s3cr/etPW",  # no host at all: port=s3cr
    "postgresql://alice:s3cr?x=etPW@127.0.0.1/shop",
]


def _assert_hidden(text: str) -> None:
    for part in PARTS:
        assert part not in text, text


@pytest.mark.parametrize("url", GARBLED)
def test_a_garbled_url_is_refused_without_repeating_it(url: str) -> None:
    with pytest.raises(StoreUrlInvalid) as refused:
        parse_url(url)
    assert "percent-encode" in refused.value.message
    _assert_hidden(str(refused.value))
    with pytest.raises(StoreUrlInvalid) as again:
        open_store(url)
    _assert_hidden(str(again.value))


@pytest.mark.parametrize("url", GARBLED)
def test_the_store_itself_refuses_it_and_shows_no_part_of_it(url: str) -> None:
    with pytest.raises(PaycoreError) as refused:
        PostgresStore(url, timeout=1)
    _assert_hidden(str(refused.value))
    _assert_hidden(repr(refused.value))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://alice:s3cr%2FetPW@127.0.0.1:5999/shop",
        "postgresql://alice:s3cr%40etPW@127.0.0.1:5999/shop",
        "postgresql://alice:s3cr#etPW@127.0.0.1:5999/shop",
        "postgresql://alice:s3cr:etPW@db1:5432,db2:5433/shop?target_session_attrs=read-write",
        "postgresql://[::1]:5432/shop",
        "postgresql:///shop?host=/var/run/postgresql",
    ],
)
def test_an_encoded_or_plain_url_is_accepted_and_its_repr_hides_the_password(url: str) -> None:
    parsed = parse_url(url)
    assert parsed.dsn == url
    _assert_hidden(repr(parsed))
