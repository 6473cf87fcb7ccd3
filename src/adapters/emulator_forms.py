"""Stripe's request parameters as the emulator reads them.

The SDK sends a request's parameters form-encoded, in the body of a POST and in the query
of a GET, nested objects in bracket notation: ``metadata[order_id]=42``,
``transfer_data[destination]=acct_1``, ``created[gte]=1700000000``, list items as
``expand[0]=...`` (stripe-python 16.1.0, ``stripe/_encode.py``, ``_api_encode``, and
``stripe/_api_requestor.py``, which puts a GET's parameters in the URL). Booleans are the
words ``true`` and ``false``. :func:`parse` turns such a string back into nested dicts;
:class:`Params` reads one request's values, each as the type Stripe documents, and
refuses an unknown or ill-typed one with Stripe's codes ``parameter_unknown``,
``parameter_missing`` and ``parameter_invalid_integer`` (docs.stripe.com/error-codes).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
_INTEGER = re.compile(r"-?[0-9]{1,18}")


class ParamError(Exception):
    """A parameter Stripe would refuse with a 400 ``invalid_request_error`` (``code`` None:
    Stripe's code for it is unsourced)."""

    def __init__(self, message: str, *, param: str, code: str | None) -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code


def _path(key: str) -> list[str]:
    """``a[b][c]`` as ``["a", "b", "c"]`` (a key without brackets is one name)."""
    head, bracket, _ = key.partition("[")
    if not bracket:
        return [key]
    rest = key[len(head) :]
    parts = _SEGMENT.findall(rest)
    if "".join(f"[{p}]" for p in parts) != rest or not head:
        raise ParamError(f"Invalid parameter name: {key}", param=key, code="parameter_unknown")
    return [head, *parts]


def parse(text: str) -> dict[str, Any]:
    """A form-encoded string in Stripe's bracket notation as nested dicts of strings."""
    out: dict[str, Any] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        names = _path(key)
        node = out
        for name in names[:-1]:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise ParamError(
                    f"Invalid parameter: {key} mixes a value and an object.",
                    param=key,
                    code="parameter_unknown",
                )
            node = child
        node[names[-1]] = value
    return out


class Params:
    """One request's parameters: each read at most once, the rest refused as unknown.

    ``expand`` is accepted and ignored: the emulator's objects are never expanded."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = dict(values)
        self._values.pop("expand", None)

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._values.pop(name, None)
        if value is None or value == "":
            if required:
                raise ParamError(
                    f"Missing required param: {self._qualified(name)}.",
                    param=self._qualified(name),
                    code="parameter_missing",
                )
            return None
        if not isinstance(value, str):
            raise ParamError(
                f"Invalid string: {name} must be a string.",
                param=self._qualified(name),
                code="parameter_unknown",
            )
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        if not _INTEGER.fullmatch(value):
            raise ParamError(
                f"Invalid integer: {value}",
                param=self._qualified(name),
                code="parameter_invalid_integer",
            )
        return int(value)

    def boolean(self, name: str) -> bool | None:
        value = self.text(name)
        if value is None:
            return None
        if value not in ("true", "false"):
            raise ParamError(
                f"Invalid boolean: {value}", param=self._qualified(name), code="parameter_unknown"
            )
        return value == "true"

    def mapping(self, name: str) -> dict[str, str]:
        """A hash of strings (``metadata[key]=value``); an empty ``metadata=`` is none."""
        value = self._values.pop(name, None)
        if value is None or value == "":
            return {}
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ParamError(
                f"Invalid hash: {name} must map names to strings.",
                param=self._qualified(name),
                code="parameter_unknown",
            )
        return dict(value)

    def nested(self, name: str) -> Params:
        """The object ``name[...]`` as parameters of its own (empty when absent)."""
        value = self._values.pop(name, None)
        if value is None or value == "":
            return _Nested(name, {})
        if not isinstance(value, dict):
            raise ParamError(
                f"Invalid object: {name}", param=self._qualified(name), code="parameter_unknown"
            )
        return _Nested(name, value)

    def present(self) -> bool:
        return bool(self._values)

    def done(self) -> None:
        """Refuse whatever was not read: Stripe names the first unknown parameter."""
        for name in self._values:
            raise ParamError(
                f"Received unknown parameter: {self._qualified(name)} (the emulator does "
                "not model it)",
                param=self._qualified(name),
                code="parameter_unknown",
            )

    def _qualified(self, name: str) -> str:
        return name


class _Nested(Params):
    def __init__(self, prefix: str, values: dict[str, Any]) -> None:
        super().__init__(values)
        self._prefix = prefix

    def _qualified(self, name: str) -> str:
        return f"{self._prefix}[{name}]"
