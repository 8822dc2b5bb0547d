#!/bin/sh
# CLI tests of the CI-facing options: every --format end to end, --output-file,
# --statistics, --exit-zero, --quiet, standard input (`-`, --stdin-filename), --show-files and
# --show-settings. The emitters' exact bytes are pinned by unit_emit_formats; these cases pin
# what the program does with them (exit codes, where the report goes, what stays silent).
#
# usage: sh tests/cli_formats_test.sh PATH/TO/eqlint CASE     (from the repository root)
#
# JSON and XML are parsed with python3 when it is installed (a parser, not a regex, is the
# only real validity check); without it those checks fall back to shape checks.
set -u

EQLINT=$1
CASE=$2
DATA=tests/data
TMP=$(mktemp -d "${TMPDIR:-/tmp}/eqlint-fmt.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
. "$(dirname "$0")/cli_lib.sh"
unset NO_COLOR

# every_line RE: stdout is not empty and each of its lines matches RE.
every_line() {
  [ -s "$TMP/out" ] || fail "no output"
  bad=$(grep -Ev -- "$1" "$TMP/out" | head -n 3)
  [ -z "$bad" ] || fail "lines not matching /$1/: $bad"
}
have_python() { command -v python3 >/dev/null 2>&1; }
# json_ok FILE [PYTHON-EXPR]: FILE parses as JSON and, given an expression over `d`, it holds.
json_ok() {
  have_python || { grep -q '^[[{]' "$1" || fail "$1 does not look like JSON"; return; }
  python3 - "$1" "${2:-True}" <<'EOF' || fail "$1: invalid JSON or check failed: ${2:-}"
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
}
xml_ok() {
  have_python || { grep -q '^<?xml' "$1" || fail "$1 does not look like XML"; return; }
  python3 -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1])' "$1" ||
    fail "$1 is not well-formed XML"
}

case $CASE in
  json)
    run check --format json "$DATA/pitfall.py"; rc_is 1
    json_ok "$TMP/out" 'len(d) == 2 and d[0]["code"] == "EQX003" and d[1]["location"]["row"] == 17 and d[1]["url"] == "https://eqlint.dev/rules/EQX001" and d[1]["fix"]["applicability"] == "safe" and d[1]["fix"]["edits"][0]["content"] == "eqx.filter(model, eqx.is_array)" and d[1]["fix"]["edits"][0]["location"]["row"] == 17'
    out_has '"filename": "tests/data/pitfall.py"'
    run check --format json "$DATA/clean.py"; rc_is 0
    [ "$(cat "$TMP/out")" = "[]" ] || fail "a clean run is not an empty array" ;;
  json_lines)
    run check --format json-lines "$DATA/pitfall.py" "$DATA/broken.py"; rc_is 1
    every_line '^\{"code":"EQX[0-9]{3}",.*\}$'
    [ "$(wc -l <"$TMP/out")" -ge 3 ] || fail "expected one line per diagnostic"
    if have_python; then
      python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$TMP/out" ||
        fail "a line is not JSON"
    fi ;;
  sarif)
    run check --format sarif "$DATA/pitfall.py"; rc_is 1
    json_ok "$TMP/out" 'd["version"] == "2.1.0" and d["runs"][0]["tool"]["driver"]["name"] == "eqlint" and len(d["runs"][0]["results"]) == 2 and all(r["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "tests/data/pitfall.py", "uriBaseId": "%SRCROOT%"} for r in d["runs"][0]["results"])'
    # An absolute path inside the working directory is reported relative to it.
    run check --format sarif "$PWD/$DATA/pitfall.py"; rc_is 1
    out_has '"uri": "tests/data/pitfall.py"' ;;
  github)
    run check --format github "$DATA/pitfall.py" "$DATA/broken.py"; rc_is 1
    every_line '^::(error|warning|notice) file=[^,]+,line=[0-9]+,col=[0-9]+,endLine=[0-9]+,endColumn=[0-9]+,title=EQX[0-9]{3} \([a-z-]+\)::.+$'
    out_has '^::error file=tests/data/pitfall.py,line=17,col=9,.*title=EQX001 \(optimizer-init-unfiltered\)::' ;;
  gitlab)
    run check --format gitlab "$DATA/pitfall.py"; rc_is 1
    json_ok "$TMP/out" 'len(d) == 2 and len({i["fingerprint"] for i in d}) == 2 and d[1]["location"]["path"] == "tests/data/pitfall.py" and d[1]["location"]["positions"]["begin"]["line"] == 17 and d[1]["severity"] == "major"' ;;
  junit)
    run check --format junit "$DATA/pitfall.py" "$DATA/broken.py"; rc_is 1
    xml_ok "$TMP/out"
    out_has '<testsuite name="tests/data/pitfall.py" tests="2" '
    out_has '<testcase name="org.eqlint.EQX001" classname="tests/data/pitfall" line="17"'
    run check --format junit "$DATA/clean.py"; rc_is 0; xml_ok "$TMP/out"
    out_has 'No errors found' ;;
  pylint)
    run check --format pylint "$DATA/pitfall.py"; rc_is 1
    every_line '^tests/data/pitfall\.py:[0-9]+: \[EQX[0-9]{3}\] .+$'
    out_has '^tests/data/pitfall\.py:17: \[EQX001\] ' ;;
  every_format)
    # Each format in the help text is accepted and keeps the exit-status contract.
    for f in full concise json json-lines sarif github gitlab junit pylint; do
      run check --format "$f" "$DATA/pitfall.py"; rc_is 1
      [ -s "$TMP/out" ] || fail "--format $f printed nothing"
      run check --format "$f" "$DATA/clean.py"; rc_is 0
    done
    run check --format xml "$DATA/clean.py"; rc_is 2; err_has 'json-lines, sarif' ;;
  output_file)
    run check --format sarif -o "$TMP/reports/ci/eqlint.sarif" "$DATA/pitfall.py"; rc_is 1
    out_empty
    json_ok "$TMP/reports/ci/eqlint.sarif" 'len(d["runs"][0]["results"]) == 2'
    # The file holds exactly what stdout would have.
    "$EQLINT" check --format sarif "$DATA/pitfall.py" >"$TMP/stdout.sarif"
    cmp -s "$TMP/stdout.sarif" "$TMP/reports/ci/eqlint.sarif" || fail "file and stdout differ"
    # No temporary file is left beside the report.
    [ "$(ls -A "$TMP/reports/ci")" = "eqlint.sarif" ] || fail "stray files: $(ls -A "$TMP/reports/ci")"
    # A second run replaces the report.
    run check --format json --output-file "$TMP/reports/ci/eqlint.sarif" "$DATA/clean.py"; rc_is 0
    [ "$(cat "$TMP/reports/ci/eqlint.sarif")" = "[]" ] || fail "the report was not replaced"
    # Full format into a file: no colour unless asked for, summary included.
    run check --color auto -o "$TMP/full.txt" "$DATA/pitfall.py"; rc_is 1; out_empty
    grep -q '^Found 2 diagnostics' "$TMP/full.txt" || fail "no summary in the file"
    ! grep -q "$(printf '\033')" "$TMP/full.txt" || fail "colour in the file" ;;
  output_file_error)
    : >"$TMP/plain"
    run check --format json -o "$TMP/plain/out.json" "$DATA/pitfall.py"; rc_is 2; out_empty
    err_has "cannot write $TMP/plain/out.json: "
    run check -o "" "$DATA/pitfall.py"; rc_is 2; err_has 'file name is empty' ;;
  output_file_no_files)
    # Nothing to check still writes a report, so an upload step finds one.
    mkdir "$TMP/empty"
    run check --format sarif -o "$TMP/r.sarif" "$TMP/empty"; rc_is 0
    err_has 'no Python files found'
    json_ok "$TMP/r.sarif" 'd["runs"][0]["results"] == []' ;;
  statistics)
    run check --statistics "$DATA/pitfall.py" "$DATA/broken.py"; rc_is 1
    # Ruff's layout: a `[*] ` / `[ ] ` column once some diagnostic is fixable (EQX999 is not).
    every_line "^ *[0-9]+	EQX[0-9]{3}	\\[[* ]\\] [a-z-]+\$"
    out_has '^1	EQX001	\[\*\] optimizer-init-unfiltered$'
    out_has '^1	EQX999	\[ \] syntax-error$'
    out_lacks 'Found'
    run check --statistics --format json "$DATA/pitfall.py"; rc_is 1
    json_ok "$TMP/out" '{r["code"]: r["count"] for r in d} == {"EQX001": 1, "EQX003": 1} and all(r["fixable"] for r in d)'
    run check --statistics "$DATA/clean.py"; rc_is 0; out_empty
    run check --statistics --exit-zero "$DATA/pitfall.py"; rc_is 0; out_has 'EQX001' ;;
  exit_zero)
    run check --exit-zero "$DATA/pitfall.py"; rc_is 0; out_has 'EQX001'
    run check -e --format concise "$DATA/pitfall.py"; rc_is 0; out_has 'EQX001'
    # Failures keep their status: --exit-zero only forgives diagnostics.
    run check --exit-zero "$DATA/no-such-file.py"; rc_is 2
    run check --exit-zero --select NOPE "$DATA/pitfall.py"; rc_is 2 ;;
  quiet)
    run check --quiet "$DATA/pitfall.py"; rc_is 1; out_has 'EQX001'; out_lacks '^Found'
    run check -q "$DATA/clean.py"; rc_is 0; out_empty
    mkdir "$TMP/empty"
    run check -q "$TMP/empty"; rc_is 0; out_empty; err_empty
    # Errors are not diagnostics' chatter: they still reach stderr.
    run check -q "$DATA/no-such-file.py"; rc_is 2; err_has 'cannot read' ;;
  stdin)
    run_stdin "$DATA/pitfall.py" check --format concise - --stdin-filename src/piped.py; rc_is 1
    every_line '^src/piped\.py:[0-9]+:[0-9]+: EQX[0-9]{3} '
    out_has '^src/piped\.py:17:9: EQX001 '
    # Without a name the file is "-"; with a name and no path, standard input is read.
    run_stdin "$DATA/pitfall.py" check --format concise -; rc_is 1; out_has '^-:17:9: EQX001 '
    run_stdin "$DATA/pitfall.py" check --format pylint --stdin-filename x.py; rc_is 1
    out_has '^x\.py:17: \[EQX001\] '
    run_stdin "$DATA/clean.py" check -; rc_is 0; out_has '^All checks passed!$'
    # Only standard input is checked: "." is not walked as well.
    run_stdin "$DATA/clean.py" check --format concise -; rc_is 0; out_empty
    # A name with paths and no `-`: standard input is still read, with the paths.
    run_stdin "$DATA/pitfall.py" check --format concise --stdin-filename piped.py "$DATA/clean.py"
    rc_is 1; out_has '^piped\.py:17:9: EQX001 ' ;;
  stdin_with_project)
    # An editor pipes the buffer of train.py; model.py comes from disk; the cross-file
    # knowledge (Net holds an MLP) still applies to the piped file.
    run_stdin "$DATA/project/train.py" check --format concise \
      --stdin-filename "$DATA/project/train.py" - "$DATA/project/model.py"; rc_is 1
    out_has "^$DATA/project/train.py:8:[0-9]+: EQX001 "
    # The buffer replaces the saved file when the walk finds it too: here the piped buffer
    # is clean, so the saved train.py's finding must not be reported (nor anything twice).
    run_stdin "$DATA/clean.py" check --format concise \
      --stdin-filename "$DATA/project/train.py" - "$DATA/project"; rc_is 0; out_empty
    run_stdin "$DATA/project/train.py" check --format concise \
      --stdin-filename "./$DATA/project/train.py" - "$DATA/project"; rc_is 1
    [ "$(wc -l <"$TMP/out")" -eq 1 ] || fail "the piped file was checked twice"
    run check --show-files --stdin-filename "$DATA/project/train.py" "$DATA/project"; rc_is 0
    [ "$(grep -c 'train\.py$' "$TMP/out")" -eq 1 ] || fail "train.py listed twice" ;;
  show_files)
    run check --show-files "$DATA/project"; rc_is 0
    [ "$(cat "$TMP/out")" = "$(printf '%s\n%s' "$DATA/project/model.py" "$DATA/project/train.py")" ] ||
      fail "unexpected file list"
    run check --show-files "$DATA/pitfall.py" - --stdin-filename piped.py; rc_is 0
    out_has '^tests/data/pitfall\.py$'; out_has '^piped\.py$'
    run check --show-files "$DATA/no-such-dir"; rc_is 2; err_has 'cannot read' ;;
  show_settings)
    run check --show-settings --format sarif --ignore EQX003 -o r.sarif --exit-zero src; rc_is 0
    out_has '^format += sarif$'; out_has '^output-file += r\.sarif$'
    out_has '^exit-zero += true$'; out_has '^paths += \[src\]$'
    out_has '^  EQX001 on +optimizer-init-unfiltered +error$'
    out_has '^  EQX003 off +unfiltered-transform'
    out_has '^rules += [0-9]+ of [0-9]+ selected$'
    [ ! -e r.sarif ] || fail "--show-settings wrote a report"
    out_has '^jobs += auto'; out_has '^prefilter += true$'; out_has '^stdin += false$'
    run check --show-settings -j 3 --no-prefilter - --stdin-filename a.py; rc_is 0
    out_has '^jobs += 3$'; out_has '^prefilter += false$'; out_has '^stdin += true \(as a\.py\)$'
    out_has '^paths += \[\]$'
    # The configuration file in effect, and the selection it makes.
    run check --show-settings --isolated; rc_is 0; out_has '^config += \(none: --isolated\)$'
    printf 'select = ["EQX001"]\n' >"$TMP/eqlint.toml"
    run check --show-settings --config "$TMP/eqlint.toml"; rc_is 0
    out_has "^config += $TMP/eqlint.toml\$"
    out_has '^  EQX001 on '; out_has '^  EQX003 off ' ;;
  help_lists_flags)
    run check --help; rc_is 0
    for opt in --output-file --statistics --exit-zero --quiet --stdin-filename --show-files \
               --show-settings sarif gitlab junit pylint json-lines github; do
      out_has "$opt"
    done ;;
  precommit_hook)
    # .pre-commit-hooks.yaml declares what pre-commit runs; run it the way pre-commit does
    # (the entry, then the staged file names) and check the exit statuses it relies on.
    HOOKS=.pre-commit-hooks.yaml
    [ -f "$HOOKS" ] || fail "no $HOOKS"
    if have_python && python3 -c 'import yaml' 2>/dev/null; then
      python3 - "$HOOKS" <<'EOF' || fail "$HOOKS does not declare the hooks as documented"
import sys, yaml
hooks = {h["id"]: h for h in yaml.safe_load(open(sys.argv[1]))}
h = hooks["eqlint"]
assert h["entry"] == "eqlint check" and h["language"] == "system", h
assert "python" in h.get("types", []) + h.get("types_or", []), h
assert h["require_serial"] is True, h
p = hooks["eqlint-project"]
assert p["pass_filenames"] is False and p["args"] == ["."], p
EOF
    else
      grep -q '^- id: eqlint$' "$HOOKS" && grep -q '^  entry: eqlint check$' "$HOOKS" &&
        grep -q '^  language: system$' "$HOOKS" || fail "$HOOKS lacks the eqlint hook"
    fi
    entry=$(sed -n 's/^  entry: eqlint //p' "$HOOKS" | head -n 1)
    # shellcheck disable=SC2086 # the entry's words are separate arguments, as in pre-commit
    run $entry "$DATA/pitfall.py" "$DATA/clean.py"; rc_is 1; out_has 'EQX001'
    # shellcheck disable=SC2086
    run $entry "$DATA/clean.py"; rc_is 0 ;;
  ci_doc)
    # docs/ci.md stays true: its YAML parses, the SARIF upload is there, and every
    # `eqlint check ...` command it shows is accepted by this eqlint (checked with
    # --show-settings, which validates the options and exits before reading any file).
    grep -q 'github/codeql-action/upload-sarif' docs/ci.md || fail "no upload-sarif step"
    grep -q 'codequality:' docs/ci.md || fail "no GitLab codequality report"
    have_python || exit 0
    python3 - "$EQLINT" docs/ci.md <<'EOF' || fail "docs/ci.md is out of date"
import re, shlex, subprocess, sys
eqlint, path = sys.argv[1], sys.argv[2]
text = open(path, encoding="utf-8").read()
try:
    import yaml
    for block in re.findall(r"```yaml\n(.*?)```", text, re.S):
        yaml.safe_load(block)
except ImportError:
    pass
commands = sorted(set(re.findall(r"eqlint check[^\n`|<]*", text)))
assert len(commands) >= 5, commands
for c in commands:
    args = shlex.split(c)[2:]
    r = subprocess.run([eqlint, "check", *args, "--show-settings"], capture_output=True)
    if r.returncode != 0:
        sys.exit(f"{c!r}: {r.stderr.decode()}")
EOF
    ;;
  rule_json)
    run rule EQX001 --format json; rc_is 0
    json_ok "$TMP/out" 'd["code"] == "EQX001" and d["name"] == "optimizer-init-unfiltered" and d["explanation"].startswith("## What it does") and d["url"].endswith("/rules/EQX001")'
    run rule --all --output-format json; rc_is 0
    json_ok "$TMP/out" 'len(d) >= 4 and all(set(r) == {"code", "name", "severity", "fixable", "summary", "url", "explanation"} for r in d) and [r["code"] for r in d] == sorted(r["code"] for r in d)'
    run rule EQX001 --format text; rc_is 0; out_has '^# EQX001 '
    run rule EQX001 --format yaml; rc_is 2; err_has "unknown format 'yaml'"
    run rule EQX001 --format; rc_is 2; err_has 'needs a value' ;;
  *)
    echo "cli_formats_test.sh: unknown case '$CASE'"; exit 2 ;;
esac
echo "ok [$CASE]"
exit 0
