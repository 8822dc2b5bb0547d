#!/usr/bin/env bash
# `make bench`: eqlint against peers on the same files, in one run on this machine.
# Prints wall times and ratios; never a gate (CI does not run it).
#
# Corpora:
#   stdlib  the Python standard library Debian's python3 ships (668 files, mostly unrelated
#           to JAX: this measures the prefilter as much as the analyzer)
#   jax     a JAX/Equinox-heavy corpus: the fixtures and examples, copied 10 times
# Contenders, all over the same file list:
#   eqlint (all cores, one core, and one core without the prefilter), the bare tree-sitter
#   parse of the files (the floor), Ruff's WebAssembly build from npm (pinned, checksummed),
#   flake8 and pylint from Debian (pylint errors-only; it is given at most BENCH_SLOW_LIMIT s).
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
eqlint="${EQLINT:-$here/build/eqlint}"
runs=${BENCH_RUNS:-3}
slow_limit=${BENCH_SLOW_LIMIT:-300}
work="$here/build/bench"
mkdir -p "$work"

# --- peers (installed or fetched here, never by the test suite) ---
if [ "$(id -u)" -eq 0 ]; then
  for p in flake8 pylint bc nodejs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$p" >/dev/null 2>&1 || true
  done
fi
ruff_spec="@astral-sh/ruff-wasm-nodejs@0.17.4"
ruff_sri="sha512-pEaJDh/ZUyfWK4w0NzIkF74brXtZyNN9/NCPluSj3Z9GYmjQxG4SqkVCiLUvxZ0baOAPaShR6nUUWubjexzEfA=="
ruff_dir="$work/ruff-wasm"
if [ ! -f "$ruff_dir/ruff_wasm.js" ]; then
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --ignore-scripts --silent "$ruff_spec" >/dev/null 2>&1); then
    got="sha512-$(openssl dgst -sha512 -binary "$tmp"/*.tgz | base64 -w0)"
    if [ "$got" = "$ruff_sri" ]; then
      mkdir -p "$ruff_dir" && tar -xzf "$tmp"/*.tgz -C "$ruff_dir" --strip-components=1
    else
      echo "bench: ruff-wasm integrity mismatch; skipping Ruff" >&2
    fi
  fi
  rm -rf "$tmp"
fi
cc -O2 -o "$work/ts_parse" "$here/bench/ts_parse.c" \
   "$here/build/grammars/python/src/parser.c" "$here/build/grammars/python/src/scanner.c" \
   -I "$here/build/grammars/python/src" -ltree-sitter

# --- corpora ---
stdlib=/usr/lib/python3.11
[ -d "$stdlib" ] || stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')
jax="$work/jax-corpus"
rm -rf "$jax"
for i in $(seq 1 10); do
  mkdir -p "$jax/copy$i"
  cp -r "$here/fixtures/python/." "$here/examples/." "$jax/copy$i/"
done

# median wall time of `runs` runs; prints "-" when a run exceeds the limit
median_time() {
  local n=$1; shift
  local ts=()
  for _ in $(seq 1 "$n"); do
    local s e
    s=$(date +%s.%N)
    timeout "$slow_limit" "$@" >/dev/null 2>&1
    [ $? -eq 124 ] && { echo "-"; return; }
    e=$(date +%s.%N)
    ts+=("$(echo "$e - $s" | bc -l)")
  done
  printf '%s\n' "${ts[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

printf 'machine: %s, %s cores, %s; date: %s\n' "$(lscpu | sed -n 's/^Model name: *//p')" \
  "$(nproc)" "$(free -g | awk '/Mem:/ {print $2 " GiB"}')" "$(date -u +%F)"
for corpus in stdlib jax; do
  dir=$([ $corpus = stdlib ] && echo "$stdlib" || echo "$jax")
  mapfile -t files < <(find "$dir" -name '*.py' -not -path '*/__pycache__/*' | sort)
  lines=$(cat "${files[@]}" | wc -l)
  printf '\n== %s: %d files, %d lines ==\n' "$corpus" "${#files[@]}" "$lines"
  base=$(median_time "$runs" "$eqlint" check --format concise "${files[@]}")
  row() { # name seconds
    if [ "$2" = "-" ]; then printf '  %-34s %9s\n' "$1" "> ${slow_limit}s"; return; fi
    printf '  %-34s %8.3f s  %10.0f lines/s  %7.2fx eqlint\n' "$1" "$2" \
      "$(echo "$lines / $2" | bc -l)" "$(echo "$2 / $base" | bc -l)"
  }
  row "eqlint check (all cores)" "$base"
  row "eqlint check -j 1" "$(median_time "$runs" "$eqlint" check --format concise -j 1 "${files[@]}")"
  row "eqlint check -j 1 --no-prefilter" "$(median_time "$runs" "$eqlint" check --format concise -j 1 --no-prefilter "${files[@]}")"
  # --diff computes every fix to a fixed point (re-checking after each round) and writes
  # nothing: the cost of `--fix` without the disk
  row "eqlint check --diff --unsafe-fixes" "$(median_time "$runs" "$eqlint" check --diff --unsafe-fixes "${files[@]}")"
  row "tree-sitter parse only (1 core)" "$(median_time "$runs" "$work/ts_parse" "${files[@]}")"
  [ -f "$ruff_dir/ruff_wasm.js" ] &&
    row "ruff (wasm, 1 core)" "$(median_time "$runs" node "$here/bench/ruff_wasm.js" "$ruff_dir" "${files[@]}")"
  command -v flake8 >/dev/null &&
    row "flake8 (all cores)" "$(median_time 1 flake8 -j "$(nproc)" "${files[@]}")"
  command -v pylint >/dev/null &&
    row "pylint -E (all cores)" "$(median_time 1 pylint -E -j "$(nproc)" "${files[@]}")"
done

# --- the language server: one-character edit to its diagnostics, 5,000-line module ---
printf '\n== eqlint server: didChange -> publishDiagnostics ==\n'
cc -O2 -o "$work/lsp_latency" "$here/bench/lsp_latency.c" && "$work/lsp_latency" "$eqlint" 200
