#!/bin/sh
# What `make bench` needs beyond the build: OpenBLAS (libopenblas-dev, to
# compare with, and the CBLAS backend) and Debian's PyTorch (python3-torch,
# run with PYTHON_TORCH, default /usr/bin/python3).  Installs them when
# missing and we are root; otherwise says what to install.
# Then the PyPI anchors, PyTorch 2.x and JAX, in bench/.venv (BENCH_VENV):
# bench/setup_venv.py builds it when they do not import.  That part never
# fails `make bench`: a missing anchor is a skipped column, with its reason.
set -e
PY=${PYTHON_TORCH:-/usr/bin/python3}
VENV=${BENCH_VENV:-bench/.venv}
if ! "$VENV/bin/python" -c "import torch, jax, optax" 2>/dev/null; then
    echo "make bench: setting up $VENV (PyTorch 2.x, JAX; a few minutes, once) ..." >&2
    python3 bench/setup_venv.py "$VENV" ||
        echo "make bench: going on without the anchors above; bench/bench.py skips them" >&2
fi
need=
pkg-config --exists openblas 2>/dev/null || need="$need libopenblas-dev"
"$PY" -c "import torch" 2>/dev/null || need="$need python3-torch"
command -v pkg-config >/dev/null || need="$need pkg-config"
[ -z "$need" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "make bench: installing$need ..." >&2
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null ||
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null; }
    exit 0
fi
echo "make bench needs:$need -- run: sudo apt-get install$need" >&2
exit 1
