#!/usr/bin/env bash
# npm run test:busy: the README's test command (npm test) beside a CPU hog, the way a busy CI
# runner sees it. The hog is Debian's stress-ng (.ci/run installs it), two CPU workers by
# default (STAMPEDE_HOG_CPUS to change). It is stopped whatever happens, and the exit status
# is the suite's. Extra arguments go to npm test (for instance a test file).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

if ! command -v stress-ng >/dev/null 2>&1; then
  echo "test:busy: stress-ng is missing; install it (Debian: apt-get install stress-ng) and run again" >&2
  exit 2
fi

cpus="${STAMPEDE_HOG_CPUS:-2}"
# --timeout bounds the hog even if this script is killed without running its trap.
stress-ng --cpu "$cpus" --timeout 2h --quiet &
hog=$!
# shellcheck disable=SC2317 # called by the traps
stop_hog() {
  if kill -0 "$hog" 2>/dev/null; then
    kill -TERM "$hog" 2>/dev/null
    wait "$hog" 2>/dev/null
  fi
}
trap stop_hog EXIT
trap 'stop_hog; exit 130' INT
trap 'stop_hog; exit 143' TERM

echo "test:busy: npm test beside stress-ng --cpu $cpus (pid $hog) on $(nproc) cores"
started=$(date +%s)
npm test -- "$@"
code=$?
echo "test:busy: npm test exited $code after $(($(date +%s) - started)) s beside the hog"
exit "$code"
