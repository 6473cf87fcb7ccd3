"""The error registry: one class per code, each documented, the adapter errors listed."""

from __future__ import annotations

import inspect

import pytest

from paycore import errors
from paycore.errors import (
    ADAPTER_ERRORS,
    ERRORS_BY_CODE,
    CheckoutError,
    OutOfStock,
    PaycoreError,
    ProviderError,
    StoreError,
    error_class,
)


def _defined_in_errors() -> list[type[PaycoreError]]:
    return [
        v
        for v in vars(errors).values()
        if inspect.isclass(v) and issubclass(v, PaycoreError) and v.__module__ == errors.__name__
    ]


class TestRegistry:
    def test_every_error_class_is_registered_under_its_code(self) -> None:
        """Each class of paycore.errors is found again by its code, and only it."""
        defined = _defined_in_errors()
        assert len(defined) > 40
        for cls in defined:
            assert error_class(cls.code) is cls
            assert ERRORS_BY_CODE[cls.code] is cls

    def test_an_unknown_code_gives_the_root(self) -> None:
        """A code nobody declared maps to PaycoreError, so a stored result still raises."""
        assert error_class("no_such_code") is PaycoreError

    def test_a_duplicate_code_fails_at_definition_naming_both_classes(self) -> None:
        """Defining a class with a code already held raises TypeError and registers nothing."""
        before = dict(ERRORS_BY_CODE)
        with pytest.raises(TypeError) as caught:

            class SoldOut(CheckoutError, code="out_of_stock"):
                """A second class claiming out_of_stock."""

        message = str(caught.value)
        assert "'out_of_stock'" in message and "SoldOut" in message
        assert "paycore.errors.OutOfStock" in message and "a code of its own" in message
        assert dict(ERRORS_BY_CODE) == before and error_class("out_of_stock") is OutOfStock

    def test_a_class_without_its_own_code_fails_at_definition(self) -> None:
        """A subclass that names no code, or sets it in its body, is refused with the fix."""
        before = dict(ERRORS_BY_CODE)
        with pytest.raises(TypeError, match=r'class Inherits\(CheckoutError, code="\.\.\."\)'):

            class Inherits(CheckoutError):
                """Would silently share checkout_error."""

        with pytest.raises(TypeError, match="in its class line"):

            class InBody(CheckoutError):
                """The old spelling."""

                code = "in_body_code"

        assert dict(ERRORS_BY_CODE) == before

    def test_the_registry_is_read_only(self) -> None:
        """Callers read the registry; only a class definition adds to it."""
        with pytest.raises(TypeError):
            ERRORS_BY_CODE["x"] = PaycoreError  # type: ignore[index]


class TestDocumentation:
    def test_every_error_class_has_its_own_docstring(self) -> None:
        """No error class inherits its docstring: each says what happened and what to do."""
        for cls in ERRORS_BY_CODE.values():
            doc = cls.__dict__.get("__doc__")
            assert doc and doc.strip(), f"{cls.__qualname__} has no docstring"


class TestAdapterErrors:
    def test_adapter_errors_are_grouped_by_port(self) -> None:
        """Stores raise store errors, providers provider errors, each registered."""
        assert ADAPTER_ERRORS._fields == ("store", "provider", "webhook")
        assert all(issubclass(c, StoreError) for c in ADAPTER_ERRORS.store)
        assert all(issubclass(c, ProviderError) for c in ADAPTER_ERRORS.provider)
        for group in ADAPTER_ERRORS:
            assert group and all(ERRORS_BY_CODE[c.code] is c for c in group)

    def test_the_provider_errors_cover_each_outcome(self) -> None:
        """An adapter can report definite, ambiguous and needs-action failures."""
        outcomes = {c.outcome for c in ADAPTER_ERRORS.provider}
        assert outcomes == {"definite", "ambiguous", "needs_action"}
        assert errors.CommitUnknown in ADAPTER_ERRORS.store
