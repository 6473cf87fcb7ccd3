"""A bad number or name on the command line is one line on stderr and exit 2, never a
traceback: an emulator port outside 0-65535 (OverflowError from bind), explore's
``--flows``/``--faults`` below their least and an unknown ``--bug``, chaos's unknown
``--profile`` (or ``$PAYCORE_PROFILE``) and ``--bug`` (ValueError from the harness).
And ``chaos --examples``/``--steps`` below 1 are refused before anything runs: they ran
the stories and then exited 1, the status that says an invariant was violated."""

from __future__ import annotations

import pytest
from tests.support import cli

from paycore_adapters.cli import main
from paycore_adapters.cli_args import whole


@pytest.mark.parametrize(
    "argv",
    [
        ("emulator", "--port", "70000"),
        ("emulator", "--port", "-1"),
        ("emulator", "--port", "x"),
        ("explore", "--flows", "-1"),
        ("explore", "--flows", "0"),
        ("explore", "--faults", "-3"),
        ("chaos", "--examples", "-1"),
        ("chaos", "--examples", "0"),
        ("chaos", "--steps", "-5"),
    ],
)
def test_a_number_out_of_range_is_a_usage_error(
    argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))  # argparse exits 2 after its usage line on stderr
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"error: argument {argv[1]}: " in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ("explore", "--bug", "S99"),
        ("chaos", "--bug", "S99"),
        ("chaos", "--profile", "bogus"),
    ],
)
def test_an_unknown_name_is_one_line_and_exit_2(argv: tuple[str, ...]) -> None:
    code, out, err = cli(*argv)
    assert (code, out) == (2, "")
    assert err.startswith("error: invalid_input: ") and err.count("\n") == 1
    assert argv[2] in err


def test_an_unknown_profile_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PAYCORE_PROFILE", "bogus")
    code, _, err = cli("chaos")
    assert code == 2 and err.startswith("error: invalid_input: unknown profile 'bogus'")


def test_the_bounds_themselves_are_taken() -> None:
    assert whole(0, 65_535)("0") == 0 and whole(0, 65_535)("65535") == 65_535
    assert whole(1)("1") == 1
