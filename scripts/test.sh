#!/usr/bin/env bash
# The single test command: installs what the tests need, lints, runs pytest.
# Extra arguments go to pytest, e.g. `scripts/test.sh -k infra -x`.
# Exit code: non-zero if installing or ruff fails; otherwise pytest's own code
# (5 = no tests collected, which counts as a failure: an empty run must not pass).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

bash scripts/install-test-deps.sh
py="$(cat .cache/test-python)"

echo "==> test.sh: ruff check ."
"$py" -m ruff check .

echo "==> test.sh: python -m pytest -q -rs $*"
rc=0
"$py" -m pytest -q -rs "$@" || rc=$?
if [[ $rc -eq 5 ]]; then
    echo "==> test.sh: FAILED: pytest collected no tests (exit code 5)" >&2
fi
echo "==> test.sh: exit code $rc after $((SECONDS - started)) s"
exit "$rc"
