#!/bin/sh
# `make bench`: build the GEMM benchmark against OpenBLAS (linked into the
# benchmark only, never into libnabla) and run bench/bench.py, which prints
# one table and writes bench/results.json.
#   sh bench/bench.sh [BUILD_DIR] [--quick]
set -eu
B=${1:-build}
PY=${PYTHON_TORCH:-/usr/bin/python3}
${CC:-cc} -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc -DNB_BENCH_OPENBLAS \
    bench/gemm_bench.c "$B/libnabla.a" -lopenblas -lm -lz -o "$B/gemm_bench"
sh scripts/ensure-data.sh
exec "$PY" bench/bench.py "$B/nabla" "$B/gemm_bench" "$PY" ${2:-}
