#!/bin/sh
# Data-parallel training (nabla train --ddp) under Open MPI on one machine:
#   sh tests/mpi/run.sh        (needs mpicc/mpirun: Debian openmpi-bin libopenmpi-dev)
# Builds with `make MPI=1` into build-mpi/, then checks that
#   - 2 (and 3) ranks give the parameters and optimizer state of a
#     single-process run with the same global batch (f64 <= 1e-10; f32 <= 1e-5
#     with SGD, <= 5e-5 with Adam: see below);
#   - --resume under MPI continues that run;
#   - a rank killed with SIGKILL, or a hung rank (SIGSTOP, caught by the
#     collectives' deadline), ends the job within seconds with a message, and
#     the last checkpoint still loads; SIGINT to rank 1 stops every rank
#     after the same step with a checkpoint (exit 130).
# Prints PASS/FAIL lines, ends with "N passed, N failed"; exit 1 on failure.
set -u
cd "$(dirname "$0")/../.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none # containers often forbid CMA (ptrace)
B=build-mpi
T=$(mktemp -d /tmp/nabla-mpi.XXXXXX)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
ko() { echo "FAIL $1"; [ $# -gt 1 ] && [ -f "$2" ] && sed 's/^/    /' "$2" | tail -20; fail=$((fail + 1)); }
finish() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
    exit $?
}

if ! command -v mpicc >/dev/null || ! command -v mpirun >/dev/null; then
    echo "FAIL mpi.toolchain: mpicc/mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"
    fail=1
    finish
fi
if make -j"$(nproc)" MPI=1 >"$T/build.log" 2>&1 &&
    mpicc -std=c11 -Wall -Wextra -Werror -O2 -Iinclude -o $B/ckcmp tests/mpi/ckcmp.c $B/libnabla.a $(make -s MPI=1 print-ldlibs) >>"$T/build.log" 2>&1; then
    ok mpi.build
else
    ko mpi.build "$T/build.log"
    finish
fi

NB="$B/nabla"
COMMON="--limit-train 1000 --batch 64 --log-every 1000 --quiet"

# run NAME NP ARGS...: NP 0 = a plain single process
run() {
    rn=$1 rp=$2
    shift 2
    if [ "$rp" -eq 0 ]; then
        timeout 120 $NB train $COMMON --out "$T/$rn" "$@" >"$T/$rn.log" 2>&1
    else
        timeout 120 mpirun -np "$rp" $NB train --ddp --ddp-timeout 60 $COMMON --out "$T/$rn" "$@" >"$T/$rn.log" 2>&1
    fi
}

# same NAME NP TOL ARGS...: NP ranks vs one process, K steps, same global batch
same() {
    name=$1 np=$2 tol=$3
    shift 3
    if ! run "$name.single" 0 "$@"; then ko "mpi.$name (single run)" "$T/$name.single.log"; return; fi
    if ! run "$name.ddp" "$np" "$@"; then ko "mpi.$name (mpirun -np $np)" "$T/$name.ddp.log"; return; fi
    if $B/ckcmp "$T/$name.single/checkpoint.safetensors" "$T/$name.ddp/checkpoint.safetensors" "$tol" >"$T/$name.cmp" 2>&1; then
        ok "mpi.$name: $(cat "$T/$name.cmp")"
    else
        ko "mpi.$name" "$T/$name.cmp"
    fi
}

# 20 steps cross an epoch end whose last batch has 40 rows (1000 = 15*64 + 40);
# the gradient norm is above the default --clip-norm 1.0, so clipping is on.
same f64_adam_np2 2 1e-10 --dtype f64 --max-steps 20
same f64_sgd_np3 3 1e-10 --dtype f64 --opt sgd --momentum 0.9 --lr 0.05 --batch 50 --max-steps 12 --model 784-64-64-10
# float32: SGD carries the gradients' rounding (summed in another order
# across ranks) into the weights 1:1.  Adam divides each gradient by its own
# running RMS, so in an element whose terms nearly cancel that rounding
# becomes an lr-sized difference: after 20 Adam steps float32 drifts to ~1e-5
# relative (f64 stays ~1e-14) from the very first step, so the float32 Adam
# check allows 5e-5 (measured: 1.0e-5 after 5 steps, 8e-6 after 20).
same f32_sgd_clip_np2 2 1e-5 --dtype f32 --opt sgd --momentum 0.9 --lr 0.05 --clip-norm 0.5 --max-steps 20
same f32_adam_np2 2 5e-5 --dtype f32 --max-steps 20

# --resume under MPI: 8 steps, then resume to 20, against 20 straight steps
# of one process (f64_adam_np2's).
if run resume.a 2 --dtype f64 --max-steps 8 && cp -r "$T/resume.a" "$T/resume.b" &&
    run resume.b 2 --dtype f64 --max-steps 20 --resume &&
    $B/ckcmp "$T/f64_adam_np2.single/checkpoint.safetensors" "$T/resume.b/checkpoint.safetensors" 1e-10 >"$T/resume.cmp" 2>&1; then
    ok "mpi.resume: $(cat "$T/resume.cmp")"
else
    cat "$T"/resume.*.log "$T/resume.cmp" >"$T/resume.all" 2>/dev/null
    ko mpi.resume "$T/resume.all"
fi

# fault NAME SIGNAL PATTERN: start a long 2-rank run, wait for its first
# checkpoint, send SIGNAL to rank 1; the job must end within 20 s, non-zero,
# with PATTERN in its output, and the checkpoint must still load.
fault() {
    name=$1 sig=$2 pat=$3
    out="$T/$name"
    mpirun -np 2 $NB train --ddp --ddp-timeout 5 --limit-train 2000 --batch 64 --epochs 1000 --quiet \
        --out "$out" >"$out.log" 2>&1 &
    mp=$!
    i=0
    while [ ! -f "$out/checkpoint.safetensors" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    r1=""
    for p in $(pgrep -P $mp); do
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && r1=$p
    done
    if [ -z "$r1" ] || [ ! -f "$out/checkpoint.safetensors" ]; then
        kill $mp 2>/dev/null
        wait $mp 2>/dev/null
        ko "mpi.$name (no checkpoint or no rank 1 found)" "$out.log"
        return
    fi
    sleep 0.5
    t0=$(date +%s)
    kill -"$sig" "$r1"
    i=0
    while kill -0 $mp 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
    if kill -0 $mp 2>/dev/null; then
        kill -KILL $mp "$r1" 2>/dev/null
        wait $mp 2>/dev/null
        ko "mpi.$name: job still running 20 s after SIG$sig to rank 1" "$out.log"
        return
    fi
    wait $mp
    rc=$?
    dt=$(($(date +%s) - t0))
    if [ $rc -eq 0 ]; then ko "mpi.$name: exit status 0 after SIG$sig" "$out.log"; return; fi
    if ! grep -q "$pat" "$out.log"; then ko "mpi.$name: no message matching '$pat'" "$out.log"; return; fi
    if ! $NB eval "$out/checkpoint.safetensors" >"$out.eval" 2>&1; then
        ko "mpi.$name: the last checkpoint does not load" "$out.eval"
        return
    fi
    ok "mpi.$name: ended in ${dt}s with status $rc ('$(grep -m1 "$pat" "$out.log" | cut -c1-90)'); checkpoint loads"
}
fault killed_rank KILL "exited on signal 9\|rank 1"
fault hung_rank STOP "timed out"
# Ctrl-C reaching one rank: every rank stops after the same step, rank 0 saves.
fault interrupted_rank INT "Exit code: *130"

finish
