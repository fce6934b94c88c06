#!/usr/bin/env python3
"""`make bench`'s driver (run by bench/bench.sh): every measurement in one run,
one table on stdout, the same numbers in bench/results.json.

    python3 bench/bench.py NABLA GEMM_BENCH TORCH_PYTHON [--quick]

(a) GEMM GFLOP/s: nabla's built-in kernels, nabla's default routing and
    OpenBLAS (cblas_sgemm) called directly, each on 1 and 2 threads, on squares
    and on the MLPs' forward and backward shapes
(b) training samples/s, `nabla train` on 1 and 2 threads vs
    bench/torch_train.py at each of its thread settings (1; 2; 2 with
    OMP_WAIT_POLICY=PASSIVE); the ratio is best against best
(c) time per step of a tiny model (784-32-10, batch 1, full Adam step)
(d) peak RSS of each training process (wait4's ru_maxrss)
(e) GFLOP/s as a fraction of the measured 1-thread FMA peak
Everything is timed by the wall clock: run it on an otherwise idle machine."""
import json
import os
import re
import subprocess
import sys
import tempfile


def run(cmd, env=None):
    """stdout of cmd, and its peak RSS in MiB (this child only)."""
    with tempfile.TemporaryFile() as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode()
    if p.returncode:
        raise SystemExit("failed (%d): %s" % (p.returncode, " ".join(cmd)))
    return text, ru.ru_maxrss / 1024.0


def sps(text):
    """train_samples_per_s of the last JSON line that has it."""
    v = None
    for line in text.splitlines():
        m = re.search(r'"train_samples_per_s":\s*([0-9.eE+-]+)', line)
        if m:
            v = float(m.group(1))
    if v is None:
        raise SystemExit("no train_samples_per_s in output")
    return v


def gemm(exe, args):
    """gemm_bench's JSON mode: the FMA peak and one dict per shape."""
    text, _ = run([exe, "-j"] + args)
    peak, rows = None, []
    for line in text.splitlines():
        m = re.match(r"fma peak ([0-9.]+)", line)
        if m:
            peak = float(m.group(1))
        elif line.startswith("{"):
            rows.append(json.loads(line))
    return peak, rows


def main():
    nabla, gemm_exe, py = sys.argv[1:4]
    quick = "--quick" in sys.argv
    res = {"gemm": [], "train": [], "tiny": {}, "notes": []}
    print("== (a) GEMM, float, GFLOP/s (wall clock, best of 5): nabla's built-in kernels and nabla as it routes"
          " by default (CBLAS for some shapes) against OpenBLAS called directly, 1 and 2 threads each")
    peak, rows = gemm(gemm_exe, ["-T", "1,2", "-r", "5"] + (["-q"] if quick else []))
    res["fma_peak_gflops"] = peak
    print("FMA peak (1 thread, AVX2): %.1f GFLOP/s" % peak)
    print("%-36s %-14s %6s %6s %6s %6s %6s %6s %6s %6s %6s" % ("shape", "MxNxK", "blt1", "dft1", "obl1", "b/o1",
          "blt2", "dft2", "obl2", "b/o2", "b1/pk"))
    for r in rows:
        g = r["gflops"]
        b1, b2 = g["nabla_builtin_1t"], g["nabla_builtin_2t"]
        d1, d2 = g.get("nabla_default_1t", b1), g.get("nabla_default_2t", b2)
        o1, o2 = g["openblas_1t"], g["openblas_2t"]
        mnk = "%dx%dx%d" % (r["M"], r["N"], r["K"])
        res["gemm"].append({"shape": r["shape"], "mnk": mnk, "gflops": g, "builtin_vs_openblas_1t": b1 / o1,
                            "builtin_vs_openblas_2t": b2 / o2, "default_vs_openblas_1t": d1 / o1,
                            "default_vs_openblas_2t": d2 / o2, "builtin_1t_frac_peak": b1 / peak})
        print("%-36s %-14s %6.1f %6.1f %6.1f %6.2f %6.1f %6.1f %6.1f %6.2f %6.2f" % (
              r["shape"], mnk, b1, d1, o1, b1 / o1, b2, d2, o2, b2 / o2, b1 / peak))
    print("blt: nabla built-in kernels; dft: nabla's default routing; obl: OpenBLAS direct; b/o: blt / obl;"
          " 1/2: threads; b1/pk: built-in 1 thread / FMA peak")

    print("\n== (b) training samples/s (wall), Adam, clip-norm 1; nabla on 1 and 2 threads,"
          " torch at each of its thread settings; ratio = nabla's best / torch's best")
    torch_settings = [("1t", 1, {}), ("2t", 2, {}), ("2t-passive", 2, {"OMP_WAIT_POLICY": "PASSIVE"})]
    REPS = 1 if quick else 2  # best of REPS runs for every contender: wall-clock rates here vary by ~20%
    # (model, batch, steps): each run ~3-5 s on an unloaded machine
    cases = [("784-128-10", 64, 3000), ("784-128-10", 256, 1000),
             ("784-1024-1024-10", 64, 200), ("784-1024-1024-10", 256, 80)]
    if quick:
        cases = [(m, b, max(s // 5, 10)) for m, b, s in cases]
    print("%-18s %5s %8s %8s %8s %8s %8s %10s %6s %6s %7s %7s" % ("model", "batch", "nabla1t", "nabla2t", "torch1t",
          "torch2t", "t2t-pas", "torch best", "ratio", "1t/1t", "nb MiB", "tch MiB"))
    for model, batch, steps in cases:
        limit = min(60000, batch * steps)
        nv, rss_n = {}, 0
        for th in (1, 2):
            for rep in range(REPS):
                t, r = run([nabla, "train", "--json", "--quiet", "--threads", str(th), "--model", model,
                            "--batch", str(batch), "--max-steps", str(steps), "--limit-train", str(limit),
                            "--epochs", "100", "--out", tempfile.mkdtemp(prefix="nb-bench-")])
                nv["%dt" % th], rss_n = max(nv.get("%dt" % th, 0), sps(t)), max(rss_n, r)
        tv, rss_t = {}, 0
        for name, th, extra in torch_settings:
            env = dict(os.environ, **extra)
            for rep in range(REPS):
                t, r = run([py, "bench/torch_train.py", "--model", model, "--batch", str(batch),
                            "--max-steps", str(steps), "--threads", str(th), "--epochs", "100"], env)
                tv[name], rss_t = max(tv.get(name, 0), sps(t)), max(rss_t, r)
        nbest, best = max(nv, key=nv.get), max(tv, key=tv.get)
        res["train"].append({"model": model, "batch": batch, "steps": steps, "nabla_sps": nv,
                             "nabla_best": nbest, "torch_sps": tv, "torch_best": best,
                             "ratio_vs_best": nv[nbest] / tv[best], "ratio_1t": nv["1t"] / tv["1t"],
                             "nabla_peak_rss_mib": rss_n, "torch_peak_rss_mib": rss_t})
        print("%-18s %5d %8.0f %8.0f %8.0f %8.0f %8.0f %10s %6.2f %6.2f %7.1f %7.1f" % (
              model, batch, nv["1t"], nv["2t"], tv["1t"], tv["2t"], tv["2t-passive"], best,
              nv[nbest] / tv[best], nv["1t"] / tv["1t"], rss_n, rss_t))

    print("\n== (c) tiny model 784-32-10, batch 1, full Adam step (wall): microseconds per step")
    steps = 2000 if quick else 20000
    t, rn = run([nabla, "train", "--json", "--quiet", "--model", "784-32-10", "--batch", "1",
                 "--max-steps", str(steps), "--limit-train", str(steps), "--epochs", "100",
                 "--out", tempfile.mkdtemp(prefix="nb-bench-")])
    nus = 1e6 / sps(t)
    t, rt = run([py, "bench/torch_train.py", "--model", "784-32-10", "--batch", "1",
                 "--max-steps", str(steps // 4), "--threads", "1"])
    tus = 1e6 / sps(t)
    res["tiny"] = {"nabla_us_per_step": nus, "torch_us_per_step": tus, "speedup": tus / nus,
                   "nabla_peak_rss_mib": rn, "torch_peak_rss_mib": rt}
    print("nabla %.1f us, torch(1t) %.1f us: nabla %.1fx faster; peak RSS %.1f vs %.1f MiB" % (nus, tus, tus / nus, rn, rt))

    print("\n== (e) training as a fraction of the FMA peak (nabla; FLOP per sample: 2 per weight forward,"
          " 2 for its gradient, 2 for the input gradient except the first layer's)")
    for r in res["train"]:
        w = [int(x) for x in r["model"].split("-")]
        macs = [w[i] * w[i + 1] for i in range(len(w) - 1)]
        flop = 4.0 * sum(macs) + 2.0 * sum(macs[1:])
        th = int(r["nabla_best"][:-1])
        r["nabla_gflops"] = flop * r["nabla_sps"][r["nabla_best"]] * 1e-9
        r["nabla_frac_peak"] = r["nabla_gflops"] / (peak * th)
        print("%-18s batch %4d: %6.1f GFLOP/s on %d thread%s = %.2f of %d x the 1-thread peak" % (
              r["model"], r["batch"], r["nabla_gflops"], th, "s" if th > 1 else "", r["nabla_frac_peak"], th))
    with open("bench/results.json", "w") as f:
        json.dump(res, f, indent=1)
    print("\nwrote bench/results.json")


if __name__ == "__main__":
    main()
