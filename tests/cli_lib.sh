# Shared by the CLI test scripts (cli_test.sh, cli_formats_test.sh, cli_config_test.sh,
# cli_fix_test.sh): run the program, keep its output, and check exit status and output.
# The sourcing script sets EQLINT, CASE and TMP first.
#
# Under the ASan build every case doubles as a memory check: a leak changes the exit
# status, and any sanitizer report on stderr fails the case.

show() {
  echo "--- stdout ---"; cat "$TMP/out" 2>/dev/null
  echo "--- stderr ---"; cat "$TMP/err" 2>/dev/null
  echo "--------------"
}
fail() { echo "FAIL [$CASE]: $*"; show; exit 1; }

# A sanitizer report fails the case even when the exit status happens to be the expected
# one (UBSan exits with 1, the same status as "diagnostics reported").
no_sanitizer_report() {
  ! grep -Eq 'runtime error:|(Address|Leak|UndefinedBehavior)Sanitizer' "$@" ||
    fail "sanitizer report"
}
# run ARGS...: runs eqlint, keeping stdout, stderr and the exit status.
run() {
  "$EQLINT" "$@" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  no_sanitizer_report "$TMP/err"
}
# run_stdin FILE ARGS...: like run, with FILE on standard input.
run_stdin() {
  f=$1
  shift
  "$EQLINT" "$@" <"$f" >"$TMP/out" 2>"$TMP/err"
  RC=$?
  no_sanitizer_report "$TMP/err"
}
rc_is() { [ "$RC" -eq "$1" ] || fail "exit status $RC, expected $1"; }
out_has() { grep -Eq -- "$1" "$TMP/out" || fail "stdout lacks /$1/"; }
out_lacks() { ! grep -Eq -- "$1" "$TMP/out" || fail "stdout has /$1/"; }
err_has() { grep -Eq -- "$1" "$TMP/err" || fail "stderr lacks /$1/"; }
err_empty() { [ ! -s "$TMP/err" ] || fail "stderr is not empty"; }
out_empty() { [ ! -s "$TMP/out" ] || fail "stdout is not empty"; }
out_lines() {
  n=$(wc -l <"$TMP/out")
  [ "$n" -eq "$1" ] || fail "$n lines on stdout, expected $1"
}
