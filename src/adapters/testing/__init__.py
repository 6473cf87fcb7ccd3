"""Contract suites for paycore's ports, shipped so that any adapter can be checked.

A service that writes its own store or provider adapter subclasses
:class:`StoreContract` or :class:`ProviderContract` in its test suite, supplies
a factory (and, for a provider, a :class:`ProviderDriver`), and runs pytest:
``docs/adapters.md`` shows how. Importing this package imports pytest; nothing
else in ``paycore_adapters`` does.
"""

from __future__ import annotations

from .emulator_driver import EmulatorDriver
from .fake_driver import FakeDriver
from .provider_case import ContractCase, ProviderDriver
from .provider_contract import ProviderContract
from .store_contract import StoreContract

__all__ = [
    "ContractCase",
    "EmulatorDriver",
    "FakeDriver",
    "ProviderContract",
    "ProviderDriver",
    "StoreContract",
]
