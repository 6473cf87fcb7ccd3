"""Tally a mutmut 3 run per source file from its ``mutants/**/*.meta`` files.

Run in the scratch copy, during or after a run:

    .venv/bin/python tools/mutation/tally.py            # per-file table
    .venv/bin/python tools/mutation/tally.py --list     # plus every mutant not killed

The statuses are mutmut's own (its ``status_by_exit_code``); equivalence judgments
are made by reading each survivor and are not known here.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

STATUS = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    33: "no tests",
    34: "skipped",
    36: "timeout",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    37: "type check",
    None: "not run",
}
COLUMNS = ("killed", "survived", "no tests", "timeout", "not run", "other")


def status(code: int | None) -> str:
    return STATUS.get(code, "other")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--list", action="store_true", help="list every mutant not killed")
    parser.add_argument("root", nargs="?", default="mutants/src")
    args = parser.parse_args()
    total: Counter[str] = Counter()
    rows: list[tuple[str, int, Counter[str]]] = []
    missed: list[tuple[str, str]] = []
    for meta in sorted(Path(args.root).rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        tally = Counter(status(c) for c in codes.values())
        name = str(meta.relative_to(args.root))[: -len(".meta")]
        rows.append((name, len(codes), tally))
        total.update(tally)
        missed += [(k, status(c)) for k, c in codes.items() if status(c) != "killed"]
    print("| file | mutants | " + " | ".join(COLUMNS) + " |")
    print("|---|---:|" + "---:|" * len(COLUMNS))
    for name, n, tally in rows:
        print(f"| {name} | {n} | " + " | ".join(str(tally[c]) for c in COLUMNS) + " |")
    n_all = sum(n for _, n, _ in rows)
    print(f"| total | {n_all} | " + " | ".join(str(total[c]) for c in COLUMNS) + " |")
    if args.list:
        for key, st in missed:
            if st != "not run":
                print(f"{st}: {key}")


if __name__ == "__main__":
    main()
