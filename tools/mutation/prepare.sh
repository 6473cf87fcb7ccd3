#!/usr/bin/env bash
# Make a scratch copy of HEAD ready for mutmut: `tools/mutation/prepare.sh DIR`.
# Then, in DIR:  PAYCORE_PROFILE=quick .venv/bin/mutmut run --max-children 2
# mutmut writes ./mutants/ and rewrites nothing in the working tree; see docs/mutation.md.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
dest="${1:?usage: prepare.sh DIR}"
mkdir -p "$dest"
git -C "$here" archive HEAD | tar -x -C "$dest"
cd "$dest"
python3 -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
.venv/bin/pip install --quiet -e '.[test]' -c constraints.txt
.venv/bin/pip install --quiet mutmut -c constraints.txt -c tools/mutation/constraints.txt
for f in src/paycore/invariants/*.py; do .venv/bin/python tools/mutation/undecorate.py "$f"; done
echo "ready: cd $dest && PAYCORE_PROFILE=quick .venv/bin/mutmut run --max-children 2"
