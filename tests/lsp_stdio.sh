#!/bin/sh
# `eqlint server` as a program: its options and its exit status over real stdin/stdout.
#
#   sh tests/lsp_stdio.sh path/to/eqlint
#
# The protocol itself is tested in-process by tests/test_lsp.c; this covers what only the
# program has: argument handling, stdout carrying nothing but framed messages, and the
# exit status an editor sees.
set -u
eqlint=$1
fail=0
dir=$(mktemp -d "${TMPDIR:-/tmp}/eqlint-stdio.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT

# frame JSON: prints the message with its Content-Length header
frame() {
  printf 'Content-Length: %d\r\n\r\n%s' "$(printf '%s' "$1" | wc -c)" "$1"
}
expect() { # expect WHAT ACTUAL WANTED
  if [ "$2" != "$3" ]; then
    echo "FAIL: $1: got '$2', expected '$3'"
    fail=1
  else
    echo "ok: $1"
  fi
}

"$eqlint" server --help >"$dir/out" 2>&1
expect "server --help exits 0" $? 0
grep -q "Usage: eqlint server" "$dir/out" || { echo "FAIL: --help prints the usage"; fail=1; }

"$eqlint" server --bogus >"$dir/out" 2>"$dir/err"
expect "unknown option exits 2" $? 2
grep -q "unknown option '--bogus'" "$dir/err" || { echo "FAIL: the option is named"; fail=1; }

init='{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
open='{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"textDocument":{"uri":"untitled:a","languageId":"python","version":1,"text":"import optax\nimport equinox as eqx\nm = eqx.nn.MLP(2, 2, 8, 2, key=k)\ns = optax.adam(1e-3).init(m)\n"}}}'
fixall='{"jsonrpc":"2.0","id":3,"method":"textDocument/codeAction","params":{"textDocument":{"uri":"untitled:a"},"range":{"start":{"line":0,"character":0},"end":{"line":0,"character":0}},"context":{"diagnostics":[],"only":["source.fixAll"]}}}'
shut='{"jsonrpc":"2.0","id":2,"method":"shutdown"}'
exit_='{"jsonrpc":"2.0","method":"exit"}'

{ frame "$init"; frame "$open"; frame "$fixall"; frame "$shut"; frame "$exit_"; } |
  "$eqlint" server --stdio >"$dir/out" 2>"$dir/err"
expect "shutdown then exit: status 0" $? 0
# stdout holds framed messages only: every line is a header, a blank or a JSON body
bad=$(tr -d '\r' <"$dir/out" | sed 's/}Content-Length/}\nContent-Length/g' |
      grep -cv '^Content-Length: [0-9]*$\|^$\|^{.*}$')
expect "stdout carries only framed messages" "$bad" 0
grep -q '"code":"EQX001"' "$dir/out" || { echo "FAIL: the buffer's EQX001 is published"; fail=1; }
grep -q '"codeActionKinds":\["quickfix","source.fixAll.eqlint"\]' "$dir/out" ||
  { echo "FAIL: the capabilities list the quick fixes and the fix-all action"; fail=1; }
grep -q '"kind":"source.fixAll.eqlint"' "$dir/out" &&
  grep -q '"newText":"eqx.filter(m, eqx.is_array)"' "$dir/out" ||
  { echo "FAIL: fix-all (only: source.fixAll) wraps m in eqx.filter"; fail=1; }

{ frame "$init"; frame "$exit_"; } | "$eqlint" server >"$dir/out" 2>"$dir/err"
expect "exit without shutdown: status 1" $? 1

{ frame "$init"; } | "$eqlint" server >"$dir/out" 2>"$dir/err"
expect "end of input without shutdown: status 1" $? 1
grep -q "end of input before shutdown" "$dir/err" || { echo "FAIL: the log says why"; fail=1; }

# the client went away (stdout closed): the server stops instead of spinning or dying on
# SIGPIPE, and says so
{ frame "$init"; frame "$shut"; frame "$exit_"; } | "$eqlint" server >&- 2>"$dir/err"
expect "closed stdout: status 1" $? 1
grep -q "cannot write to the client" "$dir/err" || { echo "FAIL: the log says why"; fail=1; }

exit $fail
