#!/usr/bin/env bash
# `make bench`: eqlint's speed on two corpora, measured in one run on this machine.
# Prints lines/second and ratios; never a gate (CI does not run it).
#   stdlib  the Python standard library that ships with Debian's python3 (mostly files that
#           have nothing to do with JAX: the realistic "big mixed repository" case)
#   jax     a JAX/Equinox-heavy corpus built from the fixtures and examples, replicated
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
eqlint="${EQLINT:-$here/build/eqlint}"
runs=${BENCH_RUNS:-5}

stdlib=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])' 2>/dev/null || true)
[ -d /usr/lib/python3.11 ] && stdlib=/usr/lib/python3.11

jax_corpus=$(mktemp -d)
trap 'rm -rf "$jax_corpus"' EXIT
for i in $(seq 1 40); do
  mkdir -p "$jax_corpus/copy$i"
  cp -r "$here/fixtures/python/." "$here/examples/." "$jax_corpus/copy$i/" 2>/dev/null || true
done

lines_of() { find "$1" -name '*.py' -print0 | xargs -0 cat | wc -l; }
files_of() { find "$1" -name '*.py' | wc -l; }

# median wall time (seconds) of `runs` runs of a command
median_time() {
  local ts=()
  for _ in $(seq 1 "$runs"); do
    local s e
    s=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || true
    e=$(date +%s.%N)
    ts+=("$(echo "$e - $s" | bc -l)")
  done
  printf '%s\n' "${ts[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

printf 'machine: %s, %s cores; date: %s\n' "$(lscpu | sed -n 's/^Model name: *//p')" "$(nproc)" "$(date -u +%F)"
for corpus in stdlib jax; do
  dir=$([ $corpus = stdlib ] && echo "$stdlib" || echo "$jax_corpus")
  n=$(lines_of "$dir"); f=$(files_of "$dir")
  t=$(median_time "$eqlint" check --format concise "$dir")
  printf '%-7s %6d files %8d lines  eqlint check: %7.3f s  %9.0f lines/s\n' "$corpus" "$f" "$n" "$t" "$(echo "$n / $t" | bc -l)"
done
