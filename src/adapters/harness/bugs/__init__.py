"""The seeded bugs: one module per finding, each switching one flaw of the old service back on.

:mod:`.catalog` holds the registry (:data:`BUGS`, :func:`switched_on`); each module
``sNN_*`` re-creates seed finding SNN (``docs/seed-findings.md``), each ``iNN_*``
item NN of issue 7, each ``lNN_*`` flaw NN of the review of provider listing and each
``fNN_*`` flaw NN of the review of the provider model's fidelity, each ``hNN_*`` blind
spot NN that the review of the harness found (a flaw no check saw), by
patching as little of paycore as it can: a small function, a constant, a table entry, or
one step's apply function wrapped to bend one decision.
Importing this package registers them all.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

from .catalog import BUGS, Patch, SeededBug, seeded, switched_on
from .support import BugStep, steps_patched

_SWITCH = re.compile(r"[silfh]\d\d_\w+")
#: The modules that hold one switch each, seed findings (``s01_...``) first, then issue
#: items (``i01_...``), then listing flaws (``l01_...``), then fidelity flaws (``f01_...``),
#: then the harness's blind spots (``h01_...``); importing one registers its switch.
SWITCH_MODULES = tuple(
    sorted(
        (m.name for m in pkgutil.iter_modules(__path__) if _SWITCH.fullmatch(m.name)),
        key=lambda name: ("silfh".index(name[0]), name),
    )
)
for _name in SWITCH_MODULES:
    importlib.import_module(f"{__name__}.{_name}")

__all__ = [
    "BUGS",
    "SWITCH_MODULES",
    "BugStep",
    "Patch",
    "SeededBug",
    "seeded",
    "steps_patched",
    "switched_on",
]
