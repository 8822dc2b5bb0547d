#!/usr/bin/env bash
# `make fuzz`: builds the libFuzzer harnesses with clang (libFuzzer + ASan + UBSan) against
# an instrumented build of the libraries, and runs each for FUZZ_SECONDS (default 20) on a
# corpus seeded from the fixtures. Crashes land in fuzz/crashes/ and must become
# regression tests (tests/bad_input_test.sh or a unit test).
#   FUZZ_SECONDS=1800 bash fuzz/run.sh      # a long run, as recorded in docs/security.md
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
secs=${FUZZ_SECONDS:-20}
out="$here/build/fuzz"
flags="-g -O1 -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=undefined"
mkdir -p "$out" "$here/fuzz/crashes"
cmake -S "$here" -B "$out/build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
  -DEQL_TESTS=OFF -DEQL_WERROR=OFF -DCMAKE_C_FLAGS="$flags" \
  -DEQL_GRAMMARS_DIR="$here/build/grammars" >/dev/null
cmake --build "$out/build" -j "$(nproc)" --target eqlint_core eql_grammars >/dev/null
have_eqx=1
cmake --build "$out/build" -j "$(nproc)" --target eqx >"$out/eqx-build.log" 2>&1 || {
  have_eqx=0; echo "fuzz: libeqx did not build with clang (see $out/eqx-build.log); skipping fuzz_deserialise"; }
libs="$(find "$out/build" -name 'libeqlint_core.a') $(find "$out/build" -name 'libeql_grammars.a')"
syslibs="$(pkg-config --libs tree-sitter jansson) -lpthread -lm"
pkg-config --exists libgit2 && syslibs="$syslibs $(pkg-config --libs libgit2)"
[ -e /usr/lib/llvm-14/lib/libclang.so ] && syslibs="$syslibs -L/usr/lib/llvm-14/lib -lclang -Wl,-rpath,/usr/lib/llvm-14/lib"
cc="clang -g -O1 -fsanitize=address,undefined,fuzzer -I$here/analyzer/include -I$here/rules"
$cc -o "$out/fuzz_python" "$here/fuzz/fuzz_python.c" $libs $syslibs
$cc -o "$out/fuzz_notebook" "$here/fuzz/fuzz_notebook.c" $libs $syslibs
$cc -o "$out/fuzz_config" "$here/fuzz/fuzz_config.c" $libs $syslibs
$cc -o "$out/fuzz_lsp" "$here/fuzz/fuzz_lsp.c" $libs $syslibs
[ $have_eqx = 1 ] && $cc -I"$here/runtime/include" -o "$out/fuzz_deserialise" \
  "$here/fuzz/fuzz_deserialise.c" "$(find "$out/build" -name 'libeqx.a')" -lopenblas -lm
# seed corpora from the fixtures
mkdir -p "$out/corpus/python" "$out/corpus/notebook" "$out/corpus/deserialise" \
  "$out/corpus/config" "$out/corpus/lsp"
find "$here/tests/data/config" -name '*.toml' -exec sh -c 'cp "$1" "$2/$(echo "$1" | tr / _)"' _ {} "$out/corpus/config" \; 2>/dev/null || true
printf 'Content-Length: 59\r\n\r\n{"jsonrpc":"2.0","id":2,"method":"shutdown","params":null}' >"$out/corpus/lsp/shutdown"
find "$here/fixtures" "$here/examples" -name '*.py' -exec cp {} "$out/corpus/python/" \; 2>/dev/null || true
find "$here/fixtures" -name '*.ipynb' -exec cp {} "$out/corpus/notebook/" \; 2>/dev/null || true
printf 'EQXT' >"$out/corpus/deserialise/magic"
status=0
harnesses="python notebook config lsp"
[ $have_eqx = 1 ] && harnesses="$harnesses deserialise"
for h in $harnesses; do
  echo "== fuzz_$h: $secs s"
  if ! "$out/fuzz_$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 \
      -artifact_prefix="$here/fuzz/crashes/$h-" -print_final_stats=1 "$out/corpus/$h" \
      >"$out/$h.log" 2>&1; then
    status=1
    grep -E "ERROR|SUMMARY" "$out/$h.log" | head -5
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss" "$out/$h.log" || true
done
exit $status
