#!/usr/bin/env python3
"""`make bench`'s driver (run by bench/bench.sh): every measurement in one run,
one table on stdout, the same numbers in bench/results.json.

    python3 bench/bench.py NABLA GEMM_BENCH TORCH_PYTHON [--quick]

(a) GEMM GFLOP/s, nabla vs OpenBLAS (cblas_sgemm), 1 thread; OpenBLAS also on
    2 threads (nabla has no thread pool yet: 2-thread numbers are OpenBLAS's only)
(b) training samples/s, `nabla train` vs bench/torch_train.py at its best
    thread setting (1; 2; 2 with OMP_WAIT_POLICY=PASSIVE)
(c) time per step of a tiny model (784-32-10, batch 1, full Adam step)
(d) peak RSS of each training process (wait4's ru_maxrss)
(e) GFLOP/s as a fraction of the measured 1-thread FMA peak
Wall-clock rates on a shared machine are noisy; the GEMM uses the CPU clock."""
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
    text, _ = run([exe, "-c"] + args)
    peak, rows = None, {}
    for line in text.splitlines():
        m = re.match(r"fma peak ([0-9.]+)", line)
        if m:
            peak = float(m.group(1))
        m = re.match(r"(.+?)\s+(\d+x\d+x\d+)\s+([0-9.]+)\s+([0-9.]+)\s+([0-9.]+)$", line)
        if m:
            rows[m.group(1).strip() + " " + m.group(2)] = (float(m.group(3)), float(m.group(4)))
    return peak, rows


def main():
    nabla, gemm_exe, py = sys.argv[1:4]
    quick = "--quick" in sys.argv
    res = {"gemm": [], "train": [], "tiny": {}, "notes": []}
    print("== (a) GEMM, float, GFLOP/s by the thread CPU clock; nabla 1 thread (no thread pool yet)")
    peak, one = gemm(gemm_exe, ["-r", "3"] + (["-q"] if quick else []))
    _, two = gemm(gemm_exe, ["-r", "3", "-q", "-t", "2"])
    res["fma_peak_gflops"] = peak
    print("FMA peak (1 thread, AVX2): %.1f GFLOP/s" % peak)
    print("%-36s %7s %7s %6s %8s %8s %8s" % ("shape", "nabla", "oblas1", "ratio", "oblas2*", "nb/peak", "ob/peak"))
    for k, (g, b) in one.items():
        b2 = two.get(k, (None, None))[1]
        res["gemm"].append({"shape": k, "nabla_gflops": g, "openblas_1t_gflops": b, "ratio": g / b,
                            "openblas_2t_gflops": b2, "nabla_frac_peak": g / peak, "openblas_frac_peak": b / peak})
        print("%-36s %7.1f %7.1f %6.2f %8s %8.2f %8.2f" % (k, g, b, g / b, "%.1f" % b2 if b2 else "-", g / peak, b / peak))
    print("* oblas2: OpenBLAS on 2 threads (CPU time summed over threads, so per-core rate)")
    res["notes"].append("openblas_2t_gflops is timed by the thread CPU clock of the caller; nabla has no thread pool")

    print("\n== (b) training samples/s (wall), Adam, clip-norm 1; torch: best of its thread settings")
    torch_settings = [("1t", 1, {}), ("2t", 2, {}), ("2t-passive", 2, {"OMP_WAIT_POLICY": "PASSIVE"})]
    # (model, batch, steps): each run ~5 s on an unloaded core
    cases = [("784-128-10", 64, 3000), ("784-128-10", 256, 800),
             ("784-1024-1024-10", 64, 250), ("784-1024-1024-10", 256, 70)]
    if quick:
        cases = [(m, b, max(s // 5, 10)) for m, b, s in cases]
    print("%-18s %5s %9s %9s %9s %9s %7s %7s %5s %8s %8s" % ("model", "batch", "nabla", "torch1t", "torch2t",
          "t2t-pas", "best", "ratio", "", "nb MiB", "tch MiB"))
    for model, batch, steps in cases:
        limit = min(60000, batch * steps)
        t, rss_n = run([nabla, "train", "--json", "--quiet", "--model", model, "--batch", str(batch),
                        "--max-steps", str(steps), "--limit-train", str(limit), "--epochs", "100",
                        "--out", tempfile.mkdtemp(prefix="nb-bench-")])
        ns = sps(t)
        tv, rss_t = {}, 0
        for name, th, extra in torch_settings:
            env = dict(os.environ, **extra)
            t, r = run([py, "bench/torch_train.py", "--model", model, "--batch", str(batch),
                        "--max-steps", str(steps), "--threads", str(th), "--epochs", "100"], env)
            tv[name], rss_t = sps(t), max(rss_t, r)
        best = max(tv, key=tv.get)
        res["train"].append({"model": model, "batch": batch, "steps": steps, "nabla_sps": ns,
                             "torch_sps": tv, "torch_best": best, "ratio_vs_best": ns / tv[best],
                             "nabla_peak_rss_mib": rss_n, "torch_peak_rss_mib": rss_t})
        print("%-18s %5d %9.0f %9.0f %9.0f %9.0f %7s %7.2f %5s %8.1f %8.1f" % (model, batch, ns, tv["1t"], tv["2t"],
              tv["2t-passive"], best, ns / tv[best], "", rss_n, rss_t))

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

    print("\n== (e) training as a fraction of the FMA peak (nabla, 6*params FLOP per sample)")
    for r in res["train"]:
        w = [int(x) for x in r["model"].split("-")]
        flop = 6.0 * sum(w[i] * w[i + 1] for i in range(len(w) - 1))
        r["nabla_gflops"] = flop * r["nabla_sps"] * 1e-9
        r["nabla_frac_peak"] = r["nabla_gflops"] / peak
        print("%-18s batch %4d: %6.1f GFLOP/s = %.2f of peak" % (r["model"], r["batch"], r["nabla_gflops"],
                                                                  r["nabla_frac_peak"]))
    with open("bench/results.json", "w") as f:
        json.dump(res, f, indent=1)
    print("\nwrote bench/results.json")


if __name__ == "__main__":
    main()
