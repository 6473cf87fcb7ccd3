"""What a flow is made of: named steps, the steps each may go to, and their effects.

A flow kind names its steps with a :class:`enum.StrEnum` (stored flows keep their
step strings) and declares, for each step, what runs there and which steps it may
go to next. :class:`FlowDef` checks the declaration when the module defining it is
imported, so a misspelt step fails at import with the list of valid steps; the
engine checks at run time that each move goes along a declared edge. The edges
(:meth:`FlowDef.edges`) are what a flowchart of the flow is drawn from.

A step's effect is exactly one of:

- :class:`Local`: one atomic store transaction, which also records the next step;
- :class:`Remote`: one provider call, and the function that applies its answer
  (in the next step's transaction). The call's errors are routed by the engine's
  policy (:mod:`paycore.flows.policy`): a step only says where an ambiguous answer
  is asked about (``ask``) and, when it needs to, how it handles a refusal
  (``refused``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import attrs

from paycore import schema as s
from paycore.errors import PaycoreError, ProviderError
from paycore.flows.identity import installation_id
from paycore.flows.params import remember_params, to_plain
from paycore.machines import FLOW
from paycore.ports import PaymentProvider
from paycore.records import Flow
from paycore.unit import Unit

T = TypeVar("T")


class FlowDefinitionError(ValueError):
    """A flow kind's declaration names a step it does not have (raised at import)."""


class UndeclaredStep(RuntimeError):
    """A step moved its flow along an edge the flow kind does not declare (a bug)."""


@attrs.frozen
class Outcome(Generic[T]):
    """What a provider call returned, or the provider error it raised, and when it was
    asked (the clock as the call went out; None when not known)."""

    value: T | None = None
    error: ProviderError | None = None
    asked_at: int | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@attrs.frozen
class Advance:
    """What a step decided. Exactly one of ``to``, ``done``, ``failed``, ``retry`` is usual."""

    to: enum.StrEnum | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
    done: Mapping[str, Any] | None = None
    failed: PaycoreError | None = None
    retry: str | None = None
    #: The step met a transient failure (see :mod:`paycore.flows.retry`); None lets the
    #: engine infer it from the provider error the step is applying.
    transient: bool | None = None
    #: Handed back to whoever runs the flow, in memory only (never recorded): a record
    #: as this step's transaction left it, so the caller's answer needs no read.
    reply: object = None


def retry_on(err: ProviderError) -> Advance:
    """Try the step again after ``err`` (the engine's default for a provider error)."""
    return Advance(retry=err.code)


@attrs.frozen
class Local:
    """A store-only step: ``fn`` runs in one transaction with the flow's move."""

    fn: Callable[[Unit, Flow], Advance]


#: How a step handles a provider error itself.
Refused = Callable[[Unit, Flow, ProviderError], Advance]


@attrs.frozen
class Remote(Generic[T]):
    """One provider call and what applies its answer.

    ``apply`` sees only an answer (unless ``then`` goes on without it); errors
    follow the engine's policy: a transient
    refusal is retried, an ambiguous error goes to ``ask`` (the step that asks the
    provider what happened; retried when there is none), a definite refusal goes to
    ``refused`` when the step has one (else it is retried as a strike, so one that
    persists ends in the flow's give-up). A ``best_effort`` step (a compensation that
    must end whatever the provider says) hands every error to ``refused``.
    """

    call_name: str
    call: Callable[[PaymentProvider], T]
    apply: Callable[[Unit, Flow, T], Advance]
    ask: enum.StrEnum | None = None
    refused: Refused | None = None
    best_effort: bool = False
    #: For an answer that needs no record before the next call (the seller check's
    #: yes): the step to go on to at once. The engine makes that step's provider call
    #: in the same engine step and never applies this answer; ``then`` returning None
    #: applies it as usual.
    then: Callable[[T], enum.StrEnum | None] | None = None


Effect = Local | Remote[Any]
StepFn = Callable[[Flow], Effect]
#: A send step's look at the records its request would change, in the transaction that
#: takes or reads the flow before the request: an Advance ends (or moves) the flow from
#: what is recorded, with no request; None lets the step send.
Settled = Callable[[Unit, Flow], Advance | None]


@attrs.frozen
class StepSpec:
    """One step of a flow kind: what runs there and the steps it may go to next."""

    run: StepFn
    next: frozenset[str] = frozenset()


def step(run: StepFn, *then: enum.StrEnum) -> StepSpec:
    """Declare a step: ``run`` builds its effect; ``then`` are the steps it may go to."""
    return StepSpec(run, frozenset(then))


def _names(steps: Mapping[Any, StepSpec]) -> tuple[type[enum.StrEnum], list[str]]:
    first = next(iter(steps), None)
    if not isinstance(first, enum.StrEnum):
        raise FlowDefinitionError("a flow's steps are named by members of one StrEnum")
    names = type(first)
    strays = [k for k in steps if not isinstance(k, names)]
    if strays:
        raise FlowDefinitionError(f"steps {strays!r} are not members of {names.__name__}")
    missing = [m.value for m in names if m not in steps]
    if missing:
        raise FlowDefinitionError(f"{names.__name__} members {missing} have no step")
    return names, [m.value for m in names]


@attrs.frozen
class FlowDef:
    """A kind of flow: its steps, and the step that compensates when forward gives up.

    ``steps`` maps each member of the flow's step enum to its :class:`StepSpec`.
    ``ask_first`` names provider steps whose key the provider may have forgotten when
    the flow resumes late, and the step that asks the provider first instead.
    ``resends`` names those of them that send again, under its key, a request whose
    answer was lost: only a provider that honours idempotency keys turns that into the
    first request's answer, so on one that ignores them (``Config.provider_honours_keys``
    False) they always ask first. ``settled`` names send steps whose request is
    needless once something else recorded its result (a refund's webhook recorded the
    provider refund): a resumed step looks first (:data:`Settled`), and never sends for
    a result already recorded, whatever the clocks say of its key's age.

    Raises:
        FlowDefinitionError: a step, a next step, ``give_up``, ``ask_first``,
            ``resends`` or ``settled`` names a step the flow does not have (the message
            lists the valid ones), or a step in ``resends`` has no ``ask_first`` step.
    """

    kind: str
    steps: dict[str, StepSpec]
    give_up: enum.StrEnum | None = None
    ask_first: Mapping[str, enum.StrEnum] = attrs.field(factory=dict)
    resends: frozenset[enum.StrEnum] = frozenset()
    settled: Mapping[str, Settled] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        names, valid = _names(self.steps)
        uses: list[tuple[str, Iterable[str]]] = [
            (f"step {src}", spec.next) for src, spec in self.steps.items()
        ]
        uses.append(("give_up", [] if self.give_up is None else [self.give_up]))
        uses.append(("ask_first", [*self.ask_first.keys(), *self.ask_first.values()]))
        uses.append(("resends", self.resends))
        uses.append(("settled", self.settled.keys()))
        for where, targets in uses:
            for target in targets:
                if not isinstance(target, names):
                    raise FlowDefinitionError(
                        f"flow {self.kind!r}: {where} names {target!r}, which is not one "
                        f"of its steps: {', '.join(valid)}"
                    )
        lone = sorted(str(r) for r in self.resends if r not in self.ask_first)
        if lone:
            raise FlowDefinitionError(
                f"flow {self.kind!r}: resends names {lone}, which have no ask_first step"
            )

    def run_of(self, name: str) -> StepFn:
        return self.steps[name].run

    def allows(self, src: str, dst: str) -> bool:
        """Is ``src -> dst`` a declared edge (staying put always is)?"""
        spec = self.steps.get(src)
        return (
            src == dst
            or (spec is not None and dst in spec.next)
            or (self.ask_first.get(src) == dst)
        )

    def edges(self) -> list[tuple[str, str, str]]:
        """Every declared edge as (from, to, label): label "" for a step's own next
        steps, "ask first" for a late resume, "give up" into the compensation."""
        out = [(str(src), str(dst), "") for src, spec in self.steps.items() for dst in spec.next]
        out += [(str(src), str(dst), "ask first") for src, dst in self.ask_first.items()]
        if self.give_up is not None:
            give_up = str(self.give_up)
            out += [(str(src), give_up, "give up") for src in self.steps if src != give_up]
        return sorted(set(out))


@attrs.frozen
class StepReport:
    """One executed step, for timelines."""

    flow_id: str
    kind: str
    step: str
    effect: str  # "tx", "call:<name>", "apply:<name>"
    result: str
    #: The flow's durable record after the step (unchanged by a provider call).
    flow: Flow | None = None
    #: The step whose provider call was made at once after this one's (``Remote.then``).
    then: str | None = None
    #: What the step's decision handed back (``Advance.reply``), once it committed.
    reply: object = None


#: ``Flow.data`` key: the random part of the flow's idempotency keys, drawn when the
#: flow is recorded (:func:`create_flow`) and never changed.
KEY_SALT = "key_salt"


def key(flow: Flow, step: str) -> str:
    """The idempotency key of a provider call: installation, flow, the flow's own random
    part, step and key generation.

    The generation changes only after the provider confirmed that the
    previous attempt had no effect (Stripe replays even saved 5xx answers).
    Flow ids repeat across stores on one provider account (``confirm:pay_000001:1``),
    so the key starts with the installation id the flow was created under; they repeat
    within one store too once it is restored from a backup (the installation row comes
    back with it), so each flow also draws a random part of its own when it is
    recorded (:data:`KEY_SALT`). A flow recorded before it had one keeps its keys.
    """
    salt = flow.data.get(KEY_SALT)
    flow_part = f"{flow.id}:{salt}" if salt else flow.id
    base = f"{flow_part}:{step}:{flow.data.get('keygen', 0)}"
    installation = flow.params.get("installation")
    return f"{installation}:{base}" if installation else base


def create_flow(
    u: Unit,
    flow_id: str,
    kind: str,
    step: str,
    params: object = None,
    *,
    owner: str | None = None,
    lease_until: int = 0,
    keyed: bool = True,
    data: Mapping[str, Any] | None = None,
) -> Flow:
    """Record a new flow in the caller's transaction (``data``: its first ``Flow.data``).

    ``params`` is the kind's params record (:mod:`paycore.flows.params`), stored as a
    plain dict. A flow created with no owner (for example an automatic refund started
    by another flow) is free for any worker to run at once. Its params record the
    installation it runs for (its provider keys start with it); its data, the random
    part of its keys (:data:`KEY_SALT`), unless ``keyed`` is False (a flow that sends
    no request under an idempotency key draws none).
    """
    plain = {} if params is None else to_plain(params)
    if not plain.get("installation"):
        plain["installation"] = installation_id(u)
        params = None  # the record no longer says what the flow's params are
    flow = Flow(
        id=flow_id,
        kind=kind,
        step=str(step),  # stored as the plain string (the enum is code, not data)
        created_at=u.now,
        params=plain,
        data={**(data or {}), **({KEY_SALT: u.tokens.token()} if keyed else {})},
        next_run_at=u.now,
        lease_owner=owner,
        lease_until=lease_until,
    )
    created = u.create(s.FLOWS, flow, FLOW)
    if params is not None:  # what the flow's steps will ask for: they need not build it
        remember_params(created, params)
    return created


def current_flow(u: Unit, flow_id: str) -> Flow | None:
    """The flow as ``u``'s transaction left it: the record the unit's last create, save or
    move wrote when that is this flow (every write of a flow goes through them), else
    read. A step's transaction or an operation's first one ends by writing its flow, so
    the run that goes on from it needs no read."""
    last = u.last
    if type(last) is Flow and last.id == flow_id:
        return last
    return u.get(s.FLOWS, flow_id)


def unexpected(exc: BaseException) -> str:
    """How an exception that is not paycore's is recorded: by its type only, because
    its message may quote data (a key, a card's details, a connection string)."""
    return f"unexpected {type(exc).__name__}"
