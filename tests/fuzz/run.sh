#!/bin/sh
# Build every libFuzzer harness into build-fuzz/ and run each for SECONDS
# (default 60) on a scratch copy of its seed corpus (tests/fuzz/corpus/NAME;
# the committed corpus is never modified).  Exits non-zero if any harness
# fails to build or finds a crash, leak, sanitizer report or timeout; the
# input that did it is kept as build-fuzz/artifacts/NAME-crash-* and the log
# as build-fuzz/NAME.log.
#
#   tests/fuzz/run.sh [SECONDS] [NAME...]     NAME: idx csv safetensors model_spec layer_spec checkpoint
#
# Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev).  Env:
# FUZZ_CC (default clang), FUZZ_JOBS (make -j, default 2), FUZZ_FLAGS (extra
# libFuzzer flags), FUZZ_KEEP=DIR (copy each grown corpus to DIR/NAME).
set -eu
cd "$(dirname "$0")/../.."
secs=${1:-60}
[ $# -gt 0 ] && shift
names=${*:-idx csv safetensors model_spec layer_spec checkpoint}
cc=${FUZZ_CC:-clang}
B=build-fuzz
san="-fsanitize=address,undefined -fno-sanitize-recover=all"
opt="-O1 -g -fno-omit-frame-pointer"

echo "== building the library ($cc, libFuzzer coverage, ASan+UBSan) into $B/"
make -s -j"${FUZZ_JOBS:-2}" BLAS=none CC="$cc" B="$B" OPT="$opt -fsanitize=fuzzer-no-link $san" "$B/libnabla.a"
for n in $names; do
    [ -f "tests/fuzz/fuzz_$n.c" ] || { echo "no harness tests/fuzz/fuzz_$n.c" >&2; exit 2; }
    "$cc" -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror $opt -fsanitize=fuzzer $san \
        -Iinclude "tests/fuzz/fuzz_$n.c" "$B/libnabla.a" -lz -lm -o "$B/fuzz_$n"
done

mkdir -p "$B/artifacts"
failed=""
for n in $names; do
    work=$(mktemp -d "${TMPDIR:-/tmp}/nb_fuzz_$n.XXXXXX")
    cp "tests/fuzz/corpus/$n/"* "$work/"
    dict=""
    [ -f "tests/fuzz/$n.dict" ] && dict="-dict=tests/fuzz/$n.dict"
    seeds=$(ls "$work" | wc -l)
    printf '== %-12s %ss on %s seeds ... ' "$n" "$secs" "$seeds"
    # ASan's leak check stays on (libFuzzer reports leaks as failures).
    if "$B/fuzz_$n" -max_total_time="$secs" -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$B/artifacts/$n-" $dict ${FUZZ_FLAGS:-} "$work" >"$B/$n.log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$B/$n.log")
        cov=$(grep -o 'cov: [0-9]*' "$B/$n.log" | tail -n 1)
        echo "ok: ${execs:-?} executions, $cov, corpus $(ls "$work" | wc -l)"
    else
        echo "FAILED (log: $B/$n.log)"
        grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$B/$n.log" | head -n 8 || true
        failed="$failed $n"
    fi
    if [ -n "${FUZZ_KEEP:-}" ]; then
        mkdir -p "$FUZZ_KEEP/$n"
        cp "$work/"* "$FUZZ_KEEP/$n/"
    fi
    rm -rf "$work"
done
if [ -n "$failed" ]; then
    echo "fuzzing found problems in:$failed"
    exit 1
fi
echo "fuzzing: no crash in $names"
