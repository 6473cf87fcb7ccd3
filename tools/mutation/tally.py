"""Tally a mutmut 3 run per source file from its ``mutants/**/*.meta`` files.

Run in the scratch copy, during or after a run:

    .venv/bin/python tools/mutation/tally.py            # per-file table of mutmut's statuses
    .venv/bin/python tools/mutation/tally.py --list     # plus every mutant run and not killed
    .venv/bin/python tools/mutation/tally.py --judged tools/mutation/judgments.txt
                                                        # the table of docs/mutation.md

The statuses are mutmut's own (its ``status_by_exit_code``). Equivalence is a judgment
made by reading each survivor; ``--judged`` takes them from a file of lines
``<mutant name> <equivalent|invalid> <group>`` (``#`` starts a comment) and counts a
judged mutant only if it survived.
"""

from __future__ import annotations

import argparse
import json
import math
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


def load(root: str) -> dict[str, dict[str, str]]:
    """Per source file (relative to ``root``), each mutant's status."""
    files: dict[str, dict[str, str]] = {}
    for meta in sorted(Path(root).rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        if codes:
            name = str(meta.relative_to(root))[: -len(".meta")]
            files[name] = {k: status(c) for k, c in codes.items()}
    return files


def judgments(path: str) -> dict[str, str]:
    judged: dict[str, str] = {}
    for line in Path(path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, verdict = line.split()[:2]
            judged[name] = verdict
    return judged


def raw_table(files: dict[str, dict[str, str]], listed: bool) -> None:
    total: Counter[str] = Counter()
    print("| file | mutants | " + " | ".join(COLUMNS) + " |")
    print("|---|---:|" + "---:|" * len(COLUMNS))
    for name, mutants in files.items():
        tally = Counter(mutants.values())
        total.update(tally)
        print(f"| {name} | {len(mutants)} | " + " | ".join(str(tally[c]) for c in COLUMNS) + " |")
    n_all = sum(len(m) for m in files.values())
    print(f"| total | {n_all} | " + " | ".join(str(total[c]) for c in COLUMNS) + " |")
    if listed:
        for mutants in files.values():
            for key, st in mutants.items():
                if st not in ("killed", "not run"):
                    print(f"{st}: {key}")


def judged_table(files: dict[str, dict[str, str]], judged: dict[str, str]) -> None:
    head = "mutants | run | killed | survived | invalid | equivalent | not killed | score"
    print(f"| file | {head} |")
    print("|---|" + "---:|" * 8)
    total: Counter[str] = Counter()
    for name, mutants in files.items():
        row: Counter[str] = Counter(mutants=len(mutants))
        for key, st in mutants.items():
            if st == "not run":
                continue
            row["run"] += 1
            if st == "killed":
                row["killed"] += 1
                continue
            row["survived"] += 1
            verdict = judged.get(key)
            if verdict in ("equivalent", "invalid"):
                row[verdict] += 1
            else:
                row["not killed"] += 1
        total.update(row)
        print(_judged_row(name, row))
    print(_judged_row("**total**", total))


def _judged_row(name: str, row: Counter[str]) -> str:
    counted = row["run"] - row["invalid"] - row["equivalent"]
    # rounded down, so that a score short of 100 % never prints as 100.0 %
    score = f"{math.floor(1000 * row['killed'] / counted) / 10:.1f} %" if counted else "not run"
    cells = ("mutants", "run", "killed", "survived", "invalid", "equivalent", "not killed")
    return f"| {name} | " + " | ".join(f"{row[c]:,}" for c in cells) + f" | {score} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--list", action="store_true", help="list every mutant not killed")
    parser.add_argument("--judged", help="file of equivalence judgments: the doc's table")
    parser.add_argument("root", nargs="?", default="mutants/src")
    args = parser.parse_args()
    files = load(args.root)
    if args.judged:
        judged_table(files, judgments(args.judged))
    else:
        raw_table(files, args.list)


if __name__ == "__main__":
    main()
