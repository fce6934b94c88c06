#!/usr/bin/env python3
"""`make bench`'s driver (run by bench/bench.sh): every measurement in one run,
one table on stdout, the same numbers in bench/results.json.

    python3 bench/bench.py NABLA GEMM_BENCH TORCH_PYTHON [--quick]
        [--venv-python PY] [--only MODEL] [--scale F] [--sections abc]

(a) GEMM GFLOP/s: nabla's built-in kernels, nabla's default routing and
    OpenBLAS (cblas_sgemm) called directly, each on 1 and 2 threads, on squares
    and on the MLPs' forward and backward shapes
(b) training samples/s, `nabla train` on 1 and 2 threads against the anchors
    (ANCHORS below), each at each of its thread settings: Debian's PyTorch
    1.13 (TORCH_PYTHON), and from bench/.venv (--venv-python, built by
    bench/setup_venv.py) PyTorch 2.x eager with fused Adam, PyTorch 2.x
    torch.compile, and JAX jit with optax. All runs of a model are interleaved
    (round after round), best of REPS rounds for each setting; the ratios are
    nabla's best over each anchor's best, and over the best anchor's best.
    An anchor that is not installed, or fails, becomes a skipped column with
    a one-line reason; nabla itself failing stops the run.
(c) time per step of a tiny model (784-32-10, batch 1, full Adam step)
(d) peak RSS of each training process (wait4's ru_maxrss)
(e) GFLOP/s as a fraction of the measured 1-thread FMA peak
--only keeps the models whose name contains MODEL, --scale multiplies every
step count, --sections picks sections (default abce; (d) goes with (b)): for
short checks of the harness. Everything is timed by the wall clock: run it on
an otherwise idle machine."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile


class Failed(Exception):
    """A child that exited non-zero; str() is one line saying why."""


def run(cmd, env=None):
    """stdout of cmd, and its peak RSS in MiB (this child only)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        lines = [l for l in err.read().decode(errors="replace").splitlines() if l.strip()]
    if p.returncode:
        raise Failed("exit status %d: %s" % (p.returncode, lines[-1].strip() if lines else " ".join(cmd)))
    return text, ru.ru_maxrss / 1024.0


def last_json(text, key):
    """The value of key in the last JSON line of text that has it."""
    v = None
    for line in text.splitlines():
        if line.startswith("{"):
            d = json.loads(line)
            if key in d:
                v = d[key]
    if v is None:
        raise Failed("no %s in output" % key)
    return v


def cpu_shows_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512f" in f.read()
    except OSError:
        return False


def gemm(exe, args):
    """gemm_bench's JSON mode: the FMA peak and one dict per shape."""
    text, _ = run([exe, "-j"] + args)
    peak, rows = None, []
    for line in text.splitlines():
        m = re.match(r"fma peak ([0-9.]+)[^(]*(\(.*\))?", line)
        if m:
            peak = float(m.group(1))
            gemm.peak_note = m.group(2) or ""
        elif line.startswith("{"):
            rows.append(json.loads(line))
    return peak, rows


def section_gemm(res, gemm_exe, quick):
    print("== (a) GEMM, float, GFLOP/s (wall clock, best of 5): nabla's built-in kernels and nabla as it routes"
          " by default (CBLAS for some shapes) against OpenBLAS called directly, 1 and 2 threads each")
    peak, rows = gemm(gemm_exe, ["-T", "1,2", "-r", "5"] + (["-q"] if quick else []))
    res["fma_peak_gflops"] = peak
    print("FMA peak (1 thread): %.1f GFLOP/s %s" % (peak, gemm.peak_note))
    res["fma_peak_note"] = gemm.peak_note
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


# ------------------------------------------------------------------ (b)
# The models: (name, nabla's --model, the anchors' --model as in MODELS of
# bench/torch_train.py and bench/jax_train.py, [(batch, steps), ...]), each
# run ~3-5 s on an unloaded machine. The CNN is issue 16's; the LSTM (issue
# 17) reads the rows of an image as 28 steps of 28 pixels, LSTM(128), its last
# step -> Linear(10), as the anchors' `--model lstm`.
CNN = ("conv2d(32,k=3,p=1) relu maxpool2d(2) conv2d(64,k=3,p=1) relu maxpool2d(2) flatten linear(128) relu"
       " linear(10)")  # the anchors' `--model cnn` (bench/torch_train.py), issue 16's CNN
CASES = [
    ("784-128-10", "784-128-10", "mlp:784-128-10", [(64, 3000), (256, 1000)]),
    ("784-1024-1024-10", "784-1024-1024-10", "mlp:784-1024-1024-10", [(64, 200), (256, 80)]),
    ("cnn", CNN, "cnn", [(64, 40), (256, 10)]),
    ("lstm", "lstm(128) linear(10)", "lstm", [(64, 300)]),
]
REPS = 2  # best of REPS rounds for every setting: wall-clock rates here vary by ~20%


def anchors(deb_py, venv_py):
    """The anchors: name -> {label, python, argv (script and flags), probe
    (code printing the version), settings: [(tag, argv prefix, argv suffix,
    extra environment)]}. One thread: the framework's own setting, and for
    JAX, whose XLA CPU client ignores its thread flags, `taskset -c 0`."""
    th = lambda n: ["--threads", str(n)]
    torch_probe = ("import torch; v = torch.__version__; assert int(v.split('.')[0]) >= %d,"
                   " 'torch ' + v + ' is too old'; print(v)")
    inductor = {"TORCHINDUCTOR_COMPILE_THREADS": "1"}  # no pool of compile workers beside the run
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else None
    return {
        "torch1.13": {"label": "Debian PyTorch, eager", "python": deb_py, "argv": ["bench/torch_train.py"],
                      "probe": torch_probe % 1,
                      "settings": [("1t", [], th(1), {}), ("2t", [], th(2), {}),
                                   ("2t-passive", [], th(2), {"OMP_WAIT_POLICY": "PASSIVE"})]},
        "torch2": {"label": "PyPI PyTorch 2.x, eager, Adam(fused=True)", "python": venv_py,
                   "argv": ["bench/torch_train.py", "--fused"], "probe": torch_probe % 2,
                   "settings": [("1t", [], th(1), {}), ("2t", [], th(2), {})]},
        "compile": {"label": "PyPI PyTorch 2.x, torch.compile of the whole step, Adam(fused=True)",
                    "python": venv_py, "argv": ["bench/torch_train.py", "--fused", "--compile"],
                    "probe": torch_probe % 2,
                    "settings": [("1t", [], th(1), inductor), ("2t", [], th(2), inductor)]},
        "jax": {"label": "PyPI JAX, jax.jit of the whole step, optax", "python": venv_py,
                "argv": ["bench/jax_train.py"], "probe": "import jax, optax; print(jax.__version__)",
                "settings": ([("1t", pin, [], {})] if pin else []) + [("2t", [], [], {})]},
    }


def probe(a):
    """None and sets a["version"] when the anchor's python imports it, else
    the one-line reason to skip it."""
    if not a["python"] or not os.path.exists(a["python"]):
        return "no interpreter %s (bench/setup_venv.py builds bench/.venv)" % (a["python"] or "given")
    if not a["settings"]:
        return "no taskset to pin it to one core"
    try:
        text, _ = run([a["python"], "-c", a["probe"]])
    except Failed as e:
        return str(e)
    a["version"] = text.strip()
    return None


def fmt_sps(d, best):
    return "%.0f %s" % (d[best], best)


def section_train(res, nabla, deb_py, venv_py, quick, only, scale):
    reps = 1 if quick else REPS
    an = anchors(deb_py, venv_py)
    skipped = {}
    for name, a in an.items():
        why = probe(a)
        if why:
            skipped[name] = why
    res["anchors"] = {n: {"label": a["label"], "version": a.get("version"), "skipped": skipped.get(n),
                          "settings": [s[0] for s in a["settings"]]} for n, a in an.items()}
    print("\n== (b) training samples/s (wall), Adam lr 1e-3, clip-norm 1; every contender at each of its thread"
          " settings, interleaved, best of %d; ratio = nabla's best / the anchor's best" % reps)
    for n, a in an.items():
        print("  %-9s %s%s" % (n, a["label"], ": skipped, " + skipped[n] if n in skipped else
                               " (%s): %s" % (a["version"], ", ".join(s[0] for s in a["settings"]))))
    cases = [(name, nm, am, b, max(int(s * scale / (5 if quick else 1)), 10))
             for name, nm, am, bs in CASES if only in name for b, s in bs]
    # nabla as it dispatches (the widest path the CPU shows), and where that is
    # AVX-512 also on its AVX2 kernels (NABLA_ISA=avx2), reported beside it
    isas = [""] + (["avx2"] if cpu_shows_avx512() else [])
    res["nabla_isa_runs"] = ["default"] + isas[1:]
    for name, nmodel, amodel, batch, steps in cases:
        nv, nv_isa, rss = {}, {}, {"nabla": 0}
        av = {n: {} for n in an}
        for rep in range(reps):
            for th, isa in [(th, isa) for isa in isas for th in (1, 2)]:
                t, r = run([nabla, "train", "--json", "--quiet", "--threads", str(th), "--model", nmodel,
                            "--batch", str(batch), "--max-steps", str(steps), "--limit-train",
                            str(min(60000, batch * steps)), "--epochs", "100",
                            "--out", tempfile.mkdtemp(prefix="nb-bench-")], dict(os.environ, NABLA_ISA=isa))
                tag = "%dt" % th + ("-" + isa if isa else "")
                d = nv_isa if isa else nv
                d[tag] = max(d.get(tag, 0), last_json(t, "train_samples_per_s"))
                rss["nabla"] = max(rss["nabla"], r)
            for n, a in an.items():
                for tag, pre, post, extra in a["settings"]:
                    if n in skipped:
                        break
                    try:
                        t, r = run(pre + [a["python"]] + a["argv"] + ["--model", amodel, "--batch", str(batch),
                                   "--max-steps", str(steps), "--epochs", "100"] + post,
                                   dict(os.environ, **extra))
                        v = last_json(t, "train_samples_per_s")
                    except Failed as e:
                        skipped[n] = "%s %s b%d %s: %s" % (n, name, batch, tag, e)
                        res["anchors"][n]["skipped"] = skipped[n]
                        print("  %s: skipped from here on, %s" % (n, skipped[n]))
                        break
                    av[n][tag] = max(av[n].get(tag, 0), v)
                    rss[n] = max(rss.get(n, 0), r)
        nbest = max(nv, key=nv.get)
        row = {"model": name, "batch": batch, "steps": steps, "nabla_sps": nv, "nabla_best": nbest,
               "nabla_sps_other_isa": nv_isa,
               "anchors": {}, "peak_rss_mib": rss}
        for n in an:
            if av[n] and n not in skipped:
                best = max(av[n], key=av[n].get)
                row["anchors"][n] = {"sps": av[n], "best": best, "ratio": nv[nbest] / av[n][best],
                                     "ratio_1t": nv["1t"] / av[n]["1t"] if "1t" in av[n] else None}
        if row["anchors"]:
            ba = max(row["anchors"], key=lambda n: row["anchors"][n]["sps"][row["anchors"][n]["best"]])
            row["best_anchor"], row["ratio_vs_best_anchor"] = ba, row["anchors"][ba]["ratio"]
        res["train"].append(row)
        print("  %s b%d, %d steps: nabla %s | %s" % (name, batch, steps, " ".join(
              "%s %.0f" % kv for kv in list(nv.items()) + list(nv_isa.items())), " | ".join(
              "%s %s" % (n, " ".join("%s %.0f" % kv for kv in av[n].items())) for n in an if av[n])))

    cols = [n for n in an if any(n in r["anchors"] for r in res["train"])]
    print("\nsamples/s at each contender's best thread setting, and nabla's best / that:")
    head = "%-18s %5s %12s" % ("model", "batch", "nabla") + "".join(" %16s %6s" % (n, "ratio") for n in cols)
    print(head + " %9s %6s" % ("best", "ratio"))
    for r in res["train"]:
        line = "%-18s %5d %12s" % (r["model"], r["batch"], fmt_sps(r["nabla_sps"], r["nabla_best"]))
        for n in cols:
            x = r["anchors"].get(n)
            line += " %16s %6.2f" % (fmt_sps(x["sps"], x["best"]), x["ratio"]) if x else " %16s %6s" % ("-", "-")
        print(line + (" %9s %6.2f" % (r["best_anchor"], r["ratio_vs_best_anchor"]) if "best_anchor" in r else ""))
    for r in res["train"]:
        o = r["nabla_sps_other_isa"]
        if o and "best_anchor" in r:
            b = max(o, key=o.get)
            ba = r["anchors"][r["best_anchor"]]
            r["other_isa_ratio_vs_best_anchor"] = o[b] / ba["sps"][ba["best"]]
            print("%-18s %5d nabla on its AVX2 kernels (NABLA_ISA=avx2): %.0f %s, %.2f x the best anchor" % (
                  r["model"], r["batch"], o[b], b, r["other_isa_ratio_vs_best_anchor"]))
    for n in an:
        if n in skipped:
            print("skipped %s: %s" % (n, skipped[n]))

    print("\n== (d) peak RSS of the training processes, MiB (the largest of a model's runs)")
    print("%-18s %5s %8s" % ("model", "batch", "nabla") + "".join(" %9s" % n for n in cols))
    for r in res["train"]:
        print("%-18s %5d %8.1f" % (r["model"], r["batch"], r["peak_rss_mib"]["nabla"]) + "".join(
              " %9.1f" % r["peak_rss_mib"][n] if n in r["peak_rss_mib"] else " %9s" % "-" for n in cols))


def section_tiny(res, nabla, py, quick):
    print("\n== (c) tiny model 784-32-10, batch 1, full Adam step (wall): microseconds per step")
    steps = 2000 if quick else 20000
    t, rn = run([nabla, "train", "--json", "--quiet", "--model", "784-32-10", "--batch", "1",
                 "--max-steps", str(steps), "--limit-train", str(steps), "--epochs", "100",
                 "--out", tempfile.mkdtemp(prefix="nb-bench-")])
    nus = 1e6 / last_json(t, "train_samples_per_s")
    try:
        t, rt = run([py, "bench/torch_train.py", "--model", "784-32-10", "--batch", "1",
                     "--max-steps", str(steps // 4), "--threads", "1", "--epochs", "100"])
    except Failed as e:
        print("nabla %.1f us; Debian PyTorch skipped: %s" % (nus, e))
        res["tiny"] = {"nabla_us_per_step": nus, "nabla_peak_rss_mib": rn, "torch_skipped": str(e)}
        return
    tus = 1e6 / last_json(t, "train_samples_per_s")
    res["tiny"] = {"nabla_us_per_step": nus, "torch_us_per_step": tus, "speedup": tus / nus,
                   "nabla_peak_rss_mib": rn, "torch_peak_rss_mib": rt}
    print("nabla %.1f us, torch(1t) %.1f us: nabla %.1fx faster; peak RSS %.1f vs %.1f MiB" % (nus, tus, tus / nus, rn, rt))


def section_peak(res):
    peak = res.get("fma_peak_gflops")
    print("\n== (e) training as a fraction of the FMA peak (nabla; FLOP per sample: 2 per weight forward,"
          " 2 for its gradient, 2 for the input gradient except the first layer's)")
    for r in res["train"]:
        if not re.fullmatch(r"[0-9]+(-[0-9]+)+", r["model"]):
            continue  # an MLP's count only
        w = [int(x) for x in r["model"].split("-")]
        macs = [w[i] * w[i + 1] for i in range(len(w) - 1)]
        flop = 4.0 * sum(macs) + 2.0 * sum(macs[1:])
        th = int(r["nabla_best"][:-1])
        r["nabla_gflops"] = flop * r["nabla_sps"][r["nabla_best"]] * 1e-9
        if peak:
            r["nabla_frac_peak"] = r["nabla_gflops"] / (peak * th)
        print("%-18s batch %4d: %6.1f GFLOP/s on %d thread%s = %s of %d x the 1-thread peak" % (
              r["model"], r["batch"], r["nabla_gflops"], th, "s" if th > 1 else "",
              "%.2f" % r["nabla_frac_peak"] if peak else "?", th))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nabla")
    ap.add_argument("gemm_bench")
    ap.add_argument("torch_python")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--venv-python", default="bench/.venv/bin/python")
    ap.add_argument("--only", default="")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--sections", default="abce")
    a = ap.parse_args()
    res = {"gemm": [], "train": [], "tiny": {}, "notes": []}
    try:
        if "a" in a.sections:
            section_gemm(res, a.gemm_bench, a.quick)
        if "b" in a.sections:
            section_train(res, a.nabla, a.torch_python, a.venv_python, a.quick, a.only, a.scale)
        if "c" in a.sections:
            section_tiny(res, a.nabla, a.torch_python, a.quick)
        if "e" in a.sections:
            section_peak(res)
    except Failed as e:
        raise SystemExit("bench: %s" % e)
    if a.sections != "abce" or a.only or a.scale != 1.0:
        print("\npartial run (--sections/--only/--scale): bench/results.json left as it was")
        return
    with open("bench/results.json", "w") as f:
        json.dump(res, f, indent=1)
    print("\nwrote bench/results.json")


if __name__ == "__main__":
    main()
