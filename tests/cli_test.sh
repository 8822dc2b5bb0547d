#!/bin/sh
# CLI tests: runs the eqlint program the way users and CI scripts do and checks exit codes
# and output shapes. One case per ctest test (tests/CMakeLists.txt lists them).
#
# usage: sh tests/cli_test.sh PATH/TO/eqlint CASE     (from the repository root)
#
# Under the ASan build every case doubles as a memory check: a leak changes the exit
# status, and any sanitizer report on stderr fails the case. Exit 77 means "skipped" (no
# pseudo-terminal tool for the colour-on-a-terminal case).
set -u

EQLINT=$1
CASE=$2
DATA=tests/data
TMP=$(mktemp -d "${TMPDIR:-/tmp}/eqlint-cli.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_lib.sh"
ESC=$(printf '\033')
# The colour cases decide NO_COLOR and TERM themselves.
unset NO_COLOR
TERM=xterm-256color
export TERM
# A concise line: path:line:col: EQXnnn message
CONCISE_RE='^[^:]+:[0-9]+:[0-9]+: EQX[0-9]{3} .+$'

no_esc() { ! grep -q "$ESC" "$TMP/out" || fail "stdout has ESC bytes (colour)"; }
has_esc() { grep -q "$ESC" "$TMP/out" || fail "stdout has no ESC bytes (no colour)"; }
all_concise() {
  [ -s "$TMP/out" ] || fail "no diagnostics printed"
  bad=$(grep -Ev -- "$CONCISE_RE" "$TMP/out" | head -n 3)
  [ -z "$bad" ] || fail "lines not in the concise shape: $bad"
}

# on_tty CMD: runs CMD (a shell command line) with stdout on a pseudo-terminal.
on_tty() {
  command -v script >/dev/null 2>&1 || { echo "SKIP: no script(1) for a pty"; exit 77; }
  script -qec "$1" /dev/null >"$TMP/out" 2>"$TMP/err" </dev/null
  RC=$?
  no_sanitizer_report "$TMP/out" "$TMP/err"
}

case $CASE in
  exit_clean)
    run check "$DATA/clean.py"; rc_is 0; out_has '^All checks passed!$' ;;
  exit_found)
    run check "$DATA/pitfall.py"; rc_is 1
    out_has "^$DATA/pitfall.py:17:[0-9]+: EQX001 \\[error\\] " ;;
  syntax_error)
    run check --format concise "$DATA/broken.py"; rc_is 1
    out_has "^$DATA/broken.py:3:[0-9]+: EQX999 " ;;
  no_subcommand)
    run; rc_is 2; err_has 'Usage: eqlint' ;;
  unknown_command)
    run frobnicate; rc_is 2; err_has "unknown command 'frobnicate'"
    run "$DATA/clean.py"; rc_is 2; err_has "eqlint check $DATA/clean.py" ;;
  unknown_option)
    run check --frobnicate "$DATA/clean.py"; rc_is 2; err_has "unknown option '--frobnicate'"
    err_has "eqlint check --help"
    run check -z "$DATA/clean.py"; rc_is 2; err_has "unknown option '-z'"
    run --frobnicate; rc_is 2; err_has "unknown option '--frobnicate'" ;;
  missing_value)
    run check "$DATA/clean.py" --select; rc_is 2; err_has "'--select' needs a value" ;;
  bad_format)
    run check --format xml "$DATA/clean.py"; rc_is 2; err_has "unknown format 'xml'"; out_empty ;;
  bad_color)
    run check --color sometimes "$DATA/clean.py"; rc_is 2; err_has "'sometimes'" ;;
  select_unknown)
    run check --select EQX001,EQX404 "$DATA/pitfall.py"; rc_is 2; err_has "'EQX404'"
    err_has 'eqlint rule --all'; out_empty ;;
  ignore_unknown)
    run check --ignore NOPE "$DATA/pitfall.py"; rc_is 2; err_has "--ignore.*'NOPE'"; out_empty ;;
  missing_alone)
    run check "$DATA/no-such-file.py"; rc_is 2
    err_has "^eqlint: error: cannot read $DATA/no-such-file.py: No such file or directory$"
    out_empty ;;
  missing_plus_good)
    run check --format concise "$DATA/no-such-file.py" "$DATA/pitfall.py"; rc_is 1
    err_has "cannot read $DATA/no-such-file.py"; out_has "^$DATA/pitfall.py:17:[0-9]+: EQX001 " ;;
  missing_plus_clean)
    run check "$DATA/no-such-dir" "$DATA/clean.py"; rc_is 0; err_has "cannot read $DATA/no-such-dir"
    out_has '^All checks passed!$' ;;
  empty_dir)
    mkdir "$TMP/empty"; run check "$TMP/empty"; rc_is 0; err_has 'no Python files found' ;;
  directory)
    # model.py and train.py are checked together (train imports Net from model); the
    # hidden .cache/ directory holding a copy of pitfall.py is skipped.
    run check --format concise "$DATA/project"; rc_is 1; all_concise
    out_has "^$DATA/project/train.py:8:[0-9]+: EQX001 "
    out_lacks '\.cache' ;;
  concise_shape)
    run check --format concise "$DATA/pitfall.py" "$DATA/broken.py"; rc_is 1; all_concise
    out_lacks '^Found' ;;
  options_after_paths)
    run check "$DATA/pitfall.py" --format concise --select EQX001; rc_is 1; all_concise
    out_lacks 'EQX003'
    run check -- "$DATA/pitfall.py"; rc_is 1; out_has '^Found [0-9]+ diagnostics? \('
    # POSIXLY_CORRECT stops getopt from reordering; options after paths must still work.
    POSIXLY_CORRECT=1
    export POSIXLY_CORRECT
    run check "$DATA/pitfall.py" --format concise --select EQX001; rc_is 1; all_concise
    out_lacks 'EQX003'
    run check --format concise -- "$DATA/clean.py" --not-an-option; rc_is 0; out_empty
    err_has 'cannot read --not-an-option' ;;
  full_summary)
    run check "$DATA/pitfall.py"; rc_is 1
    out_has '^Found [0-9]+ diagnostics? \([0-9]+ errors?(, [0-9]+ warnings?)?(, [0-9]+ info)?\)\.$'
    out_has '^ *[0-9]+ \| state = optim\.init\(model\)$'
    out_has '^ *\| +\^+$' ;;
  no_summary)
    run check --no-summary "$DATA/pitfall.py"; rc_is 1; out_lacks '^Found'
    run check --no-summary "$DATA/clean.py"; rc_is 0; out_empty ;;
  select_only)
    run check --format concise --select EQX003 "$DATA/pitfall.py"; rc_is 1; all_concise
    out_has ' EQX003 '; out_lacks ' EQX001 ' ;;
  ignore_code)
    run check --format concise --ignore EQX001 "$DATA/pitfall.py"; rc_is 1; all_concise
    out_has ' EQX003 '; out_lacks ' EQX001 ' ;;
  ignore_prefix)
    # EQX0 covers every pitfall rule; what is left (syntax errors) has nothing to say here.
    run check --ignore EQX0 "$DATA/pitfall.py"; rc_is 0; out_has '^All checks passed!$' ;;
  select_then_ignore)
    run check --ignore EQX001 --select EQX001 "$DATA/pitfall.py"; rc_is 0
    run check --select ALL --ignore eqx003 --format concise "$DATA/pitfall.py"; rc_is 1
    out_has ' EQX001 '; out_lacks ' EQX003 ' ;;
  select_repeated)
    run check --format concise --select EQX001 --select EQX003 "$DATA/pitfall.py"; rc_is 1
    out_has ' EQX001 '; out_has ' EQX003 ' ;;
  rule_doc)
    run rule EQX001; rc_is 0; out_has '^# EQX001 optimizer-init-unfiltered$'
    out_has '^## What it does'; out_has 'Severity: error'
    run rule eqx001; rc_is 0; out_has '^# EQX001 ' ;;
  rule_by_name)
    run rule optimizer-init-unfiltered; rc_is 0; out_has '^# EQX001 optimizer-init-unfiltered$' ;;
  rule_unknown)
    run rule EQX404; rc_is 2; err_has "unknown rule 'EQX404'"; err_has 'eqlint rule --all'
    out_empty ;;
  rule_all)
    run rule --all; rc_is 0
    out_has '^code +name +severity +summary$'
    out_has '^EQX001 +optimizer-init-unfiltered +error +optax'
    out_has '^EQX999 +syntax-error +error +'
    # Aligned: the name column starts at the same offset on every line.
    cols=$(awk '{ print index($0, $2) }' "$TMP/out" | sort -u | wc -l)
    [ "$cols" -eq 1 ] || fail "the table is not aligned" ;;
  rule_usage)
    run rule; rc_is 2; err_has 'which rule'
    run rule EQX001 EQX002; rc_is 2
    run rule --all EQX001; rc_is 2
    run rule --help; rc_is 0; out_has 'eqlint rule --all' ;;
  version)
    run --version; rc_is 0; out_has '^eqlint [0-9]+\.[0-9]+\.[0-9]+'
    run version; rc_is 0; out_has '^eqlint [0-9]+\.[0-9]+\.[0-9]+' ;;
  help)
    run --help; rc_is 0; out_has '^Usage: eqlint'; out_has 'check'
    run help; rc_is 0; out_has '^Usage: eqlint'
    run help check; rc_is 0; out_has '--select'
    run check --help; rc_is 0
    for opt in --format --color --select --ignore --no-summary NO_COLOR; do out_has "$opt"; done ;;
  no_color_piped)
    run check --color auto "$DATA/pitfall.py"; rc_is 1; no_esc
    run check "$DATA/pitfall.py"; rc_is 1; no_esc ;;
  no_color_env)
    # On a terminal, auto colours unless NO_COLOR is set (and not empty).
    on_tty "'$EQLINT' check --color auto '$DATA/pitfall.py'"; rc_is 1; has_esc
    on_tty "NO_COLOR=1 '$EQLINT' check --color auto '$DATA/pitfall.py'"; rc_is 1; no_esc
    on_tty "NO_COLOR= '$EQLINT' check '$DATA/pitfall.py'"; rc_is 1; has_esc ;;
  color_always)
    run check --color always "$DATA/pitfall.py"; rc_is 1; has_esc
    run check --color never "$DATA/pitfall.py"; rc_is 1; no_esc ;;
  no_color_beats_auto_only)
    # NO_COLOR decides only for auto: an explicit --color always still colours.
    NO_COLOR=1
    export NO_COLOR
    run check --color always "$DATA/pitfall.py"; rc_is 1; has_esc
    run check --format concise --color always "$DATA/pitfall.py"; rc_is 1; has_esc
    run check --color auto "$DATA/pitfall.py"; rc_is 1; no_esc ;;
  *)
    echo "cli_test.sh: unknown case '$CASE'"; exit 2 ;;
esac
echo "ok [$CASE]"
exit 0
