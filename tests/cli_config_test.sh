#!/bin/sh
# CLI tests for configuration and discovery: config files found by discovery, --config,
# --isolated, --extend-select, --force-exclude, .gitignore, `src` roots, the per-file fix
# settings (unfixable, extend-safe-fixes, extend-unsafe-fixes), and exit status 2 with
# `file:line:col: error:` for every kind of configuration error. One case per ctest
# test (tests/CMakeLists.txt lists them).
#
# usage: sh tests/cli_config_test.sh PATH/TO/eqlint CASE     (from the repository root)
#
# Valid projects live in tests/data/config/; broken configuration files are written to a
# temporary directory, so that no walk of tests/data can ever trip over them.
set -u

EQLINT=$1
CASE=$2
DATA=tests/data/config
TMP=$(mktemp -d "${TMPDIR:-/tmp}/eqlint-cfg.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_lib.sh"
# The user's git configuration (a global excludes file) must not change what is found.
HOME=$TMP/home
XDG_CONFIG_HOME=$TMP/home
GIT_CONFIG_NOSYSTEM=1
export HOME XDG_CONFIG_HOME GIT_CONFIG_NOSYSTEM

# bad_config NAME TEXT: writes $TMP/NAME/NAME-or-file and a Python file next to it.
# Usage: bad_config eqlint.toml 'text'  -> $TMP/p/eqlint.toml, $TMP/p/m.py
bad_config() {
  rm -rf "$TMP/p"
  mkdir -p "$TMP/p"
  printf '%s' "$2" >"$TMP/p/$1"
  cp tests/data/pitfall.py "$TMP/p/m.py"
}
# expect_config_error FILE LINE COL MESSAGE-REGEX: exit 2, nothing on stdout, and the
# compiler-style line naming the place.
expect_config_error() {
  rc_is 2
  out_empty
  err_has "^$1:$2:$3: error: $4"
}

pitfall() { cp tests/data/pitfall.py "$1"; }

case $CASE in
  discovered_select)
    # basic/eqlint.toml selects EQX003; basic/sub/eqlint.toml (closer) selects EQX001;
    # scripts/ is in per-file-ignores; generated/ is excluded.
    run check --format concise "$DATA/basic"; rc_is 1; out_lines 2
    out_has "^$DATA/basic/pitfall.py:8:[0-9]+: EQX003 "
    out_has "^$DATA/basic/sub/pitfall.py:17:[0-9]+: EQX001 "
    out_lacks 'scripts/|generated/' ;;
  pyproject_table)
    run check --format concise "$DATA/pyproject/pitfall.py"; rc_is 1; out_lines 1
    out_has ' EQX001 '; out_lacks ' EQX003 ' ;;
  file_uses_closest_config)
    # A file named explicitly gets the configuration above it, not the working directory's.
    run check --format concise "$DATA/basic/sub/pitfall.py"; rc_is 1; out_lines 1
    out_has ' EQX001 '
    run check --format concise "$DATA/basic/scripts/pitfall.py"; rc_is 0; out_empty ;;
  cli_overrides_config)
    # --select replaces the configured selection, --ignore removes from it, --extend-select
    # adds to it; per-file-ignores still apply.
    run check --format concise --select EQX001 "$DATA/basic/pitfall.py"; rc_is 1
    out_has ' EQX001 '; out_lacks ' EQX003 '
    run check --format concise --extend-select EQX001 "$DATA/basic/pitfall.py"; rc_is 1
    out_has ' EQX001 '; out_has ' EQX003 '
    run check --format concise --ignore EQX003 "$DATA/basic/pitfall.py"; rc_is 0; out_empty
    run check --format concise --select ALL "$DATA/basic/scripts/pitfall.py"; rc_is 1
    out_has ' EQX001 '; out_lacks ' EQX003 ' ;;
  isolated)
    run check --format concise --isolated "$DATA/basic"; rc_is 1
    out_has 'basic/pitfall.py:17:[0-9]+: EQX001 '; out_has 'generated/pitfall.py'
    out_has 'scripts/pitfall.py:8:[0-9]+: EQX003 '
    # A broken configuration is not even read.
    bad_config eqlint.toml 'selct = []'
    run check --format concise --isolated "$TMP/p"; rc_is 1 ;;
  config_flag)
    printf 'select = ["EQX001"]\n' >"$TMP/only1.toml"
    run check --format concise --config "$TMP/only1.toml" "$DATA/basic"; rc_is 1
    out_lacks ' EQX003 '; out_has 'scripts/pitfall.py:17:[0-9]+: EQX001 '
    out_has 'generated/pitfall.py'
    run check --config "$TMP/missing.toml" "$DATA/basic"; rc_is 2; out_empty
    err_has "^$TMP/missing.toml: error: cannot read the configuration file: No such file"
    printf '[tool.black]\nx = 1\n' >"$TMP/pyproject.toml"
    run check --config "$TMP/pyproject.toml" "$DATA/basic"; rc_is 2
    err_has "pyproject.toml: error: no \\[tool.eqlint\\] table" ;;
  extend_select_unknown)
    run check --extend-select EQX404 "$DATA/basic"; rc_is 2; out_empty
    err_has "--extend-select: unknown rule code or prefix 'EQX404'"
    err_has "eqlint check --help" ;;
  src_index)
    # lib/ (src) defines Net: checking app/train.py alone still knows it, and lib/model.py's
    # own EQX003 is not reported because lib/ was not asked for.
    run check --format concise "$DATA/src/app/train.py"; rc_is 1; out_lines 1
    out_has "^$DATA/src/app/train.py:8:[0-9]+: EQX001 "
    run check --format concise --isolated "$DATA/src/app/train.py"; rc_is 0; out_empty
    run check --format concise "$DATA/src"; rc_is 1; out_lines 2
    out_has 'lib/model.py:15:[0-9]+: EQX003 '
    # A buffer piped from an editor gets the src of the configuration above its name.
    "$EQLINT" check --format concise --stdin-filename "$DATA/src/app/train.py" \
      <"$DATA/src/app/train.py" >"$TMP/out" 2>"$TMP/err"
    RC=$?; no_sanitizer_report "$TMP/err"; rc_is 1; out_lines 1
    out_has "^$DATA/src/app/train.py:8:[0-9]+: EQX001 " ;;
  show_files)
    run check --show-files "$DATA/basic"; rc_is 0; out_lines 3
    out_lacks generated
    # --show-settings reports the selection of the working directory's configuration.
    (cd "$DATA/basic" && "$EQLINT" check --show-settings >"$TMP/out" 2>"$TMP/err"); RC=$?
    rc_is 0; out_has 'EQX003 on '; out_has 'EQX001 off '
    out_has '^config +=.*eqlint\.toml$' ;;
  exclude_explicit_and_forced)
    # An excluded path named on the command line is checked, unless --force-exclude.
    run check --format concise "$DATA/basic/generated/pitfall.py"; rc_is 1; out_has ' EQX003 '
    run check --format concise --force-exclude "$DATA/basic/generated/pitfall.py"; rc_is 0
    out_empty; err_has 'no Python files found'
    run check --format concise --force-exclude "$DATA/basic/generated" "$DATA/basic/pitfall.py"
    rc_is 1; out_lines 1 ;;
  gitignore)
    command -v git >/dev/null 2>&1 || { echo "SKIP: no git"; exit 77; }
    mkdir -p "$TMP/repo/sub" "$TMP/repo/build"
    git init -q "$TMP/repo" || fail "git init"
    printf '*_gen.py\n!keep_gen.py\nbuild/\n' >"$TMP/repo/.gitignore"
    printf 'local.py\n' >"$TMP/repo/sub/.gitignore"
    for f in a.py x_gen.py keep_gen.py build/b.py sub/local.py sub/c.py local.py; do
      pitfall "$TMP/repo/$f"
    done
    run check --show-files "$TMP/repo"; rc_is 0; out_lines 4
    for f in a.py keep_gen.py local.py sub/c.py; do out_has "^$TMP/repo/$f\$"; done
    # Named explicitly, an ignored file is checked; --force-exclude skips it.
    run check --format concise "$TMP/repo/x_gen.py"; rc_is 1
    run check --format concise --force-exclude "$TMP/repo/x_gen.py" "$TMP/repo/a.py"; rc_is 1
    out_lacks x_gen
    # respect-gitignore = false
    printf 'respect-gitignore = false\n' >"$TMP/repo/eqlint.toml"
    (cd "$TMP/repo" && "$EQLINT" check --show-files >"$TMP/out" 2>"$TMP/err"); RC=$?
    rc_is 0; out_lines 7 ;;
  # ---- fix settings: per file, like the selection ----
  fix_unfixable)
    # EQX014 is still reported but loses its [*], and --fix leaves it; EQX001 keeps its
    # fixes. sub/ has its own configuration, which replaces the outer one entirely.
    mkdir -p "$TMP/p/sub"
    cp "$DATA/fixes/optim.py" "$DATA/fixes/model.py" "$TMP/p/"
    cp "$DATA/fixes/optim.py" "$TMP/p/sub/"
    printf 'unfixable = ["EQX014"]\n' >"$TMP/p/eqlint.toml"
    printf 'select = ["EQX014"]\n' >"$TMP/p/sub/eqlint.toml"
    run check --format concise "$TMP/p"; rc_is 1; out_lines 4
    out_has "^$TMP/p/optim.py:8:9: EQX014 \`"
    out_has "^$TMP/p/model.py:18:13: EQX001 \[\*\] "
    out_has "^$TMP/p/sub/optim.py:8:9: EQX014 \[\*\] "
    run check --fix --format concise "$TMP/p"; rc_is 1; out_lines 1
    out_has "^$TMP/p/optim.py:8:9: EQX014 "
    cmp -s "$DATA/fixes/optim.py" "$TMP/p/optim.py" || fail "the unfixable EQX014 was fixed"
    grep -q 'eqx.filter(model, eqx.is_array))$' "$TMP/p/model.py" || fail "EQX001 not fixed"
    grep -q 'eqx.filter(model, eqx.is_array)$' "$TMP/p/sub/optim.py" ||
      fail "sub/optim.py (no unfixable there) not fixed" ;;
  fix_safety)
    # extend-unsafe-fixes demotes EQX014: --fix leaves it, --fix --unsafe-fixes applies it.
    # extend-safe-fixes promotes EQX003 (by name): --fix applies it without --unsafe-fixes.
    mkdir -p "$TMP/p"
    cp "$DATA/fixes/optim.py" "$DATA/fixes/jit.py" "$TMP/p/"
    printf 'extend-unsafe-fixes = ["EQX014"]\nextend-safe-fixes = ["unfiltered-transform"]\n' \
      >"$TMP/p/eqlint.toml"
    run check --format concise "$TMP/p"; rc_is 1; out_lines 3
    out_has "^$TMP/p/optim.py:8:9: EQX014 \`"; out_has "^$TMP/p/jit.py:17:44: EQX003 \[\*\] "
    run check --format concise --unsafe-fixes "$TMP/p"; rc_is 1
    out_has "^$TMP/p/optim.py:8:9: EQX014 \[\*\] "
    run check --fix --format concise "$TMP/p"; rc_is 1; out_lines 1
    out_has "^$TMP/p/optim.py:8:9: EQX014 "
    cmp -s "$DATA/fixes/optim.py" "$TMP/p/optim.py" || fail "EQX014 fixed without --unsafe-fixes"
    grep -q '^@eqx.filter_jit$' "$TMP/p/jit.py" || fail "the promoted EQX003 was not fixed"
    run check --fix --unsafe-fixes --format concise "$TMP/p"; rc_is 0; out_empty
    grep -q 'eqx.filter(model, eqx.is_array)$' "$TMP/p/optim.py" ||
      fail "EQX014 not fixed with --unsafe-fixes"
    # An unknown code is a configuration error at its place, like in `ignore`.
    printf 'extend-safe-fixes = ["EQX003"]\nunfixable = ["EQX014", "EQX404"]\n' \
      >"$TMP/p/eqlint.toml"
    run check --fix "$TMP/p"; expect_config_error "$TMP/p/eqlint.toml" 2 24 \
      '`unfixable`: unknown rule code or prefix `EQX404`' ;;
  # ---- every kind of configuration error: exit 2 and file:line:col ----
  error_unknown_key)
    bad_config eqlint.toml '# settings
selct = ["EQX001"]
'
    run check "$TMP/p"; expect_config_error "$TMP/p/eqlint.toml" 2 1 \
      'unknown key `selct` \(did you mean `select`\?\)$' ;;
  error_unknown_key_pyproject)
    bad_config pyproject.toml '[tool.eqlint]
select = ["EQX001"]
[tool.eqlint.rules.EQX013]
exclude-test = true
'
    run check "$TMP/p/m.py"; expect_config_error "$TMP/p/pyproject.toml" 4 1 \
      'unknown key `exclude-test` in \[tool.eqlint.rules.EQX013\] \(did you mean `exclude-tests`\?\)' ;;
  error_wrong_type)
    bad_config eqlint.toml 'select = "EQX001"
'
    run check "$TMP/p"; expect_config_error "$TMP/p/eqlint.toml" 1 10 \
      '`select` must be an array of strings, not a string'
    bad_config eqlint.toml 'respect-gitignore = 1
'
    run check "$TMP/p"; expect_config_error "$TMP/p/eqlint.toml" 1 21 \
      '`respect-gitignore` must be a boolean' ;;
  error_bad_code)
    bad_config eqlint.toml 'ignore = ["EQX001", "EQX404"]
'
    run check "$TMP/p"; expect_config_error "$TMP/p/eqlint.toml" 1 21 \
      '`ignore`: unknown rule code or prefix `EQX404`'
    bad_config eqlint.toml '[per-file-ignores]
"tests/*.py" = ["NOPE"]
'
    run check "$TMP/p"; expect_config_error "$TMP/p/eqlint.toml" 2 17 \
      '`per-file-ignores."tests/\*.py"`: unknown rule code or prefix `NOPE`' ;;
  error_bad_glob)
    bad_config .eqlint.toml 'exclude = ["gen/[x"]
'
    run check "$TMP/p"; expect_config_error "$TMP/p/.eqlint.toml" 1 12 \
      '`exclude`: `gen/\[x` is not a valid glob' ;;
  error_toml_syntax)
    bad_config eqlint.toml 'select = ["EQX001" "EQX003"]
'
    run check "$TMP/p"; expect_config_error "$TMP/p/eqlint.toml" 1 20 \
      'TOML syntax error: unexpected `"EQX003"`'
    # A pyproject.toml that is not valid TOML stops the run even without [tool.eqlint]:
    # nobody can tell whether it meant to configure eqlint.
    bad_config pyproject.toml '[project
name = "x"
'
    run check "$TMP/p"; expect_config_error "$TMP/p/pyproject.toml" 1 9 \
      'TOML syntax error: unexpected end of line'
    bad_config eqlint.toml 'select = []
select = ["EQX001"]
'
    run check "$TMP/p"; expect_config_error "$TMP/p/eqlint.toml" 2 1 'duplicate key `select`' ;;
  error_nested_config)
    # A broken configuration deep in the tree stops the whole run, not just its directory.
    bad_config eqlint.toml 'select = ["EQX001"]
'
    mkdir -p "$TMP/p/deep/er"
    printf 'extend-exclude = [1]\n' >"$TMP/p/deep/er/eqlint.toml"
    pitfall "$TMP/p/deep/er/x.py"
    run check "$TMP/p"; expect_config_error "$TMP/p/deep/er/eqlint.toml" 1 19 \
      '`extend-exclude` must be an array of strings, but item 1 is an integer'
    run check --config "$TMP/p/deep/er/eqlint.toml" "$TMP/p/m.py"
    expect_config_error "$TMP/p/deep/er/eqlint.toml" 1 19 '`extend-exclude` must be' ;;
  *)
    echo "cli_config_test.sh: unknown case '$CASE'"; exit 2 ;;
esac
echo "ok [$CASE]"
exit 0
