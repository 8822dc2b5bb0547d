#!/bin/sh
# The installed tree, as a user of `cmake --install build --prefix P` gets it.
#
# usage: sh tests/install_test.sh CASE BUILD_DIR LIBDIR SANITIZE CMAKE CC
#   files          every installed file is where the docs say, eqlint runs, the man page
#                  renders and documents the CI options
#   pkgconfig      a C program compiles and links against the installed libeqx through
#                  `pkg-config --cflags --libs eqx`, and runs
#   cmake_package  a CMake project finds it with find_package(eqx) and links eqx::eqx
# SANITIZE is the build's EQL_SANITIZE: an instrumented libeqx.a needs the sanitizer
# runtime at link time, so the test programs are then built with the same flags.
set -u
CASE=$1 BUILD=$2 LIBDIR=$3 SANITIZE=$4 CMAKE=$5 CC=$6
TMP=$(mktemp -d "${TMPDIR:-/tmp}/eqlint-install.XXXXXX") || exit 2
trap 'rm -rf "$TMP"' EXIT
P=$TMP/prefix
fail() { echo "FAIL [install_$CASE]: $*"; exit 1; }

SANFLAGS=
case $SANITIZE in ON|on|1|TRUE|true|YES|yes) SANFLAGS="-fsanitize=address,undefined" ;; esac

"$CMAKE" --install "$BUILD" --prefix "$P" >"$TMP/install.log" 2>&1 ||
  { cat "$TMP/install.log"; fail "cmake --install failed"; }

# A program that needs libeqx and OpenBLAS (eqx_matmul is an sgemm) and checks the result.
cat >"$TMP/x.c" <<'CEOF'
#include <eqx.h>
#include <stdio.h>

int main(void) {
  const int64_t shape[2] = {2, 2};
  const float a[4] = {1, 2, 3, 4}, b[4] = {0, 1, 1, 0};
  eqx_array *x = NULL, *y = NULL, *z = NULL;
  eqx_ctx *ctx = NULL;
  if (eqx_array_from_f32(2, shape, a, &x) || eqx_array_from_f32(2, shape, b, &y) ||
      eqx_ctx_new(&ctx) || eqx_matmul(ctx, x, y, &z))
    return 1;
  const float *r = eqx_array_f32(z);
  int ok = r[0] == 2 && r[1] == 1 && r[2] == 4 && r[3] == 3;
  printf("%s\n", ok ? "matmul ok" : "matmul wrong");
  eqx_ctx_free(ctx);
  eqx_array_free(x);
  eqx_array_free(y);
  return ok ? 0 : 1;
}
CEOF

case $CASE in
  files)
    for f in bin/eqlint "$LIBDIR/libeqx.a" include/eqx.h "$LIBDIR/pkgconfig/eqx.pc" \
             "$LIBDIR/cmake/eqx/eqxConfig.cmake" "$LIBDIR/cmake/eqx/eqxConfigVersion.cmake" \
             "$LIBDIR/cmake/eqx/eqxTargets.cmake" share/man/man1/eqlint.1; do
      [ -f "$P/$f" ] || fail "missing $f"
    done
    [ -x "$P/bin/eqlint" ] || fail "bin/eqlint is not executable"
    "$P/bin/eqlint" --version | grep -Eq '^eqlint [0-9]+\.[0-9]+\.[0-9]+' ||
      fail "the installed eqlint does not run"
    # No build-tree or source-tree path leaks into the installed package files.
    ! grep -l "$BUILD" "$P/$LIBDIR/pkgconfig/eqx.pc" "$P/$LIBDIR/cmake/eqx/"*.cmake ||
      fail "a build path leaked into the package files"
    # The man page renders without warnings and documents the CI options and formats.
    if command -v groff >/dev/null 2>&1; then
      groff -man -Tutf8 -ww -z "$P/share/man/man1/eqlint.1" 2>"$TMP/groff.err"
      [ ! -s "$TMP/groff.err" ] || { cat "$TMP/groff.err"; fail "groff warnings"; }
    fi
    for word in '\\-\\-output\\-file' '\\-\\-statistics' '\\-\\-exit\\-zero' '\\-\\-quiet' \
                '\\-\\-stdin\\-filename' '\\-\\-show\\-files' '\\-\\-show\\-settings' \
                '\\-\\-format' 'json\\-lines' sarif github gitlab junit pylint concise; do
      grep -q -- "$word" "$P/share/man/man1/eqlint.1" || fail "man page lacks $word"
    done ;;
  pkgconfig)
    command -v pkg-config >/dev/null 2>&1 || { echo "SKIP: no pkg-config"; exit 77; }
    PKG_CONFIG_PATH="$P/$LIBDIR/pkgconfig"
    export PKG_CONFIG_PATH
    flags=$(pkg-config --cflags --libs eqx) || fail "pkg-config does not know eqx"
    # The include directory is the prefix's (the .pc file walks up from its own directory,
    # so compare resolved paths), also after the tree is copied elsewhere: relocatable.
    resolved() { (cd "$1" 2>/dev/null && pwd -P); }
    inc=$(pkg-config --variable=includedir eqx)
    [ "$(resolved "$inc")" = "$(resolved "$P/include")" ] || fail "includedir is $inc"
    cp -R "$P" "$TMP/moved"
    inc=$(PKG_CONFIG_PATH="$TMP/moved/$LIBDIR/pkgconfig" pkg-config --variable=includedir eqx)
    [ "$(resolved "$inc")" = "$(resolved "$TMP/moved/include")" ] || fail "not relocatable: $inc"
    # shellcheck disable=SC2086 # the flags are meant to split
    "$CC" $SANFLAGS "$TMP/x.c" -o "$TMP/x" $flags || fail "cannot build against libeqx"
    "$TMP/x" | grep -q '^matmul ok$' || fail "the program built against libeqx is wrong" ;;
  cmake_package)
    mkdir "$TMP/app"
    cp "$TMP/x.c" "$TMP/app/x.c"
    cat >"$TMP/app/CMakeLists.txt" <<'CEOF'
cmake_minimum_required(VERSION 3.18)
project(app C)
# eqxConfigVersion.cmake: a future major version is refused, this one accepted.
find_package(eqx 99.0 QUIET)
if(eqx_FOUND)
  message(FATAL_ERROR "find_package(eqx 99.0) accepted version ${eqx_VERSION}")
endif()
find_package(eqx 0.1 REQUIRED)
add_executable(x x.c)
target_link_libraries(x PRIVATE eqx::eqx)
CEOF
    "$CMAKE" -S "$TMP/app" -B "$TMP/app/build" -DCMAKE_PREFIX_PATH="$P" \
      -DCMAKE_C_COMPILER="$CC" -DCMAKE_C_FLAGS="$SANFLAGS" >"$TMP/cfg.log" 2>&1 ||
      { cat "$TMP/cfg.log"; fail "find_package(eqx) failed"; }
    "$CMAKE" --build "$TMP/app/build" >"$TMP/build.log" 2>&1 ||
      { cat "$TMP/build.log"; fail "cannot build against eqx::eqx"; }
    "$TMP/app/build/x" | grep -q '^matmul ok$' || fail "the program linked to eqx::eqx is wrong" ;;
  *)
    echo "install_test.sh: unknown case '$CASE'"; exit 2 ;;
esac
echo "ok [install_$CASE]"
