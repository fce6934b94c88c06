#!/bin/sh
# Every compile line of the README, run as written on two programs, the
# README's example (with a call into libm added) and examples/two_layer.c
# (matrix products, so GEMM and OpenBLAS get linked; exp from libm), built in
# the tree (the default build, and again with
# BLAS=none in build-noblas), then installed into a scratch PREFIX and built
# with pkg-config against the shared and the static library.  Each program
# must run.  A README line that changes without this script fails here.
#   sh scripts/check-readme-builds.sh     (from the repository root; make first)
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "check-readme-builds: $*" >&2; exit 1; }

# The README's line, verbatim, or fail: the lines below must stay the README's.
readme_line() {
    grep -qxF "$1" README.md || fail "README.md no longer has the line: $1"
}

# ex.c: the README's example, plus libm (cbrt) so that a missing -lm shows.
sed -n '/^```c$/,/^```$/p' README.md | sed '1d;$d' >"$tmp/ex.c"
grep -q 'nb_backward' "$tmp/ex.c" || fail "README.md's C example not found"
sed -i 's|^#include <stdio.h>|#include <math.h>\n#include <stdio.h>\nvolatile double nb_check_v = 27;|' "$tmp/ex.c"
sed -i 's|^    nb_ctx_free(c); nb_tensor_free(x); nb_tensor_free(w);|    printf("cbrt %g\\n", cbrt(nb_check_v));\n&|' "$tmp/ex.c"
grep -q cbrt "$tmp/ex.c" || fail "could not add the libm call to the example"

run() { # run the program built as $1; it must print y = 0.5 and cbrt 3
    out=$("$1") || fail "$1 failed: $out"
    case "$out" in *"y = 0.5"*"cbrt 3"*) ;; *) fail "$1 printed: $out" ;; esac
}
cp examples/two_layer.c "$tmp/two_layer.c"

# Build ex.c with the line $1 (in the current folder), run it, then the same
# for two_layer.c copied to ex.c.
both() {
    cp "$tmp/ex.c" ex.c
    eval "$1" || fail "failed: $1"
    run ./ex
    cp "$tmp/two_layer.c" ex.c
    eval "$1" || fail "failed on examples/two_layer.c: $1"
    out=$(./ex) || fail "two_layer failed: $out"
    case "$out" in *"OK:"*) ;; *) fail "two_layer printed: $out" ;; esac
}

# 1. in the tree, as the README says (the default build, BLAS whatever found)
line='cc ex.c -o ex -Iinclude build/libnabla.a $(make -s print-ldlibs)'
readme_line "$line"
make -s -j2 all >/dev/null
trap 'rm -rf "$tmp" ex.c ex' EXIT
both "$line"
echo "ok in the tree ($(make -s print-ldlibs))"

# 2. in the tree without OpenBLAS: the same line on build-noblas
make -s -j2 BLAS=none B=build-noblas "build-noblas/libnabla.a" >/dev/null
both "$(echo "$line" | sed 's|build/libnabla.a \$(make -s print-ldlibs)|build-noblas/libnabla.a $(make -s BLAS=none B=build-noblas print-ldlibs)|')"
both 'cc ex.c -o ex -Iinclude build-noblas/libnabla.a -lz -lm'
echo "ok in the tree, BLAS=none (-lz -lm)"
rm -f ex.c ex

# 3. installed into a scratch PREFIX, through pkg-config
prefix="$tmp/prefix"
make -s install PREFIX="$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
pc="$prefix/lib/pkgconfig/nabla.pc"
grep -q '^Libs.private:.*-lz.*-lm' "$pc" || fail "nabla.pc: Libs.private lacks -lz -lm"
if grep -q 'NB_HAVE_CBLAS' build/blas.cfg 2>/dev/null; then
    grep -q '^Libs.private:.*openblas' "$pc" || fail "nabla.pc: built with OpenBLAS but Libs.private lacks it"
fi
mkdir "$tmp/work"
cd "$tmp/work"
line='cc ex.c -o ex $(pkg-config --cflags --libs nabla) -lm -Wl,-rpath,$(pkg-config --variable=libdir nabla)'
(cd "$OLDPWD" && readme_line "$line")
both "$line"
ldd ./ex | grep -q 'libnabla.so.0 => '"$prefix" || fail "the shared example does not use the installed libnabla.so"
echo "ok installed, shared (rpath)"
line='cc ex.c -o ex $(pkg-config --cflags nabla) -l:libnabla.a -Wl,--as-needed $(pkg-config --libs --static nabla)'
(cd "$OLDPWD" && readme_line "$line")
rm -f ex
both "$line"
if ldd ./ex | grep -q libnabla; then fail "the static example still needs libnabla.so"; fi
echo "ok installed, static"
echo "README builds OK"
