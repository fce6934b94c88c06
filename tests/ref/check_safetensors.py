#!/usr/bin/env python3
"""Interop between nabla's safetensors I/O and the reference library.

    python3 tests/ref/check_safetensors.py check FILE   # FILE was written by nabla
    python3 tests/ref/check_safetensors.py write FILE   # write a file for nabla to read
    python3 tests/ref/check_safetensors.py summary FILE # one line per tensor: name dtype shape sum sumsq

The expected contents mirror TEST(io, python_interop) in tests/test_io.c;
keep the two in step.  Exits non-zero (after printing why) on any mismatch.
Needs `python3 -m pip install safetensors numpy`.
"""
import json
import struct
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file


def expected_from_c():
    return {
        "w.f32": np.arange(6, dtype=np.float32).reshape(2, 3) * np.float32(0.25) - np.float32(0.5),
        "b.f64": np.array([1.0, 0.5, 1.0 / 3.0], dtype=np.float64),
        "idx.i32": np.array([-2, 0, 7, 2**31 - 1], dtype=np.int32),
        "big.i64": np.array([-9007199254740993, 1 << 40], dtype=np.int64),
        "bytes.u8": np.array([0, 1, 127, 128, 255], dtype=np.uint8),
        "scalar": np.array(3.5, dtype=np.float32),
        "empty": np.zeros((0, 4), dtype=np.float32),
        "\u00fcn\u00ef\"code": np.array([1.0], dtype=np.float32),
    }


EXPECTED_META_FROM_C = {"format": "nabla", "step": "42", "note": "h\u00e9llo \"q\"\n"}


def check(path):
    errors = []
    exp = expected_from_c()
    with safe_open(path, framework="np") as f:
        keys = set(f.keys())
        if keys != set(exp):
            errors.append(f"names {sorted(keys)} != {sorted(exp)}")
        meta = f.metadata()
        if meta != EXPECTED_META_FROM_C:
            errors.append(f"metadata {meta!r} != {EXPECTED_META_FROM_C!r}")
        for name in sorted(keys & set(exp)):
            got, want = f.get_tensor(name), exp[name]
            if got.dtype != want.dtype:
                errors.append(f"{name}: dtype {got.dtype} != {want.dtype}")
            elif got.shape != want.shape:
                errors.append(f"{name}: shape {got.shape} != {want.shape}")
            elif not np.array_equal(got, want):
                errors.append(f"{name}: values {got.tolist()} != {want.tolist()}")
    # The layout the reference writer would produce: 8-aligned header padded
    # with spaces, each tensor aligned to its element size.
    with open(path, "rb") as fh:
        raw = fh.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = raw[8:8 + n].decode("utf-8")
    if n % 8 or header.rstrip(" ") != header.rstrip() or not header.rstrip().endswith("}"):
        errors.append(f"header of {n} bytes is not space-padded to 8")
    sizes = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2, "U16": 2}
    for name, e in json.loads(header).items():
        if name != "__metadata__" and e["data_offsets"][0] % sizes.get(e["dtype"], 1):
            errors.append(f"{name}: offset {e['data_offsets'][0]} not aligned to {e['dtype']}")
    for e in errors:
        print(f"check_safetensors: {path}: {e}", file=sys.stderr)
    return 1 if errors else 0


def write(path):
    tensors = {
        "py.f32": (np.arange(6, dtype=np.float32) * np.float32(1.5) - np.float32(2.0)).reshape(3, 2),
        "py.f64": 1.0 / np.arange(1, 5, dtype=np.float64),
        "py.i64": np.array([-(1 << 62), 0, 5], dtype=np.int64),
        "py.i32": np.array(-123456, dtype=np.int32),
        "py.u8": (np.arange(8) * 37).astype(np.uint8).reshape(2, 2, 2),
        "py.f16": np.array([1.0, -2.0], dtype=np.float16),
        "py.bool": np.array([True, False, True]),
    }
    save_file(tensors, path, metadata={"source": "python", "unicode": "\u65e5\u672c"})
    return 0


def summary(path):
    """What Python's safetensors sees in any file (a nabla checkpoint), for the
    C test to compare with its own reading: names, dtypes, shapes, sums."""
    with safe_open(path, framework="np") as f:
        meta = f.metadata() or {}
        for k in sorted(meta):
            print("meta %s %s" % (k, meta[k]))
        for name in sorted(f.keys()):
            a = f.get_tensor(name).astype(np.float64)
            shape = "x".join(str(d) for d in f.get_tensor(name).shape) or "scalar"
            print("tensor %s %s %s %.17g %.17g" % (name, f.get_tensor(name).dtype, shape, a.sum(), (a * a).sum()))
    return 0


def main(argv):
    cmds = {"check": check, "write": write, "summary": summary}
    if len(argv) != 3 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[1]](argv[2])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
