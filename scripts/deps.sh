#!/usr/bin/env bash
# Installs what eqlint's build and tests need on a Debian 12 machine, then fetches the
# pinned tree-sitter grammars with `npm pack` (no install scripts run), verifies them
# against their sha512 integrity values and unpacks them under build/grammars/.
# Idempotent: when everything is present it does nothing but check, in well under a second.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
gdir="$here/build/grammars"

# build: compilers, cmake, the libraries; tests: valgrind, neovim (LSP end-to-end test),
# python3-sklearn (ships the handwritten-digits CSV the classifier example trains on).
pkgs=(cmake make gcc clang pkg-config git ca-certificates openssl
      libtree-sitter-dev libclang-14-dev libcunit1-dev libjansson-dev libopenblas-dev
      libgit2-dev zlib1g-dev valgrind neovim nodejs npm python3 python3-sklearn)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come from a Node.js install outside Debian's packages; accept any working one.
if command -v npm >/dev/null 2>&1; then
  keep=(); for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || keep+=("$p"); done
  missing=("${keep[@]+"${keep[@]}"}")
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing Debian packages: ${missing[*]}" >&2
    echo "deps.sh: run as root (or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# name@version  sha512-integrity  directory under build/grammars
grammars=(
  "tree-sitter-python@0.23.6 sha512-yIM9z0oxKIxT7bAtPOhgoVl6gTXlmlIhue7liFT4oBPF/lha7Ha4dQBS82Av6hMMRZoVnFJI8M6mL+SwWoLD3A== python"
  "@tree-sitter-grammars/tree-sitter-toml@0.7.0 sha512-873Kl518Qm5ghbWadISY41rwFjee0v+2bU4twwvAw2VAJcWwj2vBo3F3hOCXfbqHaFiqc4qh6eLhkMl2YZJS0g== toml"
)

mkdir -p "$gdir"
for g in "${grammars[@]}"; do
  read -r spec want dir <<<"$g"
  stamp="$gdir/$dir/.integrity"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$gdir/$dir/src/parser.c" ]; then
    continue
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "deps.sh: fetching $spec"
  (cd "$tmp" && npm pack --ignore-scripts --silent "$spec" >/dev/null)
  tgz=$(ls "$tmp"/*.tgz)
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" 2>/dev/null | base64 -w0 ||
                python3 -c 'import sys,hashlib,base64;print(base64.b64encode(hashlib.sha512(open(sys.argv[1],"rb").read()).digest()).decode())' "$tgz")"
  if [ "$got" != "$want" ]; then
    echo "deps.sh: integrity mismatch for $spec" >&2
    echo "  expected $want" >&2
    echo "  got      $got" >&2
    exit 1
  fi
  rm -rf "${gdir:?}/$dir"
  mkdir -p "$gdir/$dir"
  tar -xzf "$tgz" -C "$gdir/$dir" --strip-components=1
  echo "$want" >"$stamp"
  rm -rf "$tmp"; trap - EXIT
done
