"""Time to detection of every seeded bug (S1-S18) with the harness's default settings.

For each bug the default profile runs with seed 0, then 1, 2, ... (shrinking off) until a
run reports a violation of one of the bug's expected invariants, up to ``--seeds`` runs.
Time to detection is the wall-clock time of every run it took, the missed ones included,
up to the first violation of the catching run (``ChaosReport.time_to_detection_s``).
A bug no run catches counts as not detected.

Usage::

    .venv/bin/python benchmarks/bug_detection.py [--seeds N] [--bug S5 ...] [--json]

Prints one line per bug, then the median and the maximum; exit 1 if any bug went
undetected. Timing is reported, never asserted: these machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass

from paycore_adapters.harness.bugs import BUGS
from paycore_adapters.harness.runner import run_chaos


@dataclass
class Detection:
    bug: str
    detected: bool
    seconds: float  # every run it took, up to the first violation of the catching one
    runs: int
    seed: int | None
    invariants: list[str]


def detect(bug: str, seeds: int) -> Detection:
    spent = 0.0
    expected = set(BUGS[bug].expected)
    for seed in range(seeds):
        started = time.perf_counter()
        report = run_chaos(seed=seed, bug=bug, shrink=False)
        found = sorted({v.invariant for v in report.violations} & expected)
        if found and report.time_to_detection_s is not None:
            return Detection(bug, True, spent + report.time_to_detection_s, seed + 1, seed, found)
        spent += time.perf_counter() - started
    return Detection(bug, False, spent, seeds, None, [])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4, help="runs per bug at most (default 4)")
    parser.add_argument("--bug", action="append", choices=sorted(BUGS), help="only these bugs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    bugs = args.bug or sorted(BUGS, key=lambda b: int(b[1:]))
    results = []
    for bug in bugs:
        d = detect(bug, args.seeds)
        results.append(d)
        if not args.json:
            where = f"seed {d.seed} ({d.runs} run(s))" if d.detected else "NOT DETECTED"
            print(f"{bug:<4} {d.seconds:7.2f} s  {where:<18} {', '.join(d.invariants)}")
            sys.stdout.flush()
    times = [d.seconds for d in results if d.detected]
    summary = {
        "profile": os.environ.get("PAYCORE_PROFILE", "default"),
        "cpus": os.cpu_count(),
        "detected": len(times),
        "bugs": len(results),
        "median_s": round(statistics.median(times), 3) if times else None,
        "max_s": round(max(times), 3) if times else None,
    }
    if args.json:
        print(json.dumps({"summary": summary, "bugs": [asdict(d) for d in results]}, indent=2))
    else:
        print(
            f"detected {summary['detected']} of {summary['bugs']}; "
            f"median {summary['median_s']} s, max {summary['max_s']} s "
            f"(profile {summary['profile']}, {summary['cpus']} CPUs)"
        )
    return 0 if len(times) == len(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
