#!/bin/sh
# Bad-input suite: eqlint on the files users really have. Every case checks the bad input
# TOGETHER with a good file holding one known pitfall: the run must not crash or hang, must
# give a clear message or correct diagnostics for the bad file, must follow the exit-code
# contract, and the good file's diagnostic must come out exactly as when it is checked alone.
#
# usage: sh tests/bad_input_test.sh PATH/TO/eqlint CASE     (from the repository root)
set -u
EQLINT=$1
CASE=$2
TMP=$(mktemp -d "${TMPDIR:-/tmp}/eqlint-bad.XXXXXX") || exit 2
trap 'chmod -R u+rwx "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT

fail() { echo "FAIL [$CASE]: $*"; echo "--- stdout"; cat "$TMP/out"; echo "--- stderr"; cat "$TMP/err"; exit 1; }

cat > "$TMP/good.py" <<'PY'
import equinox as eqx
import jax
import optax

model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))
optim = optax.adam(1e-3)
state = optim.init(model)
PY
GOOD_LINE="$TMP/good.py:7:9: EQX001"

# run FILE... : check the files with the good one; exit status in $rc
run() {
  timeout 120 "$EQLINT" check --format concise "$TMP/good.py" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  [ $rc -eq 124 ] && fail "timed out"
  [ $rc -le 2 ] || fail "crashed (exit status $rc)"
  ! grep -Eq 'runtime error:|Sanitizer' "$TMP/err" || fail "sanitizer report"
  grep -q "^$GOOD_LINE " "$TMP/out" || fail "the good file's diagnostic changed or vanished"
  [ $rc -eq 1 ] || fail "exit status $rc, expected 1 (diagnostics reported)"
}
expect_out() { grep -Eq "$1" "$TMP/out" || fail "stdout lacks /$1/"; }
expect_err() { grep -Eq "$1" "$TMP/err" || fail "stderr lacks /$1/"; }
only_good() { [ "$(wc -l <"$TMP/out")" -eq 1 ] || fail "expected only the good file's diagnostic"; }

pitfall_lines() { # a file with the same pitfall: $1 = line ending, $2 = prefix (escapes)
  printf "${2}import equinox as eqx${1}import jax${1}import optax${1}model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))${1}optim = optax.adam(1e-3)${1}state = optim.init(model)${1}"
}

case "$CASE" in
  binary)
    head -c 65536 /dev/urandom >"$TMP/blob.py"
    printf 'import jax\n' >>"$TMP/blob.py"
    run "$TMP/blob.py"
    expect_out "blob.py:[0-9]+:[0-9]+: EQX999 SyntaxError" ;;
  invalid_utf8)
    printf 'import jax\nname = "\377\376 caf\351"\nx\200y = 1\n' >"$TMP/latin1.py"
    run "$TMP/latin1.py" ;;
  nul_bytes)
    printf 'import jax\nx = 1\000\000\ny = 2\n' >"$TMP/nul.py"
    run "$TMP/nul.py" ;;
  bom)
    pitfall_lines '\n' '\357\273\277' >"$TMP/bom.py"
    run "$TMP/bom.py"
    expect_out "bom.py:6:9: EQX001" ;;
  crlf)
    pitfall_lines '\r\n' '' >"$TMP/crlf.py"
    run "$TMP/crlf.py"
    expect_out "crlf.py:6:9: EQX001" ;;
  lone_cr)
    pitfall_lines '\r' '' >"$TMP/cr.py"
    run "$TMP/cr.py"
    expect_out "cr.py:6:9: EQX001" ;;
  tabs)
    printf 'import equinox as eqx\nimport jax\nimport optax\nif True:\n\tmodel = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))\n\tstate = optax.adam(1e-3).init(model)\n' >"$TMP/tabs.py"
    run "$TMP/tabs.py"
    expect_out "tabs.py:6:10: EQX001"
    "$EQLINT" check --color never "$TMP/tabs.py" >"$TMP/out" 2>"$TMP/err"
    # the caret line lines up under `optax` after the tab is expanded
    awk '/^6 \|/ {getline c; print c}' "$TMP/out" | grep -q '^  |             \^' || fail "carets do not line up under a tab" ;;
  huge_line)
    { printf 'import jax\nx = ['; head -c 20000000 /dev/zero | tr '\0' '1'; printf ']\n'; } >"$TMP/huge.py"
    run "$TMP/huge.py"
    expect_err "huge.py: skipped: .*per-file budget"
    only_good ;;
  deep_nesting)
    { printf 'import jax\nx = '; i=0; while [ $i -lt 10000 ]; do printf '('; i=$((i+1)); done; printf '1';
      i=0; while [ $i -lt 10000 ]; do printf ')'; i=$((i+1)); done; printf '\n'; } >"$TMP/deep.py"
    run "$TMP/deep.py" ;;
  very_deep_nesting)
    # tree-sitter's own runtime corrupts its heap past ~65,536 levels: must be refused cleanly
    { printf 'import jax\nx = '; head -c 100000 /dev/zero | tr '\0' '['; printf '\n'; } >"$TMP/deeper.py"
    run "$TMP/deeper.py"
    expect_err "deeper.py: skipped: brackets nested more than 20,000 deep"
    only_good ;;
  big_string)
    { printf 'import jax\ns = "'; head -c 1048576 /dev/zero | tr '\0' 'a'; printf '"\n'; } >"$TMP/str.py"
    run "$TMP/str.py"
    only_good ;;
  empty)
    : >"$TMP/empty.py"
    run "$TMP/empty.py"
    only_good ;;
  symlink_loop)
    mkdir -p "$TMP/tree/sub"
    ln -s .. "$TMP/tree/sub/up"
    cp "$TMP/good.py" "$TMP/tree/model.py"
    run "$TMP/tree"
    [ "$(grep -c 'model.py:7:9: EQX001' "$TMP/out")" -eq 1 ] || fail "the file behind the loop must be checked once" ;;
  unreadable)
    cp "$TMP/good.py" "$TMP/locked.py"
    chmod 000 "$TMP/locked.py"
    if cat "$TMP/locked.py" >/dev/null 2>&1; then
      # root reads anything: use a FIFO instead, which would block a naive reader forever
      rm -f "$TMP/locked.py"
      mkfifo "$TMP/locked.py"
    fi
    run "$TMP/locked.py"
    expect_err "locked.py: (Permission denied|not a regular file)"
    only_good ;;
  vanishing)
    # listed on the command line, gone by the time it is read
    run "$TMP/gone.py"
    expect_err "gone.py: No such file or directory" ;;
  notebook_bad_json)
    printf '{"cells": [ {"cell_type": "code", "source": ' >"$TMP/broken.ipynb"
    run "$TMP/broken.ipynb"
    expect_err "broken.ipynb: invalid notebook JSON at line 1" ;;
  notebook_bad_source)
    printf '{"cells": [{"cell_type": "code", "source": 42}], "nbformat": 4}' >"$TMP/src.ipynb"
    run "$TMP/src.ipynb"
    expect_err "src.ipynb: invalid notebook: cell 1" ;;
  *) echo "unknown case $CASE"; exit 2 ;;
esac
exit 0
