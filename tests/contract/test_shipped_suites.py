"""The contract suites ship in the package, and only they bring pytest along."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import paycore_adapters

CHECK = """
import importlib, sys
for name in {names!r}:
    importlib.import_module(name)
assert "pytest" not in sys.modules, [m for m in sys.modules if m.startswith("_pytest")][:3]
import paycore_adapters.testing
assert "pytest" in sys.modules
"""


def test_only_the_testing_package_imports_pytest() -> None:
    """Every module of paycore_adapters but ``testing`` imports without pytest."""
    names = [
        m.name
        for m in pkgutil.walk_packages(paycore_adapters.__path__, "paycore_adapters.")
        if not m.name.startswith("paycore_adapters.testing")
    ]
    assert "paycore_adapters.harness.explore" in names
    code = CHECK.format(names=names)
    subprocess.run([sys.executable, "-c", code], check=True)
