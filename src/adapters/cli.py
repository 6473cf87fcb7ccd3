"""The `paycore` command line: the demo, the chaos harness, the explorer, the catalogs."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence

from paycore.errors import InvalidInput, PaycoreError
from paycore.invariants import INVARIANTS
from paycore.shown import shown_id

from . import cli_check, cli_emulator, cli_ops
from .cli_args import whole
from .cli_errors import SystemRefused
from .demo import DEFAULT_STORE, shop_day
from .stores import STORE_ENV


def _invariants(as_json: bool) -> int:
    rows = [
        {"id": i.id, "kind": i.kind, "statement": i.statement, "findings": list(i.findings)}
        for i in INVARIANTS
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['id']:<30} {r['kind']:<12} {r['statement']}")
    return 0


def _bugs(as_json: bool) -> int:
    from .harness.bugs import BUGS

    rows = [
        {"id": b.id, "finding": b.finding, "expected_invariants": list(b.expected)}
        for b in BUGS.values()
    ]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(f"{r['id']:<4} {', '.join(r['expected_invariants'])}\n     {r['finding']}")
    return 0


def _chaos(args: argparse.Namespace) -> int:
    try:
        from .harness.runner import PROFILES, profile_named, run_chaos
    except ModuleNotFoundError as exc:
        print(f"paycore chaos needs the harness extra: pip install 'paycore[harness]' ({exc})")
        return 2

    _known_bug(args.bug)
    try:
        profile = profile_named(args.profile)  # --profile, or $PAYCORE_PROFILE
    except ValueError as exc:
        raise InvalidInput(str(exc), field="profile") from None
    report = run_chaos(
        seed=args.seed,
        examples=args.examples,
        steps=args.steps,
        bug=args.bug,
        profile=args.profile,
        progress=not args.json,
        store=args.store,
        server=args.server,
        provider=args.provider,
        with_stories=not args.no_stories,
    )
    # A short run (the quick profile, a bug, a budget of one's own) reports coverage
    # without failing on it: it cannot be expected to reach everything.
    short = args.examples is not None or profile == PROFILES["quick"]
    full_run = args.bug is None and not short
    coverage_ok = not full_run or not (report.missing_faults or report.coverage_gaps)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        _print_chaos(report)
    if not report.ok:
        return 1
    if not coverage_ok:
        if report.missing_faults:
            print(f"fault kinds that never fired: {', '.join(report.missing_faults)}")
        for gap in report.coverage_gaps:
            print(f"coverage: {gap}")
        return 1
    return 0


def _print_chaos(report: object) -> None:
    from .harness.runner import ChaosReport

    assert isinstance(report, ChaosReport)
    r = report
    print(
        f"paycore chaos: seed {r.seed}, {r.examples_run} examples of up to {r.steps} steps"
        + (f", seeded bug {r.bug}" if r.bug else "")
    )
    print(f"  rules run            {r.rules:>8}   ({r.steps_per_second:,.0f} per second)")
    print(f"  invariant checks     {r.checks:>8}")
    shown = ("operations", "steps", "webhooks", "jobs", "crashes", "races", "service_calls")
    for key in (*shown, "dashboard_refunds"):
        print(f"  {key:<20} {r.counts.get(key, 0):>8}")
    print("  faults fired:")
    for kind, n in r.faults.items():
        print(f"    {kind:<30} {n:>6}")
    for kind, n in sorted(r.counts.items()):
        if kind.startswith("wire_"):  # over HTTP: faults on the wire (paycore chaos --provider)
            print(f"    {kind:<30} {n:>6}")
    answers = {k: n for k, n in sorted(r.counts.items()) if k.startswith("stripe_")}
    if answers:  # over HTTP: the Stripe intake's answers to the world's deliveries
        print("  webhooks through the Stripe intake:")
        for kind, n in answers.items():
            print(f"    {kind:<30} {n:>6}")
    print("  flow steps reached:")
    for name, n in r.steps_reached.items():
        print(f"    {name:<30} {n:>6}")
    print("  transitions reached:")
    for name, n in r.transitions_reached.items():
        print(f"    {name:<48} {n:>6}")
    for gap in r.coverage_gaps:
        print(f"  coverage gap: {gap}")
    if r.error:
        print(f"\nUNEXPECTED ERROR: {r.error}")
    for v in r.violations:
        print(f"\nVIOLATED ({v.phase}): [{v.invariant}] {v.subject}: {v.detail}")
        print("timeline of the shrunk counterexample:")
        for line in v.timeline:
            print(f"  {line}")
    if not r.ok:
        print(f"\nreplay: {r.replay}")
        if r.time_to_detection_s is not None:
            print(f"first detected after {r.time_to_detection_s:.1f} s")
    else:
        print("\nno invariant violated")


def _known_bug(bug: str | None) -> None:
    """Refuse an unknown ``--bug`` before anything runs: one line, exit 2."""
    from .harness.bugs import BUGS

    if bug is not None and bug not in BUGS:
        raise InvalidInput(
            f"no seeded bug {shown_id(bug)}: use one of {', '.join(BUGS)} (`paycore bugs`)",
            field="bug",
        )


def _explore(args: argparse.Namespace) -> int:
    from .harness.explore import explore

    _known_bug(args.bug)
    report = explore(flows=args.flows, faults=args.faults, bug=args.bug)
    doc = report.as_json()
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(
            f"paycore explore: {args.flows} flows, up to {args.faults} faults"
            + (f", seeded bug {args.bug}" if args.bug else "")
        )
        for key in ("states_generated", "distinct_states", "schedules", "depth", "complete"):
            print(f"  {key:<18} {doc.get(key)}")
        print(f"  {'elapsed_s':<18} {doc.get('elapsed_s')}")
        for v in doc["violations"][:5]:
            print(f"\nVIOLATED: [{v['invariant']}] {v.get('detail', '')}")
            for line in v.get("trace", []):
                print(f"  {line}")
        if not doc["violations"]:
            print("\nno invariant violated")
    return 1 if doc["violations"] or not doc.get("complete", False) else 0


def _bug_help() -> str:
    """``--bug``'s help: the catalog's names, runs of one letter shortened (S1-S18, I11)."""
    from .harness.bugs import BUGS

    runs: list[list[tuple[str, int]]] = []
    for name in BUGS:
        letter, number = name[0], int(name[1:])
        if runs and runs[-1][-1] == (letter, number - 1):
            runs[-1].append((letter, number))
        else:
            runs.append([(letter, number)])
    shown = [f"{r[0][0]}{r[0][1]}" + (f"-{r[-1][0]}{r[-1][1]}" if len(r) > 1 else "") for r in runs]
    return f"switch on one seeded bug: {', '.join(shown)} (`paycore bugs` says what each is)"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every `paycore` command (the docs' examples are checked
    against it)."""
    parser = argparse.ArgumentParser(prog="paycore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run a scripted shop day and check every invariant")
    demo.add_argument(
        "--store",
        default=DEFAULT_STORE,
        help=f"where the made-up shop lives: sqlite:PATH (each run its next day), memory "
        f"or json:PATH (default: {DEFAULT_STORE}; never ${STORE_ENV}, never PostgreSQL)",
    )
    demo.add_argument(
        "--force",
        action="store_true",
        help="save the shop over a json:PATH file the demo did not write (a report, say)",
    )
    inv = sub.add_parser("invariants", help="list the invariant catalog")
    inv.add_argument("--json", action="store_true")
    bugs = sub.add_parser("bugs", help="list the seeded-bug catalog")
    bugs.add_argument("--json", action="store_true")
    chaos = sub.add_parser("chaos", help="run the model-based chaos harness")
    chaos.add_argument("--seed", type=int, default=0)
    chaos.add_argument("--examples", type=whole(1), default=None)
    chaos.add_argument("--steps", type=whole(1), default=None)
    chaos.add_argument("--bug", default=None, help=_bug_help())
    chaos.add_argument("--no-stories", action="store_true", help="random actions only")
    chaos.add_argument(
        "--profile", default=None, help="default, nightly or quick (or set PAYCORE_PROFILE)"
    )
    chaos.add_argument(
        "--store",
        default="memory",
        choices=("memory", "sqlite", "postgresql"),
        help="what paycore runs on",
    )
    chaos.add_argument(
        "--server",
        default=os.environ.get("PAYCORE_HARNESS_POSTGRES") or None,
        help="with --store postgresql: a connection string to a server's maintenance "
        "database, where a database per example is made and dropped "
        "(default: $PAYCORE_HARNESS_POSTGRES)",
    )
    chaos.add_argument(
        "--provider",
        default="fake",
        choices=("fake", "emulator"),
        help="what paycore talks to: the fake in memory, or the Stripe adapter over HTTP "
        "to paycore's emulator, with faults on the wire",
    )
    chaos.add_argument("--json", action="store_true")
    exp = sub.add_parser("explore", help="explore every interleaving of a small scenario")
    exp.add_argument("--flows", type=whole(1), default=2)
    exp.add_argument("--faults", type=whole(0), default=1)
    exp.add_argument("--bug", default=None, help=_bug_help())
    exp.add_argument("--json", action="store_true")
    cli_ops.add_parsers(sub)
    cli_check.add_parser(sub)
    cli_emulator.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; its exit status: 0 done, 1 an invariant violated (demo, check,
    chaos, explore), 2 the command could not run (a usage error, a store or file that
    cannot be opened, a port taken: one line on stderr; or an unexpected error, with its
    traceback on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        return _command(args)
    except PaycoreError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
    except OSError as exc:
        refused = SystemRefused.of(exc)
        print(f"error: {refused.code}: {refused.message}", file=sys.stderr)
    except Exception:  # a bug: never exit 1, which says invariants were violated
        print("error: paycore failed unexpectedly:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
    return 2


def _command(args: argparse.Namespace) -> int:
    if args.command == "demo":
        return 1 if shop_day(sys.stdout, args.store, force=args.force) else 0
    if args.command in ("flows", "attention"):
        return cli_ops.run(args, sys.stdout)
    if args.command == "migrate":
        return cli_ops.migrate(args, sys.stdout)
    if args.command == "check":
        return cli_check.check(args, sys.stdout)
    if args.command == "bugs":
        return _bugs(args.json)
    if args.command == "chaos":
        return _chaos(args)
    if args.command == "explore":
        return _explore(args)
    if args.command == "emulator":
        return cli_emulator.run(args, sys.stdout)
    return _invariants(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
