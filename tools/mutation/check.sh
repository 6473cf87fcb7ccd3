#!/usr/bin/env bash
# Check quickly, without touching mutmut's results, whether some tests kill some mutants:
#   tools/mutation/check.sh TESTS MUTANT...      (run in the scratch copy, after `mutmut run`
#                                                  has written ./mutants/)
# TESTS is one pytest argument (a file or a node id). Each mutant is activated through the
# variable mutmut's trampolines read; prints "killed" or "survived" per mutant. The figures
# in docs/mutation.md come from `mutmut run NAME...`, which records the result.
set -euo pipefail
tests="${1:?usage: check.sh TESTS MUTANT...}"
shift
cd mutants
for m in "$@"; do
  if PAYCORE_PROFILE=quick MUTANT_UNDER_TEST="$m" PYTHONPATH=src \
      ../.venv/bin/python -m pytest -q -x -p no:cacheprovider --hypothesis-seed=0 "$tests" \
      >/dev/null 2>&1; then
    echo "survived $m"
  else
    echo "killed   $m"
  fi
done
