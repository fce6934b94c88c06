#!/bin/sh
# `make bench`: build the GEMM benchmark (white-box: tests/bench, -Isrc)
# against OpenBLAS (to call it directly beside nabla, whose library uses it
# too when built with it) and run bench/bench.py, which prints the report
# and writes bench/results.json.  The PyPI anchors (PyTorch 2.x, JAX) run
# from bench/.venv (BENCH_VENV), which bench/ensure-deps.sh builds.
#   sh bench/bench.sh [BUILD_DIR] [--quick] [bench.py's other options]
set -eu
B=${1:-build}
[ $# -gt 0 ] && shift
PY=${PYTHON_TORCH:-/usr/bin/python3}
VENV=${BENCH_VENV:-bench/.venv}
# shellcheck disable=SC2046 # print-ldlibs is a list of words
${CC:-cc} -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude -Isrc -DNB_BENCH_OPENBLAS \
    tests/bench/gemm_bench.c "$B/libnabla.a" -lopenblas $(make -s B="$B" print-ldlibs) -o "$B/gemm_bench"
sh scripts/ensure-data.sh
exec "$PY" bench/bench.py "$B/nabla" "$B/gemm_bench" "$PY" --venv-python "$VENV/bin/python" "$@"
