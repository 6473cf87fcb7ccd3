"""``paycore chaos --store postgresql --server URL`` (or ``$PAYCORE_HARNESS_POSTGRES``)
with a URL libpq cannot read as written, or a server that cannot be reached: one line on
stderr, exit 2, and no part of the password. Before, the URL went straight to
``psycopg.connect`` and libpq's words (the whole password of ``SEC%zzRET``, the tail of
``SE@CRET`` read as a host) were printed inside a traceback. No server is needed."""

from __future__ import annotations

import pytest
from tests.support import cli

URLS = [
    "postgresql://u:SEC%zzRET@127.0.0.1:9/db",  # invalid percent-encoded token
    "postgresql://u:SE@CRET@127.0.0.1:9/db",  # CRET@127.0.0.1 read as the host
    "postgresql://u:SECRET@127.0.0.1:9/db?foo=bar",  # an unknown parameter
    "postgresql://u:SECRET@127.0.0.1:9/db",  # well formed: nothing listens on port 9
]


def _assert_one_line_without_the_password(code: int, out: str, err: str) -> None:
    assert code == 2
    assert "Traceback" not in out + err
    for part in ("SECRET", "SEC", "CRET", "zzRET"):
        assert part not in out + err, out + err
    (line,) = err.strip().splitlines()
    assert line.startswith("error: store_unavailable: "), line


@pytest.mark.parametrize("url", URLS)
def test_the_server_option_is_told_in_one_line_without_its_password(url: str) -> None:
    argv = ("chaos", "--store", "postgresql", "--server", url, "--examples", "1", "--steps", "1")
    _assert_one_line_without_the_password(*cli(*argv))


@pytest.mark.parametrize("url", URLS)
def test_the_environment_variable_is_told_the_same_way(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYCORE_HARNESS_POSTGRES", url)
    argv = ("chaos", "--store", "postgresql", "--examples", "1", "--steps", "1")
    _assert_one_line_without_the_password(*cli(*argv))


def test_an_unreachable_server_is_named_without_its_password() -> None:
    _, _, err = cli(
        "chaos", "--store", "postgresql", "--server", URLS[-1], "--examples", "1", "--steps", "1"
    )
    assert "host=127.0.0.1 port=9 dbname=db user=u" in err


def test_an_unknown_parameter_is_named() -> None:
    _, _, err = cli(
        "chaos", "--store", "postgresql", "--server", URLS[2], "--examples", "1", "--steps", "1"
    )
    assert "unknown connection parameter 'foo'" in err
