"""A mutation score from a seeded uniform sample of the mutants, with its interval.

A full run of every mutant takes a day on a two-core machine. A uniform random sample
estimates the same score (the share of non-equivalent mutants the suite kills) with a
known error: a mutant is drawn without regard to its file, its function or how long its
tests take. The sample is a fixed permutation of every mutant name, made from a seed, and
the mutants are run in chunks along it; whatever has run is a prefix of the permutation,
so stopping at any chunk leaves a uniform sample.

Run in the scratch copy (after a first ``mutmut run`` has written ``mutants/``)::

    .venv/bin/python tools/mutation/sample.py order --seed 20261205 > sample.txt
    while names=$(.venv/bin/python tools/mutation/sample.py next sample.txt --size 100); \
        [ -n "$names" ]; do PAYCORE_PROFILE=quick .venv/bin/mutmut run $names; done
    .venv/bin/python tools/mutation/sample.py tally sample.txt --judged tools/mutation/judgments.txt

``tally`` counts the longest prefix of the permutation in which every mutant has a
result, and prints the score with a 95 % Wilson interval. A survivor counts against the
score unless ``--judged`` names it equivalent or invalid (see ``tally.py``). A timeout
counts as killed (a test run that never ends fails CI too) and is listed, to be run
again by name: a run paused or starved by other work also times out.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections import Counter
from pathlib import Path

from tally import judgments, status  # type: ignore[import-not-found]

#: z for a two-sided 95 % interval.
Z95 = 1.959964


def results(root: str = "mutants") -> dict[str, int | None]:
    """Every mutant's exit code (None: not run), from mutmut's ``*.py.meta`` files."""
    codes: dict[str, int | None] = {}
    for meta in Path(root).rglob("*.py.meta"):
        codes.update(json.loads(meta.read_text())["exit_code_by_key"])
    return codes


def order(names: list[str], seed: int) -> list[str]:
    """The permutation of ``names`` that ``seed`` draws (the same on every machine)."""
    shuffled = sorted(names)
    random.Random(seed).shuffle(shuffled)
    return shuffled


def prefix(permutation: list[str], codes: dict[str, int | None]) -> list[str]:
    """The names of the longest prefix in which every mutant has a result; a name with
    no mutant any more (its function was rewritten) is passed over."""
    done: list[str] = []
    for name in permutation:
        if name not in codes:
            continue
        if codes[name] is None:
            break
        done.append(name)
    return done


def following(permutation: list[str], codes: dict[str, int | None], size: int) -> list[str]:
    """The next ``size`` mutants along the permutation that have no result yet."""
    todo = [n for n in permutation if n in codes and codes[n] is None]
    return todo[:size]


def wilson(killed: int, counted: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``killed / counted``."""
    if counted == 0:
        return 0.0, 1.0
    p = killed / counted
    centre = p + z * z / (2 * counted)
    spread = z * math.sqrt(p * (1 - p) / counted + z * z / (4 * counted * counted))
    scale = 1 + z * z / counted
    return (centre - spread) / scale, (centre + spread) / scale


def tally(permutation: list[str], codes: dict[str, int | None], judged: dict[str, str]) -> str:
    done = prefix(permutation, codes)
    seen: Counter[str] = Counter()
    open_ones: list[str] = []
    for name in done:
        st = status(codes[name])
        if st == "survived" and judged.get(name) in ("equivalent", "invalid"):
            st = str(judged[name])
        seen[st] += 1
        if st in ("survived", "timeout", "no tests", "other"):
            open_ones.append(f"{st}: {name}")
    killed = seen["killed"] + seen["timeout"]
    counted = killed + seen["survived"] + seen["no tests"] + seen["other"]
    low, high = wilson(killed, counted)
    score = f"score: {killed} of {counted} non-equivalent mutants killed"
    if counted:
        score += f" = {100 * killed / counted:.1f} %"
        score += f" (95 % interval {100 * low:.1f} to {100 * high:.1f} %)"
    lines = [
        f"sample: the first {len(done):,} of {len(permutation):,} mutants "
        f"({len(permutation) - len(done):,} not in the sample yet)",
        "  " + ", ".join(f"{k} {v}" for k, v in sorted(seen.items())),
        score,
    ]
    return "\n".join(lines + open_ones)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_order = sub.add_parser("order", help="print the seeded permutation of every mutant")
    p_order.add_argument("--seed", type=int, required=True)
    p_next = sub.add_parser("next", help="print the next chunk of mutants to run")
    p_next.add_argument("permutation")
    p_next.add_argument("--size", type=int, default=100)
    p_tally = sub.add_parser("tally", help="the score of the sample run so far")
    p_tally.add_argument("permutation")
    p_tally.add_argument("--judged", help="file of equivalence judgments (tally.py's)")
    for p in (p_order, p_next, p_tally):
        p.add_argument("--root", default="mutants", help="where mutmut's results are")
    args = parser.parse_args()
    codes = results(args.root)
    if args.command == "order":
        print("\n".join(order(list(codes), args.seed)))
        return
    permutation = Path(args.permutation).read_text().split()
    if args.command == "next":
        print(" ".join(following(permutation, codes, args.size)))
    else:
        print(tally(permutation, codes, judgments(args.judged) if args.judged else {}))


if __name__ == "__main__":
    main()
