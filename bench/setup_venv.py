#!/usr/bin/env python3
"""Builds bench/.venv, the virtual environment of `make bench`'s PyPI anchors:
PyTorch 2.x (eager and torch.compile) and JAX with optax, all on the CPU.
Run by bench/ensure-deps.sh with the default python3:

    python3 bench/setup_venv.py [VENV_DIR]

The PyPI torch wheel is built for CUDA and loads CUDA libraries at import even
on the CPU. Its full dependency list pulls gigabytes of nvidia-* wheels, most
of which the machine's CUDA toolkit already provides, so torch goes in with
--no-deps, then its pure-Python dependencies, then only the nvidia-* wheels
that its import asks for: import, read the ImportError (a missing lib*.so or
an undefined symbol), install the requirement of torch's that names that
library, try again.

Prints one line per step on stderr. Exit status 0 when both anchors import,
1 otherwise (the last line says why); `make bench` goes on either way and
skips the missing columns."""
import os
import re
import subprocess
import sys

# Versions this harness was written against; newer ones may well work.
TORCH = "torch==2.15.0"
JAX = ["jax[cpu]==0.10.2", "optax==0.2.8"]


def say(msg):
    print("bench venv: " + msg, file=sys.stderr, flush=True)


def pip(py, args):
    """pip install ARGS in the venv; True when it succeeded."""
    r = subprocess.run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check"] + args,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        say("pip install %s failed: %s" % (" ".join(args), lines[-1] if lines else "?"))
    return r.returncode == 0


def try_import(py, mods):
    """None when `import MODS` works in the venv, else the error's last line."""
    r = subprocess.run([py, "-c", "import " + ", ".join(mods)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode == 0:
        return None
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    return lines[-1] if lines else "exit status %d" % r.returncode


def torch_requires(py):
    """torch's Requires-Dist lines for this platform (markers dropped)."""
    code = ("import importlib.metadata as m\n"
            "for r in m.requires('torch') or []:\n"
            "    if 'extra ==' not in r: print(r.split(';')[0].strip())\n")
    r = subprocess.run([py, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout.split() if r.returncode == 0 else []


def missing_stem(err):
    """The library an ImportError asks for, lower-cased: 'cusparselt' from
    'libcusparseLt.so.0: cannot open ...', 'ncclcommresume' from 'undefined
    symbol: ncclCommResume'."""
    m = re.search(r"undefined symbol: ([A-Za-z]+)", err)
    if not m:
        m = re.search(r"lib([A-Za-z]+)[A-Za-z0-9_]*\.so[.0-9]*: cannot open", err)
    return m.group(1).lower() if m else None


def requirement_for(stem, reqs):
    """The requirement of torch's whose library name is the longest prefix of
    STEM: ('nvidia-nccl-cu13==2.30.7', True) for 'ncclcommresume', or
    ('cuda-toolkit[cublas]==13.2.2', False) for 'cublaslt'; the flag says
    whether to install it without its dependencies."""
    best = None
    for r in reqs:
        m = re.match(r"nvidia-([a-z]+)-cu[0-9]+(.*)$", r)
        if m and stem.startswith(m.group(1)):
            cand = (len(m.group(1)), r, True)
            best = max(best, cand) if best else cand
        m = re.match(r"cuda-toolkit\[([a-z,]+)\](.*)$", r)
        if m:
            for extra in m.group(1).split(","):
                if stem.startswith(extra):
                    cand = (len(extra), "cuda-toolkit[%s]%s" % (extra, m.group(2)), False)
                    best = max(best, cand) if best else cand
    return best[1:] if best else None


def setup_torch(py):
    if try_import(py, ["torch"]) is None:
        return None
    say("installing %s without its dependencies ..." % TORCH)
    if not pip(py, ["--no-deps", TORCH]):
        return "pip could not install " + TORCH
    reqs = torch_requires(py)
    pure = [r for r in reqs if not re.match(r"(nvidia-|cuda-|triton)", r)]
    say("installing its pure-Python dependencies: " + " ".join(pure))
    if not pip(py, pure + ["numpy"]):
        return "pip could not install torch's dependencies"
    tried = set()
    for _ in range(12):
        err = try_import(py, ["torch"])
        if err is None:
            return None
        stem = missing_stem(err)
        req = requirement_for(stem, reqs) if stem else None
        if not req or req[0] in tried:
            return "import torch: " + err
        tried.add(req[0])
        say("import torch asks for %s: installing %s" % (stem, req[0]))
        if not pip(py, (["--no-deps"] if req[1] else []) + [req[0]]):
            return "pip could not install " + req[0]
    return "import torch: " + (try_import(py, ["torch"]) or "ok")


def setup_jax(py):
    if try_import(py, ["jax", "optax"]) is None:
        return None
    say("installing " + " ".join(JAX) + " ...")
    if not pip(py, JAX):
        return "pip could not install " + " ".join(JAX)
    err = try_import(py, ["jax", "optax"])
    return err and "import jax, optax: " + err


def main():
    venv = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), ".venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        say("creating " + venv)
        r = subprocess.run([sys.executable, "-m", "venv", venv], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
        if r.returncode:
            lines = r.stderr.strip().splitlines()
            say("PyTorch 2.x and JAX columns will be skipped: python3 -m venv failed: " +
                (lines[-1] if lines else "?"))
            return 1
    bad = 0
    for name, fn in (("PyTorch 2.x", setup_torch), ("JAX", setup_jax)):
        why = fn(py)
        if why:
            say("%s columns will be skipped: %s" % (name, why))
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
