"""A bounded exhaustive explorer, TLC-style: every schedule of a few small scenarios.

Each scenario (:func:`scenarios`) is a :class:`World` with one scarce SKU
(stock 1) and ``flows`` operations that race: sessions checking out the last
unit, one session submitted twice (S8), a confirm against a cancel (S9), a
checkout whose confirm starts as soon as its payment exists, the provider's
webhooks racing them all (S10). From the scenario's initial state the
explorer tries, depth first, every enabled action:

- begin an operation not begun yet (a confirm or cancel once its payment exists;
  a confirm once per card it may be paid with);
- advance any runnable flow by one step;
- deliver any webhook the provider sent, in any order;
- act as the customer at the provider (3-D Secure, settlement) when an intent waits for it;
- when nothing else can move, wait: the clock jumps to when the next flow is due
  (a retry's backoff, a dead worker's lease);
- while the fault budget lasts, the same actions failing in every way they can (a
  provider fault in a flow step's call, a store fault in any commit), and a crash of
  the worker while a flow is active.

A fault is armed just before the action it hits, and the successor is dropped if
it did not fire there: arming earlier would only add states that differ by an
armed flag no invariant reads.

Safety invariants are checked on every new state; a state where nothing is
enabled ends a schedule: it is made quiet (:meth:`World.quiesce`) and checked
for convergence too. States are identified by :func:`fingerprint`, a digest of
everything that decides what can happen next (what the explorer has still to
do included); a state seen before is not explored again. Counts follow TLC:
states generated (every action applied), distinct states, and the schedules
covered (maximal paths through the state graph, counted over it, not walked).

The world holds locks and cannot be deep-copied as is: :func:`fork` copies it
sharing what is immutable, locks made fresh, the adapters through their own
``clone`` (``method="fork"``); ``method="replay"`` rebuilds every state from a
fresh world by replaying its path instead, slower, and the reference the fork is
checked against. Either way a state's last successor takes its parent's world itself:
nothing explores from the parent after it.

The modules: :mod:`.scenarios` (what races, and the actions), :mod:`.state` (a
state, its fingerprint, copying a world), :mod:`.search` (the depth-first search
and :func:`explore`) and :mod:`.report` (what it returns).
"""

from __future__ import annotations

from .report import ExploreReport, ExploreViolation
from .scenarios import FAULT_KINDS, Action, Op, Scenario, scenarios
from .search import MAX_DEPTH, Method, explore
from .state import Node, ProviderState, StoreState, copyable, fingerprint, fork

__all__ = [
    "FAULT_KINDS",
    "MAX_DEPTH",
    "Action",
    "ExploreReport",
    "ExploreViolation",
    "Method",
    "Node",
    "Op",
    "ProviderState",
    "Scenario",
    "StoreState",
    "copyable",
    "explore",
    "fingerprint",
    "fork",
    "scenarios",
]
