"""The `paycore` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from paycore.invariants import INVARIANTS

from .demo import shop_day


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="paycore", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="run a scripted shop day in memory and check every invariant")
    inv = sub.add_parser("invariants", help="list the invariant catalog")
    inv.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return 1 if shop_day(sys.stdout) else 0
    return _invariants(args.json)


if __name__ == "__main__":
    raise SystemExit(main())
