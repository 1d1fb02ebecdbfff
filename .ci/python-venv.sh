#!/usr/bin/env bash
# Usage: .ci/python-venv.sh DIR
# Creates a virtualenv in DIR with the pinned packages of .ci/requirements-interop.txt (the providers' own
# libraries that the interop test drives through HOOKGUARD_PYTHON=DIR/bin/python). Idempotent: when DIR already
# holds exactly those versions it does nothing.
set -euo pipefail
if [ $# -ne 1 ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
dir=$1
requirements="$(cd "$(dirname "$0")" && pwd)/requirements-interop.txt"
python=${PYTHON:-python3}

# Every `name==version` line of the requirements, as pip prints them (lower case, `-` for `_`).
wanted() {
  grep -E '^[A-Za-z0-9_.-]+==' "$requirements" | tr 'A-Z_' 'a-z-' | sort
}

installed() {
  "$dir/bin/python" -m pip list --format=freeze --disable-pip-version-check 2>/dev/null | tr 'A-Z_' 'a-z-' | sort
}

if [ -x "$dir/bin/python" ] && [ -z "$(comm -23 <(wanted) <(installed))" ]; then
  echo "python-venv: $dir already has $(wanted | tr '\n' ' ')"
  exit 0
fi

if [ ! -x "$dir/bin/python" ]; then
  "$python" -m venv "$dir"
fi
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
missing=$(comm -23 <(wanted) <(installed))
if [ -n "$missing" ]; then
  echo "python-venv: still missing after install: $missing" >&2
  exit 1
fi
echo "python-venv: installed $(wanted | tr '\n' ' ')into $dir"
