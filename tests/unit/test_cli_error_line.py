"""Every command that cannot run prints one line, ``error: CODE: message``, and exits 2
(docs/operations.md): a code an operator or a script can match, never a traceback, and
never a bare message without a code."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from tests.support import cli

from paycore.errors import ERRORS_BY_CODE
from paycore_adapters import cli_check

LINE = re.compile(r"error: ([a-z_]+): [^\n]+\n")


def _one_coded_line(err: str) -> str:
    assert "Traceback" not in err, err
    found = LINE.fullmatch(err)
    assert found is not None, err
    assert found.group(1) in ERRORS_BY_CODE, found.group(1)
    return found.group(1)


def test_a_webhook_url_off_loopback_is_one_coded_line() -> None:
    code, out, err = cli("emulator", "--port", "0", "--webhook-url", "http://evil.example.com/x")
    assert (code, out) == (2, "")
    assert _one_coded_line(err) == "invalid_input"
    assert "webhook" in err


def test_a_taken_port_is_one_coded_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = cli("emulator", "--port", str(port))
    assert (code, out) == (2, "")
    assert _one_coded_line(err) == "port_unavailable"
    assert str(port) in err


def test_unreadable_fake_books_are_one_coded_line(tmp_path: Path) -> None:
    url = f"sqlite:{tmp_path / 'shop.db'}"
    assert cli("migrate", "--store", url)[0] == 0
    code, out, err = cli("check", "--store", url, "--fake-books", str(tmp_path / "none.json"))
    assert (code, out) == (2, "")
    assert _one_coded_line(err) == "file_unreadable"


def test_migrating_a_json_store_is_one_coded_line(tmp_path: Path) -> None:
    code, out, err = cli("migrate", "--store", f"json:{tmp_path / 'new.json'}")
    assert (code, out) == (2, "")
    assert _one_coded_line(err) == "store_has_no_schema"


@pytest.mark.parametrize("command", [["check"], ["migrate"], ["flows", "list"], ["attention"]])
def test_no_store_named_is_one_coded_line(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PAYCORE_STORE", "")
    code, out, err = cli(*command)
    assert (code, out) == (2, "")
    assert _one_coded_line(err) == "usage_error"
    assert "PAYCORE_STORE" in err


def test_another_refusal_of_the_system_is_one_coded_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OSError no command turns into an error of its own still has a code."""

    def refused(*_: object) -> int:
        raise PermissionError(13, "Permission denied", "/srv/paycore/shop.db")

    monkeypatch.setattr(cli_check, "check", refused)
    code, out, err = cli("check", "--store", "sqlite:/srv/paycore/shop.db")
    assert (code, out) == (2, "")
    assert _one_coded_line(err) == "system_error"
    assert "Permission denied" in err and "/srv/paycore/shop.db" in err
