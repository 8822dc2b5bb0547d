#!/usr/bin/env bash
# Runs test binaries under valgrind (memcheck): any error or definite/indirect leak fails.
# `make test` uses it for the runtime suites and the LSP server suite, the long-lived parts.
# usage: scripts/valgrind.sh BINARY...   (from the repository root)
set -u
status=0
for bin in "$@"; do
  [ -x "$bin" ] || { echo "valgrind.sh: $bin is not built"; status=1; continue; }
  log=$(mktemp)
  start=$(date +%s)
  if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect \
       --show-leak-kinds=definite,indirect "$bin" >"$log" 2>&1; then
    echo "valgrind: $(basename "$bin"): clean ($(( $(date +%s) - start )) s)"
  else
    echo "valgrind: $(basename "$bin"): FAILED"
    grep -E "==[0-9]+==" "$log" | head -40
    status=1
  fi
  rm -f "$log"
done
exit $status
