"""``catalog.ident`` takes the usual id in one test before its rules: the same answer, for
every id, as the rules one by one (``catalog.checked_ident``)."""

from __future__ import annotations

from paycore import catalog
from paycore.errors import InvalidInput

ASCII = [chr(c) for c in range(128)]
EDGES = ["\u00a0", "\u2028", "\u202e", "\ufeff", "é", "\ud800", "\x00", " ", "\t", "\n"]
SAMPLES = [
    "",
    "evt_0001",
    "a" * catalog.MAX_ID_BYTES,
    "a" * (catalog.MAX_ID_BYTES + 1),
    "é" * 128,
    "   ",
    "pi_1 2",
    *(f"{c}" for c in ASCII + EDGES),
    *(f"id{c}" for c in ASCII + EDGES),
    *(f"{c}id" for c in ASCII + EDGES),
    *(f"i{c}d" for c in ASCII + EDGES),
]


def answer(check: object, value: object) -> object:
    try:
        return check("event id", value)  # type: ignore[operator]
    except InvalidInput as exc:
        return ("refused", exc.message, exc.fields)


def test_ident_answers_as_its_rules_do() -> None:
    """One test over every sample (564 of them): a parametrized case each cost more in
    the suite's start-up than the checks themselves."""
    differ = [
        (value, answer(catalog.ident, value), answer(catalog.checked_ident, value))
        for value in [*SAMPLES, None, 7, b"evt", ["evt"]]
        if answer(catalog.ident, value) != answer(catalog.checked_ident, value)
    ]
    assert differ == []
    assert answer(catalog.ident, "evt_0001") == "evt_0001"
    assert answer(catalog.ident, "\t")[0] == "refused"  # type: ignore[index]


def test_a_str_subclass_takes_the_rules() -> None:
    class Named(str):
        pass

    value = Named("evt_1")
    assert catalog.ident("event id", value) == "evt_1"
