#!/bin/sh
# Fixing through the program: --fix, --unsafe-fixes, --diff, --fix-only, fixing standard
# input, exit codes and summaries, and what fixing must never do (write a file it was not
# asked about, touch a file without fixes, leave half a file or a temporary behind).
# The golden before -> after texts are checked in-process by unit_fix; here the cases copy
# those fixtures into a temporary directory and run the real program on them.
#
# usage: sh tests/cli_fix_test.sh PATH/TO/eqlint CASE     (from the repository root)
set -u

EQLINT=$1
CASE=$2
FIX=fixtures/fixes
TMP=$(mktemp -d "${TMPDIR:-/tmp}/eqlint-fix.XXXXXX") || exit 2
trap 'chmod -R u+w "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_lib.sh"
unset NO_COLOR

same() { cmp -s "$1" "$2" || { diff -u "$2" "$1" | head -40; fail "$1 differs from $2"; }; }
# mtime in nanoseconds, and an old one to compare against
mtime() { stat -c %.9Y "$1" 2>/dev/null || stat -c %Y "$1"; }
age() { touch -d '2001-02-03 04:05:06' "$1"; }
# a case's copy in the temporary directory
copy() { mkdir -p "$TMP/w"; cp "$FIX/$1.py" "$TMP/w/$1.py"; }
no_leftovers() {
  extra=$(ls -A "$1" | grep -Ev "$2" || true)
  [ -z "$extra" ] || fail "files left in $1: $extra"
}

case "$CASE" in
  fix_writes)
    copy combined; chmod 640 "$TMP/w/combined.py"
    run check --fix "$TMP/w/combined.py"; rc_is 0
    same "$TMP/w/combined.py" "$FIX/combined.fixed"
    out_has '^Found 3 diagnostics \(3 fixed, 0 remaining\)\.$'
    [ "$(stat -c %a "$TMP/w/combined.py")" = 640 ] || fail "file mode not kept"
    no_leftovers "$TMP/w" '^combined\.py$'
    # fixing again changes nothing, not even the mtime
    age "$TMP/w/combined.py"; before=$(mtime "$TMP/w/combined.py")
    run check --fix "$TMP/w/combined.py"; rc_is 0; out_has '^All checks passed!$'
    [ "$(mtime "$TMP/w/combined.py")" = "$before" ] || fail "a fixed file was written again" ;;
  fix_remaining)
    # fixes applied, others remain: exit 1, the remaining ones reported against the new text
    copy eqx017
    run check --fix --format concise "$TMP/w/eqx017.py"; rc_is 1
    same "$TMP/w/eqx017.py" "$FIX/eqx017.fixed"
    [ "$(wc -l <"$TMP/out")" -eq 2 ] || fail "expected the 2 unfixable diagnostics"
    out_has 'eqx017\.py:18:31: EQX017 `eqx.filter_grad` does not take `argnums=1`'
    out_lacks '\[\*\]' ;;
  untouched)
    # files without fixes keep their bytes and their mtime
    copy eqx003_no_fix; cp tests/data/clean.py "$TMP/w/clean.py"
    age "$TMP/w/eqx003_no_fix.py"; age "$TMP/w/clean.py"
    a=$(mtime "$TMP/w/eqx003_no_fix.py"); b=$(mtime "$TMP/w/clean.py")
    run check --fix --unsafe-fixes "$TMP/w"; rc_is 1
    out_has '^Found 2 diagnostics \(0 fixed, 2 remaining\)\.$'
    same "$TMP/w/eqx003_no_fix.py" "$FIX/eqx003_no_fix.py"
    [ "$(mtime "$TMP/w/eqx003_no_fix.py")" = "$a" ] || fail "unfixable file written"
    [ "$(mtime "$TMP/w/clean.py")" = "$b" ] || fail "clean file written" ;;
  unsafe)
    copy eqx006
    run check "$TMP/w/eqx006.py"; rc_is 1
    out_has '^No fixes available \(1 hidden fix can be enabled with the `--unsafe-fixes` option\)\.$'
    out_lacks '\[\*\]'
    run check --fix "$TMP/w/eqx006.py"; rc_is 1
    same "$TMP/w/eqx006.py" "$FIX/eqx006.py"
    run check --unsafe-fixes --format concise "$TMP/w/eqx006.py"; rc_is 1; out_has ' EQX006 \[\*\] '
    run check --fix --unsafe-fixes "$TMP/w/eqx006.py"; rc_is 0
    same "$TMP/w/eqx006.py" "$FIX/eqx006.unsafe-fixed"
    # --no-unsafe-fixes after --unsafe-fixes wins (the last word, as in Ruff)
    copy eqx009
    run check --fix --unsafe-fixes --no-unsafe-fixes "$TMP/w/eqx009.py"; rc_is 1
    same "$TMP/w/eqx009.py" "$FIX/eqx009.py" ;;
  markers)
    copy eqx014
    run check "$TMP/w/eqx014.py"; rc_is 1
    out_has '^.*eqx014\.py:8:9: EQX014 \[warning\] \[\*\] '
    out_has '^\[\*\] 2 fixable with the `--fix` option\.$'
    run check --format concise "$TMP/w/eqx014.py"; rc_is 1
    out_has 'eqx014\.py:8:9: EQX014 \[\*\] '
    run check --format sarif "$TMP/w/eqx014.py"; rc_is 1
    python3 - "$TMP/out" <<'EOF' || fail "sarif fixes"
import json, sys
d = json.load(open(sys.argv[1]))
r = d["runs"][0]["results"][0]
rep = r["fixes"][0]["artifactChanges"][0]["replacements"][0]
assert rep["insertedContent"]["text"] == "eqx.is_array", rep
assert rep["deletedRegion"]["startLine"] == 7, rep
assert "is_array" in r["fixes"][0]["description"]["text"]
EOF
    ;;
  diff)
    copy eqx014; age "$TMP/w/eqx014.py"; a=$(mtime "$TMP/w/eqx014.py")
    run check --diff "$TMP/w/eqx014.py"; rc_is 1
    cat >"$TMP/want" <<EOF
--- $TMP/w/eqx014.py
+++ $TMP/w/eqx014.py
@@ -4,6 +4,6 @@
 
 model = eqx.nn.MLP(2, 1, 16, 2, key=jax.random.PRNGKey(0))
 optim = optax.adamw(1e-3)
-params = eqx.filter(model, eqx.is_array_like)
+params = eqx.filter(model, eqx.is_array)
 state = optim.init(params)
-state2 = optim.init(eqx.filter(model, eqx.is_inexact_array_like))
+state2 = optim.init(eqx.filter(model, eqx.is_inexact_array))
EOF
    same "$TMP/out" "$TMP/want"
    err_has '^Would fix 2 diagnostics in 1 file\.$'
    same "$TMP/w/eqx014.py" "$FIX/eqx014.py"
    [ "$(mtime "$TMP/w/eqx014.py")" = "$a" ] || fail "--diff wrote the file"
    # nothing to change: no diff, exit 0
    run check --diff tests/data/clean.py; rc_is 0; out_empty
    # unsafe fixes show in the diff only when asked for
    copy eqx009
    run check --diff "$TMP/w/eqx009.py"; rc_is 0; out_empty
    run check --diff --unsafe-fixes "$TMP/w/eqx009.py"; rc_is 1; out_has '^\+.*eqx\.filter_vmap' ;;
  fix_only)
    copy combined; copy eqx003_no_fix
    run check --fix-only "$TMP/w"; rc_is 0; out_empty
    err_has '^Fixed 3 diagnostics\.$'
    same "$TMP/w/combined.py" "$FIX/combined.fixed"
    same "$TMP/w/eqx003_no_fix.py" "$FIX/eqx003_no_fix.py" ;;
  stdin)
    # an editor pipes its buffer: the fixed text comes back on stdout, the report on stderr
    "$EQLINT" check --fix --stdin-filename src/combined.py <"$FIX/combined.py" \
      >"$TMP/out" 2>"$TMP/err"
    RC=$?; no_sanitizer_report "$TMP/err"; rc_is 0
    same "$TMP/out" "$FIX/combined.fixed"
    err_has 'Found 3 diagnostics \(3 fixed, 0 remaining\)'
    # nothing to fix: the text comes back as it was
    "$EQLINT" check --fix - <"$FIX/eqx003_no_fix.py" >"$TMP/out" 2>"$TMP/err"
    RC=$?; no_sanitizer_report "$TMP/err"; rc_is 1
    same "$TMP/out" "$FIX/eqx003_no_fix.py" ;;
  syntax_error)
    # a file that does not parse is never fixed, and nothing there claims to be fixable
    mkdir -p "$TMP/w"
    { cat "$FIX/eqx014.py"; printf 'def broken(:\n'; } >"$TMP/w/broken.py"
    cp "$TMP/w/broken.py" "$TMP/want"
    run check --fix --format concise "$TMP/w/broken.py"; rc_is 1
    same "$TMP/w/broken.py" "$TMP/want"
    out_has 'EQX999'; out_lacks '\[\*\]' ;;
  outside)
    # lib/ is only read for the index (config `src`); fixing app/ never writes lib/
    mkdir -p "$TMP/p/lib" "$TMP/p/app"
    printf 'src = ["lib"]\n' >"$TMP/p/eqlint.toml"
    cp "$FIX/eqx014.py" "$TMP/p/lib/model.py"
    cp "$FIX/eqx014.py" "$TMP/p/app/train.py"
    age "$TMP/p/lib/model.py"; a=$(mtime "$TMP/p/lib/model.py")
    (cd "$TMP/p" && "$EQLINT" check --fix app) >"$TMP/out" 2>"$TMP/err"
    RC=$?; no_sanitizer_report "$TMP/err"; rc_is 0
    same "$TMP/p/app/train.py" "$FIX/eqx014.fixed"
    same "$TMP/p/lib/model.py" "$FIX/eqx014.py"
    [ "$(mtime "$TMP/p/lib/model.py")" = "$a" ] || fail "lib/model.py was written" ;;
  config)
    # `fix = true` in the configuration makes a plain check fix; --no-fix turns it off again;
    # `unsafe-fixes = false` also silences the hint about them
    mkdir -p "$TMP/p"; cp "$FIX/eqx014.py" "$TMP/p/a.py"; cp "$FIX/eqx006.py" "$TMP/p/b.py"
    printf 'fix = true\nunsafe-fixes = false\n' >"$TMP/p/eqlint.toml"
    (cd "$TMP/p" && "$EQLINT" check --no-fix .) >"$TMP/out" 2>"$TMP/err"
    RC=$?; no_sanitizer_report "$TMP/err"; rc_is 1
    same "$TMP/p/a.py" "$FIX/eqx014.py"; out_lacks 'hidden fix'
    (cd "$TMP/p" && "$EQLINT" check --show-settings) >"$TMP/out" 2>"$TMP/err"
    out_has '^fix += true$'; out_has '^unsafe-fixes += false$'
    (cd "$TMP/p" && "$EQLINT" check .) >"$TMP/out" 2>"$TMP/err"
    RC=$?; no_sanitizer_report "$TMP/err"; rc_is 1
    same "$TMP/p/a.py" "$FIX/eqx014.fixed"; same "$TMP/p/b.py" "$FIX/eqx006.py"
    out_has '^Found 3 diagnostics \(2 fixed, 1 remaining\)\.$'
    (cd "$TMP/p" && "$EQLINT" check --unsafe-fixes .) >"$TMP/out" 2>"$TMP/err"
    RC=$?; no_sanitizer_report "$TMP/err"; rc_is 0
    same "$TMP/p/b.py" "$FIX/eqx006.unsafe-fixed" ;;
  readonly_dir)
    # no temporary file can be created: the file stays whole, exit 2, no temporary left
    copy combined
    as_user=""
    if [ "$(id -u)" -eq 0 ]; then
      # root ignores permissions: run the program as nobody on a directory nobody owns
      command -v setpriv >/dev/null 2>&1 || { echo "SKIP: root without setpriv"; exit 77; }
      chown -R 65534:65534 "$TMP/w"; chmod 755 "$TMP"
      as_user="setpriv --reuid=65534 --regid=65534 --clear-groups"
    fi
    chmod 555 "$TMP/w"
    # shellcheck disable=SC2086
    $as_user "$EQLINT" check --fix "$TMP/w/combined.py" >"$TMP/out" 2>"$TMP/err"
    RC=$?; no_sanitizer_report "$TMP/err"
    chmod 755 "$TMP/w"
    [ "$RC" -ne 126 ] || { echo "SKIP: nobody cannot run $EQLINT"; exit 77; }
    rc_is 2
    err_has 'combined\.py: the fixes could not be written: .*\(the file is unchanged\)'
    same "$TMP/w/combined.py" "$FIX/combined.py"
    no_leftovers "$TMP/w" '^combined\.py$' ;;
  *)
    echo "unknown case $CASE"; exit 2 ;;
esac
exit 0
