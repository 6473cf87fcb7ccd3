"""`paycore flows ...` and `paycore attention [resolve|foreign]`: the operator's commands over a
store.

They change durable state only: a revived or abandoned flow is run by the service's
recovery worker (``run_jobs``), which has the provider; these commands never call it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, TextIO, cast

from paycore.config import Config
from paycore.errors import PaycoreError
from paycore.flows.engine import Engine
from paycore.flows.jobflow import is_job
from paycore.operations import AttentionItem, CasePage, FlowPage, Operator
from paycore.ports import Clock, PaymentProvider
from paycore.records import Alert, Flow
from paycore.service import FLOW_DEFS

from .cli_errors import StoreHasNoSchema, UsageError
from .clock_skew import ServerTimed, measure, refuse_skew, tolerance_ms
from .runtime import SystemClock
from .stores import STORE_ENV, OpenStore, encode, open_store, parse_url, refuse_unshared

#: ``flows list`` shows this many of the newest flows unless --limit says otherwise.
DEFAULT_LIMIT = 100


class _StderrAlerts:
    def alert(self, kind: str, message: str, **fields: Any) -> None:
        print(f"alert {kind}: {message}", file=sys.stderr)


class _NoProvider:
    """The operator's commands never call the provider: any attempt is a bug."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"operator commands must not call the provider ({name})")


def add_parsers(sub: Any) -> None:
    mig = sub.add_parser("migrate", help="create a store's schema or bring it up to date")
    _store_option(mig)
    flows = sub.add_parser("flows", help="list, show, revive or abandon flows in a store")
    fsub = flows.add_subparsers(dest="flows_command", required=True)
    ls = fsub.add_parser("list", help="list flows (all, or one state)")
    ls.add_argument("--state", default=None, help="active, succeeded, failed or dead")
    ls.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"show the N newest flows (default {DEFAULT_LIMIT})",
    )
    for name, what in (
        ("show", "show one flow"),
        ("revive", "resume a dead flow at its recovery point"),
        ("abandon", "give a flow up and run its compensation"),
    ):
        p = fsub.add_parser(name, help=what)
        p.add_argument("flow_id")
    for p in (ls, *(fsub.choices[n] for n in ("show", "revive", "abandon"))):
        _store_option(p)
        p.add_argument("--json", action="store_true")
    att = sub.add_parser("attention", help="what needs a human: open alerts and dead flows")
    # --store is required, checked in run(): `attention resolve` takes its own after its
    # arguments, and argparse cannot require an option of a command with a subcommand.
    _store_option(att)
    att.add_argument("--json", action="store_true")
    asub = att.add_subparsers(dest="attention_command")
    res = asub.add_parser("resolve", help="close an open alert, saying what was done")
    res.add_argument("kind", help="the alert's kind, as `paycore attention` shows it")
    res.add_argument("subject", help="what the alert is about, as `paycore attention` shows it")
    # SUPPRESS: argparse copies a subcommand's defaults over what its parent parsed, so a
    # default here would undo `attention --store A --json resolve ...`.
    _store_option(res, argparse.SUPPRESS)
    res.add_argument("--note", default=None, help="what was done (the alert's resolution)")
    res.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    res.add_argument(
        "--force",
        action="store_true",
        help="close a refund_failed alert whose money went back outside paycore",
    )
    fo = asub.add_parser(
        "foreign", help="list the intents the foreign_intent alert counts, found last first"
    )
    _store_option(fo, argparse.SUPPRESS)
    fo.add_argument(
        "--limit", type=int, default=DEFAULT_LIMIT, help=f"show N (default {DEFAULT_LIMIT})"
    )
    fo.add_argument("--json", action="store_true", default=argparse.SUPPRESS)


def _store_option(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument(
        "--store",
        default=default,
        help=f"sqlite:PATH, postgresql://..., json:PATH or a file path (default: ${STORE_ENV})",
    )


def store_url(args: argparse.Namespace) -> str | None:
    """The store a command names: its --store, else ``$PAYCORE_STORE`` (read when the
    command runs), else None."""
    return getattr(args, "store", None) or os.environ.get(STORE_ENV) or None


def usage() -> int:
    """No store named: the usage error's line on stderr; exit 2."""
    err = UsageError(f"give the store with --store URL or {STORE_ENV}")
    print(f"error: {err.code}: {err.message}", file=sys.stderr)
    return 2


def migrate(args: argparse.Namespace, out: TextIO) -> int:
    """`paycore migrate --store URL`: bring the store's schema up to date (a new SQLite
    file is created with the whole schema; a PostgreSQL database must exist). The store
    is named by its repr, which never shows a password."""
    url = store_url(args)
    if url is None:
        return usage()
    try:
        parsed = parse_url(url)
        if parsed.kind not in ("sqlite", "postgresql"):
            raise StoreHasNoSchema(
                f"a {parsed.kind} store has no schema to migrate: migrate names a "
                "SQLite file (sqlite:PATH) or a PostgreSQL database (postgresql://...)"
            )
        opened = open_store(url, create=True)
        version: int = getattr(opened.store, "schema_version")()  # noqa: B009 - an SQL store's
        opened.close()
    except PaycoreError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    shown = repr(opened.store)
    print(f"{shown}: schema at version {version}, the latest this paycore knows", file=out)
    return 0


def run(args: argparse.Namespace, out: TextIO) -> int:
    url = store_url(args)
    if url is None:
        return usage()
    try:
        refuse_unshared(url, args.command)
        opened = open_store(url)
    except PaycoreError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    try:
        return _run(opened, args, out)
    finally:
        opened.close()  # a SQL store's connections


def _writes(args: argparse.Namespace) -> bool:
    """Does the command change the store (revive, abandon, resolve)?"""
    if args.command == "attention":
        return bool(args.attention_command == "resolve")
    return bool(args.flows_command in ("revive", "abandon"))


def checked_clock(store: object, clock: Clock, config: Config) -> None:
    """Refuse to act on a store with a server (PostgreSQL) from a host whose clock is off
    from the server's by more than the instances may be (``ClockSkewed``), as an instance
    refuses to start: abandoning judges the flow's lease by this clock, and what it
    records is dated by it. A store without a server is used from its own host."""
    if isinstance(store, ServerTimed):
        refuse_skew(measure(store, clock), tolerance_ms(config))


def _run(opened: OpenStore, args: argparse.Namespace, out: TextIO) -> int:
    try:
        if _writes(args):
            checked_clock(opened.store, SystemClock(), Config())
        engine = Engine(
            opened.store,
            cast(PaymentProvider, _NoProvider()),
            SystemClock(),
            _StderrAlerts(),
            Config(),
            FLOW_DEFS,
            "operator-cli",
        )
        op = Operator(engine, "the command line")
        if args.command == "attention" and args.attention_command == "resolve":
            alert = op.resolve_alert(f"{args.kind}:{args.subject}", _note(args.note), args.force)
            opened.save()
            return _resolved(alert, getattr(args, "json", False), out)
        if args.command == "attention" and args.attention_command == "foreign":
            return _foreign(op.foreign_intents(args.limit), getattr(args, "json", False), out)
        if args.command == "attention":
            return _attention(op.attention(), args.json, out)
        cmd = args.flows_command
        if cmd == "list":
            return _flows(op.latest(args.state, args.limit), args.json, out)
        if cmd == "show":
            return _show(op.flow(args.flow_id), args.json, out)
        flow = op.revive(args.flow_id) if cmd == "revive" else op.abandon(args.flow_id)
        opened.save()
        return _changed(flow, cmd, args.json, out)
    except PaycoreError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2


def _changed(flow: Flow, cmd: str, as_json: bool, out: TextIO) -> int:
    if as_json:
        print(json.dumps(_flow_doc(flow), indent=2), file=out)
        return 0
    verb = "revived" if cmd == "revive" else "abandoned (compensating)"
    print(f"flow {flow.id} {verb} at step {flow.step}; the recovery worker runs it", file=out)
    if is_job(flow.id):
        print(
            "a background job's run: it repeats only reads, beside the job's current run",
            file=out,
        )
    return 0


def _note(note: str | None) -> str:
    return "resolved from the command line" if note is None else note


def _resolved(alert: Alert, as_json: bool, out: TextIO) -> int:
    if as_json:
        doc = {
            "alert_id": alert.id,
            "kind": alert.kind,
            "subject": alert.subject,
            "open": alert.open,
            "resolved_at": alert.resolved_at,
            "resolution": alert.resolution,
        }
        print(json.dumps(doc, indent=2), file=out)
    else:
        print(f"alert {alert.id} resolved: {alert.resolution}", file=out)
    return 0


def _flow_doc(flow: Flow) -> dict[str, Any]:
    return {
        "id": flow.id,
        "kind": flow.kind,
        "status": flow.status.value,
        "step": flow.step,
        "attempts": flow.attempts,
        "last_error": flow.last_error,
        "created_at": flow.created_at,
        "next_run_at": flow.next_run_at,
        "params": encode(dict(flow.params)),
        "data": encode(dict(flow.data)),
        "result": encode(dict(flow.result)) if flow.result is not None else None,
    }


def _flows(page: FlowPage, as_json: bool, out: TextIO) -> int:
    """The page's flows, newest first; a JSON list of documents with --json (which says
    nothing of the flows left out: compare its length with --limit)."""
    if as_json:
        print(json.dumps([_flow_doc(f) for f in page.flows], indent=2), file=out)
        return 0
    for f in page.flows:
        why = f"  {f.last_error}" if f.last_error else ""
        print(f"{f.id:<44} {f.kind:<9} {f.status.value:<10} {f.step:<14}{why}", file=out)
    if page.more:
        print(
            f"{len(page.flows)} of {page.total} flows, the newest; see more with --limit, "
            "or narrow with --state",
            file=out,
        )
    else:
        print(f"{page.total} flows", file=out)
    return 0


def _show(flow: Flow, as_json: bool, out: TextIO) -> int:
    doc = _flow_doc(flow)
    if as_json:
        print(json.dumps(doc, indent=2), file=out)
        return 0
    for key, value in doc.items():
        print(f"{key:<12} {value}", file=out)
    return 0


def _attention(items: list[AttentionItem], as_json: bool, out: TextIO) -> int:
    if as_json:
        doc = [
            {
                "kind": i.kind,
                "subject": i.subject,
                "message": i.message,
                "since": i.since,
                "count": i.count,
                "alert_id": i.alert_id,
            }
            for i in items
        ]
        print(json.dumps(doc, indent=2), file=out)
        return 0
    for i in items:
        times = f" (x{i.count})" if i.count > 1 else ""
        print(f"{i.kind:<20} {i.subject:<36} {i.message}{times}", file=out)
    if not items:
        print("nothing needs attention", file=out)
        return 0
    print(f"{len(items)} items", file=out)
    print(
        "close one, once handled: paycore attention resolve KIND SUBJECT --store URL --note TEXT",
        file=out,
    )
    return 0


def _foreign(page: CasePage, as_json: bool, out: TextIO) -> int:
    """The foreign intents, found last first: id, status and amount when found, and when
    (milliseconds); a JSON list with --json."""
    if as_json:
        doc = [
            {
                "intent_id": c.provider_intent_id,
                "status": c.provider_status,
                "amount": c.amount,
                "found_at": c.found_at,
            }
            for c in page.cases
        ]
        print(json.dumps(doc, indent=2), file=out)
        return 0
    for c in page.cases:
        print(
            f"{c.provider_intent_id:<36} {c.provider_status:<24} {c.amount:>10}  "
            f"found {c.found_at}",
            file=out,
        )
    shown = (
        f"{len(page.cases)} of {page.total}" if page.total > len(page.cases) else str(page.total)
    )
    print(f"{shown} foreign intents (orphan cases with action foreign), found last first", file=out)
    return 0
