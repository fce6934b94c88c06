#!/bin/sh
# Training throughput of `nabla train --ddp` with 1 and 2 ranks (1 thread
# each): sh tests/mpi/bench.sh [BATCH...] (after `make MPI=1`).  One epoch
# over 20000 samples; prints samples/s (the best of 3 runs) and the scaling
# efficiency = (samples/s with N ranks) / (N * samples/s with 1 rank).
set -eu
cd "$(dirname "$0")/../.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
T=$(mktemp -d /tmp/nabla-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
sps() { sed -n 's/.*"event":"done".*"train_samples_per_s":\([0-9.e+]*\).*/\1/p' "$T/out/metrics.jsonl"; }
best() { # best of 3: CMD...
    b=0
    for _ in 1 2 3; do
        "$@" --limit-train 20000 --epochs 1 --quiet --out "$T/out" >/dev/null 2>&1
        b=$(awk -v a="$b" -v c="$(sps)" 'BEGIN { print (c > a ? c : a) }')
    done
    echo "$b"
}
echo "cores: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for batch in ${*:-64 256 1024}; do
    s0=$(best build-mpi/nabla train --batch "$batch")
    s1=$(best mpirun -np 1 build-mpi/nabla train --ddp --batch "$batch")
    s2=$(best mpirun -np 2 build-mpi/nabla train --ddp --batch "$batch")
    awk -v b="$batch" -v s0="$s0" -v s1="$s1" -v s2="$s2" 'BEGIN {
        printf "batch %5d: plain %8.0f  ddp 1 rank %8.0f  ddp 2 ranks %8.0f samples/s; efficiency %.0f%%\n",
               b, s0, s1, s2, 100 * s2 / (2 * s1) }'
done
