#!/bin/sh
# Tests the fixture runner itself on tests/data/fixture_selftest, whose cases are built to
# pass or fail in known ways: a runner that never reports a failure would make every
# fixture look green.
#
# usage: sh tests/fixture_selftest.sh PATH/TO/fixture_runner     (from the repository root)
set -u
RUNNER=$1
DIR=tests/data/fixture_selftest
OUT=$(mktemp "${TMPDIR:-/tmp}/eqlint-selftest.XXXXXX") || exit 2
trap 'rm -f "$OUT"' EXIT
"$RUNNER" "$DIR" >"$OUT" 2>&1
rc=$?
fail() { echo "FAIL: $*"; echo "--- runner output ---"; cat "$OUT"; exit 1; }
[ "$rc" -eq 1 ] || fail "exit status $rc, expected 1"
! grep -Eq 'runtime error:|Sanitizer' "$OUT" || fail "sanitizer report"

# Every line, in order; the diagnostic's message is the rule's business, not the runner's.
expected="$DIR/badcode.py:2: unknown code 'EQX404' in expectation
FAIL $DIR/badcode.py
ok   $DIR/crossfile
ok   $DIR/good.py
$DIR/missing.py:8: missing EQX001
$DIR/missing.py:8: missing EQX001
FAIL $DIR/missing.py
$DIR/twice.py:8: missing EQX001
FAIL $DIR/twice.py
$DIR/unexpected.py:7:9: unexpected EQX001 *
FAIL $DIR/unexpected.py
2 passed, 4 failed"
n=0
echo "$expected" | while IFS= read -r want; do
  n=$((n + 1))
  got=$(sed -n "${n}p" "$OUT")
  # shellcheck disable=SC2254 # the expected line is a pattern on purpose (trailing *)
  case $got in
    $want) ;;
    *) echo "line $n: got '$got', want '$want'"; exit 1 ;;
  esac
done || fail "output differs"
[ "$(wc -l <"$OUT")" -eq "$(echo "$expected" | wc -l)" ] || fail "extra output lines"
echo "ok [fixture runner self-test]"
