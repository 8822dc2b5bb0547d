#!/bin/sh
# End-to-end: `eqlint server` under a real editor's LSP client (headless Neovim).
#
#   sh tests/lsp_nvim.sh path/to/eqlint
#
# Copies the fixture to a scratch directory (the editor's workspace), runs the Lua session
# tests/data/lsp/nvim_session.lua and passes on its verdict. Exits 77 (ctest: skipped) only
# when nvim is not installed; a timeout bounds a wedged editor.
set -u
eqlint=$1
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v nvim >/dev/null 2>&1; then
  echo "SKIP: nvim is not installed (apt-get install neovim)"
  exit 77
fi
case $eqlint in /*) ;; *) eqlint=$(pwd)/$eqlint ;; esac
dir=$(mktemp -d "${TMPDIR:-/tmp}/eqlint-nvim.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT
cp "$here/data/lsp/nvim_train.py" "$dir/train.py"
# -u NONE: no user config; -i NONE: no shada; XDG dirs point into the scratch directory so
# the LSP log and state never touch the user's home.
XDG_STATE_HOME=$dir XDG_CACHE_HOME=$dir XDG_DATA_HOME=$dir XDG_CONFIG_HOME=$dir \
EQLINT=$eqlint FIXTURE=$dir/train.py \
  timeout 120 nvim --headless -u NONE -i NONE -n \
    -c "luafile $here/data/lsp/nvim_session.lua" </dev/null
status=$?
if [ $status -ne 0 ]; then
  echo "nvim session failed (status $status); LSP log:"
  cat "$dir"/nvim/lsp.log "$dir"/lsp.log 2>/dev/null | tail -40
fi
exit $status
