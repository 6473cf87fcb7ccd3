"""The quiet phase asks the provider for whole pages of intents; the rules still walk
small ones, and refunds come one a page everywhere.

The harness caps a provider page of intents at ``LIST_PAGE`` objects so that the flows'
walks over several pages happen in every run. The quiet phase lifts that cap (faults are
off there): its job rounds walk the whole account in one page or two. The rules' own job
actions keep the small pages, so paging stays exercised. Refunds are listed
``REFUND_PAGE`` (one) a page in the quiet phase too: an intent's older refunds are on
later pages, where a read of the first page alone (seeded bug L2) misses them.
"""

from __future__ import annotations

from typing import Any, ClassVar

from paycore.errors import ProviderUnavailable
from paycore.ports import ListPage
from paycore.schema import FLOWS
from paycore.status import FlowStatus
from paycore_adapters.harness.model import PaycoreMachine
from paycore_adapters.harness.runner import run_chaos
from paycore_adapters.harness.world import QUIET_ROUNDS, World
from paycore_adapters.harness.world_core import LIST_PAGE, REFUND_PAGE

#: (in the quiet phase?, the call, the page size asked, starting after, has more)
Call = tuple[bool, str, int, str | None, bool]


class Listing:
    """A provider that notes every list call the service makes through it."""

    def __init__(self, inner: Any, world: PagedWorld) -> None:
        self.inner, self.world = inner, world

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _note(self, call: str, limit: int, after: str | None, page: ListPage[Any]) -> None:
        self.world.calls.append((self.world.quiet, call, limit, after, page.has_more))

    def list_intents(self, **kw: Any) -> ListPage[Any]:
        page: ListPage[Any] = self.inner.list_intents(**kw)
        self._note("list_intents", kw["limit"], kw.get("starting_after"), page)
        return page

    def list_refunds(self, intent_id: str, **kw: Any) -> ListPage[Any]:
        page: ListPage[Any] = self.inner.list_refunds(intent_id, **kw)
        self._note("list_refunds", kw["limit"], kw.get("starting_after"), page)
        return page


class PagedWorld(World):
    """A world whose list calls (what the fault wrapper asks of the provider) are noted."""

    made: ClassVar[list[PagedWorld]] = []

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.quiet = False
        self.faulty_provider.inner = Listing(self.faulty_provider.inner, self)
        PagedWorld.made.append(self)

    def quiesce(self, rounds: int = QUIET_ROUNDS) -> bool:
        self.quiet = True
        try:
            return super().quiesce(rounds)
        finally:
            self.quiet = False


class PagedShop(PaycoreMachine):
    def make_world(self) -> World:
        return PagedWorld()


def paged_calls() -> list[Call]:
    PagedWorld.made.clear()
    report = run_chaos(seed=0, examples=30, steps=40, machine=PagedShop, shrink=False)
    assert report.ok, report.violations
    return [c for w in PagedWorld.made for c in w.calls]


def test_the_rules_walk_small_pages_and_the_quiet_phase_whole_ones() -> None:
    """In the rules, list calls ask for at most ``LIST_PAGE`` objects and walks go on
    past a page that has more (a call starting after an object); in the quiet phase
    every list of intents asks for more than that, and its cap is back afterwards;
    lists of refunds ask for ``REFUND_PAGE`` everywhere, and walk past their first page
    in the quiet phase too."""
    calls = paged_calls()
    rules = [c for c in calls if not c[0]]
    quiet = [c for c in calls if c[0]]
    assert rules and quiet
    assert all(limit <= LIST_PAGE for _, _, limit, _, _ in rules)
    for call in ("list_intents", "list_refunds"):
        walked = [c for c in rules if c[1] == call and c[3] is not None]
        assert walked, f"no {call} walk in the rules went past its first page"
    assert any(more for _, _, _, _, more in rules)
    assert all(limit > LIST_PAGE for _, call, limit, _, _ in quiet if call == "list_intents")
    refunds = [c for c in calls if c[1] == "list_refunds"]
    assert all(limit == REFUND_PAGE for _, _, limit, _, _ in refunds)
    assert any(c[0] and c[3] is not None for c in refunds), "no quiet walk past a page"
    assert all(w.faulty_provider.page_cap == LIST_PAGE for w in PagedWorld.made)


def provider_down(call: str, phase: str, key: str | None) -> None:
    """A provider that answers every call 503, whatever the fault plan says."""
    if phase == "before":
        raise ProviderUnavailable(f"{call}: 503 from the provider (down for good)")


def test_a_flow_that_retries_forever_keeps_the_phase_from_settling() -> None:
    """A checkout whose provider never answers retries in every round (the clock moved
    past its backoff): the round changed something, so the phase does not settle, though
    the jobs themselves change nothing the first drain of a round did not."""
    world = World()
    world.begin_checkout(0, 0, 1)
    world.faulty_provider.fault = provider_down
    assert not world.quiesce()
    flow = world.view().get(FLOWS, f"checkout:{world.session(0)}")
    assert flow is not None and flow.status is FlowStatus.ACTIVE
    assert flow.attempts > QUIET_ROUNDS  # it was retried in every round
