"""PostgreSQL URLs an operator gets wrong, told without a server: a query parameter
libpq does not know is named (its value is not: it may be a secret), where the advice
was to percent-encode the password; and a store that cannot connect keeps its URL as a
Secret, so no frame the error passes through holds the password as a plain string."""

from __future__ import annotations

import traceback

import pytest
from tests.support import cli

from paycore.errors import OperationalError
from paycore_adapters.signing import Secret
from paycore_adapters.sql.dsn import PERCENT_ENCODE, refusal
from paycore_adapters.sql.postgres_store import PostgresStore
from paycore_adapters.stores import StoreUrlInvalid, parse_url

PASSWORD = "pw7Hidden"
UNKNOWN = [
    (f"postgresql://u:{PASSWORD}@127.0.0.1:9/db?foo=bar{PASSWORD}", "foo"),
    (f"postgresql://u:{PASSWORD}@127.0.0.1:9/db?sslmode=disable&colour={PASSWORD}", "colour"),
    (f"postgres://u:{PASSWORD}@127.0.0.1:9/db?applicationname={PASSWORD}", "applicationname"),
]


@pytest.mark.parametrize(("url", "name"), UNKNOWN)
def test_an_unknown_parameter_is_named_by_every_opener(url: str, name: str) -> None:
    said = f"unknown connection parameter {name!r}"
    with pytest.raises(StoreUrlInvalid) as refused:
        parse_url(url)
    assert said in refused.value.message and PASSWORD not in str(refused.value)
    with pytest.raises(OperationalError) as refused_too:
        PostgresStore(url, timeout=1)
    assert said in refused_too.value.message and PASSWORD not in str(refused_too.value)
    code, out, err = cli("flows", "list", "--store", url)
    assert code == 2 and said in err and PASSWORD not in out + err


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{PASSWORD}%zz@127.0.0.1:9/db?foo=bar",  # the password is wrong too
        f"postgresql://u:{PASSWORD}@127.0.0.1:9/db?{PASSWORD}-x=1",  # not a keyword's shape
    ],
)
def test_the_name_is_given_only_when_it_is_the_cause_and_looks_like_a_keyword(url: str) -> None:
    assert refusal(url) == PERCENT_ENCODE


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw@h/db?ssl=true",
        "postgresql://u:pw@h/db?sslmode=require&application_name=shop&connect_timeout=3",
        "postgresql://u:pw@h/db",
    ],
)
def test_known_parameters_pass(url: str) -> None:
    assert refusal(url) is None


def test_a_store_that_cannot_connect_holds_its_url_as_a_secret() -> None:
    """Nothing listens on port 9: the error names the server, and no frame between the
    caller and the raise holds the password as a plain string (an error tracker records
    frame locals)."""
    url = f"postgresql://u:{PASSWORD}@127.0.0.1:9/db"
    with pytest.raises(OperationalError) as refused:
        PostgresStore(Secret(url), timeout=1)
    assert PASSWORD not in str(refused.value)
    frames = list(traceback.walk_tb(refused.value.__traceback__))[1:]  # past this test's
    assert frames
    pools = []
    for frame, _ in frames:
        shown = {k: repr(v) for k, v in frame.f_locals.items()}
        assert not [k for k, v in shown.items() if PASSWORD in v], frame.f_code.co_name
        store = frame.f_locals.get("self")
        if isinstance(store, PostgresStore):
            assert PASSWORD not in repr(vars(store))
            pools.append(vars(store)["_pool"])
    assert pools  # the store made its pool before it tried to connect
    for pool in pools:  # the pool library keeps what it is given: a callable, not the URL
        assert PASSWORD not in repr(vars(pool))


def test_the_dsn_property_gives_the_url_at_the_point_of_use() -> None:
    store = object.__new__(PostgresStore)
    store.dsn = f"postgresql://u:{PASSWORD}@127.0.0.1:9/db"
    assert store.dsn.endswith("/db") and PASSWORD not in repr(vars(store))
    assert repr(store) == "PostgresStore(host=127.0.0.1 port=9 dbname=db user=u)"
