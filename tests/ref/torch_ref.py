#!/usr/bin/python3
"""Write tests/ref/torch_ops.txt: PyTorch's forward output and input gradients
for every case of nabla's op catalogue, which tests/test_torch_ref.c replays.

    make fixtures
    # = build/nabla gradcheck --dump-cases tests/ref/cases.txt
    #   /usr/bin/python3 tests/ref/torch_ref.py tests/ref/cases.txt tests/ref/torch_ops.txt

Needs torch (Debian's python3-torch, 1.13); no numpy.  ATEN_CPU_CAPABILITY is
forced to "default" (plain IEEE kernels, no fused multiply-add) and torch runs
on one thread, so the float64 numbers are reproducible.

INPUT: cases.txt (written by `nabla gradcheck --dump-cases FILE`).  Lines;
'#' starts a comment line; tokens are separated by single spaces; numbers are
%.17g (float64 round-trip) or plain integers.

    nabla-cases 1                     header and format version
    case <name> <op> <n_in>           a case of catalogue/catalogue.h
    torch <expression...>             rest of the line: the PyTorch equivalent,
                                      a Python expression over x0, x1, ...,
                                      torch and F; "-" when there is none
    input <i> <float|int32> <req> <ndim> <d0> ... <dn-1> : <v0> <v1> ...
                                      input i (req: 1 if it requires grad),
                                      row-major values; n_in of these lines
    upstream <ndim> <d...> : <v...>   the upstream gradient for backward
                                      (the output's shape)
    end

OUTPUT: torch_ops.txt.  Self-contained: the case's inputs and upstream lines
are copied, then one result block per dtype:

    nabla-torch-ops 1
    case <name>
    input ... / upstream ...          as above (float64 values)
    result <float64|float32>          torch run in that dtype: float inputs and
                                      the upstream gradient converted from the
                                      float64 values, int32 inputs as int64
    out <ndim> <d...> : <v...>        the forward output
    grad <i> <ndim> <d...> : <v...>   d(sum(out * upstream)) / d(input i), for
                                      every input with req 1 (zeros where torch
                                      has none)
    end

Values are written with %.17g (float32 results exactly, widened to double).

Cases without a torch expression are skipped (listed in a comment): dropout in
training mode draws its mask from nabla's own RNG, which torch cannot
reproduce; tests/test_torch_ref.c checks those structurally instead
(out = x * mask / (1 - p), grad = upstream * mask / (1 - p)).
"""
import os
import sys

os.environ["ATEN_CPU_CAPABILITY"] = "default"
import warnings  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)


def parse_tensor(tokens):
    """'<ndim> <d...> : <v...>' -> (shape, values as strings)."""
    nd = int(tokens[0])
    shape = [int(t) for t in tokens[1:1 + nd]]
    if tokens[1 + nd] != ":":
        raise ValueError("expected ':' after the shape")
    return shape, tokens[2 + nd:]


def read_cases(path):
    cases, cur = [], None
    with open(path) as f:
        lines = f.read().split("\n")
    if not any(l.strip() == "nabla-cases 1" for l in lines):
        raise SystemExit("%s: not a nabla-cases 1 file" % path)
    for ln, line in enumerate(lines, 1):
        if not line or line.startswith("#") or line == "nabla-cases 1":
            continue
        tok = line.split(" ")
        if tok[0] == "case":
            cur = {"name": tok[1], "op": tok[2], "n_in": int(tok[3]), "inputs": [],
                   "lines": []}
        elif tok[0] == "torch":
            expr = line[len("torch "):]
            cur["torch"] = None if expr == "-" else expr
        elif tok[0] == "input":
            shape, vals = parse_tensor(tok[4:])
            cur["inputs"].append({"dtype": tok[2], "req": tok[3] == "1", "shape": shape,
                                  "values": vals})
            cur["lines"].append(line)
        elif tok[0] == "upstream":
            cur["up_shape"], cur["up_values"] = parse_tensor(tok[1:])
            cur["lines"].append(line)
        elif tok[0] == "end":
            if len(cur["inputs"]) != cur["n_in"]:
                raise SystemExit("%s:%d: case %s has %d inputs, expected %d"
                                 % (path, ln, cur["name"], len(cur["inputs"]), cur["n_in"]))
            cases.append(cur)
            cur = None
        else:
            raise SystemExit("%s:%d: unknown record %r" % (path, ln, tok[0]))
    return cases


def tensor_of(shape, values, dtype):
    if dtype == torch.int64:
        data = [int(v) for v in values]
    else:
        data = [float(v) for v in values]
    return torch.tensor(data, dtype=dtype).reshape(shape)


def fmt(shape, t):
    flat = t.detach().reshape(-1).tolist()
    head = " ".join([str(len(shape))] + [str(d) for d in shape])
    return head + " :" + "".join(" %.17g" % float(v) for v in flat)


def run(case, dtype):
    env = {"torch": torch, "F": F}
    xs = []
    for i, inp in enumerate(case["inputs"]):
        if inp["dtype"] == "int32":
            x = tensor_of(inp["shape"], inp["values"], torch.int64)
        else:
            x = tensor_of(inp["shape"], inp["values"], dtype)
            x.requires_grad_(inp["req"])
        env["x%d" % i] = x
        xs.append(x)
    out = eval(case["torch"], env)  # noqa: S307 (our own catalogue's expressions)
    if list(out.shape) != case["up_shape"]:
        raise SystemExit("case %s: torch's output is %s, nabla's %s"
                         % (case["name"], list(out.shape), case["up_shape"]))
    up = tensor_of(case["up_shape"], case["up_values"], dtype)
    req = [x for x, inp in zip(xs, case["inputs"]) if inp["req"] and inp["dtype"] != "int32"]
    grads = [None] * len(req)
    if req and out.requires_grad:
        grads = torch.autograd.grad(out, req, grad_outputs=up, allow_unused=True)
    lines = ["result " + ("float64" if dtype == torch.float64 else "float32"),
             "out " + fmt(case["up_shape"], out)]
    k = 0
    for i, inp in enumerate(case["inputs"]):
        if not (inp["req"] and inp["dtype"] != "int32"):
            continue
        g = grads[k]
        k += 1
        if g is None:
            g = torch.zeros(inp["shape"], dtype=dtype)
        lines.append("grad %d %s" % (i, fmt(inp["shape"], g)))
    return lines


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "tests/ref/cases.txt"
    dst = sys.argv[2] if len(sys.argv) > 2 else "tests/ref/torch_ops.txt"
    cases = read_cases(src)
    out = ["# PyTorch %s reference for nabla's op catalogue; written by tests/ref/torch_ref.py "
           "from %s (format: see that script)" % (torch.__version__, os.path.basename(src)),
           "nabla-torch-ops 1"]
    skipped = [c["name"] for c in cases if c.get("torch") is None]
    if skipped:
        out.append("# no torch reference (checked structurally in C): " + " ".join(skipped))
    n = 0
    for case in cases:
        if case.get("torch") is None:
            continue
        out.append("case " + case["name"])
        out.extend(case["lines"])
        for dtype in (torch.float64, torch.float32):
            out.extend(run(case, dtype))
        out.append("end")
        n += 1
    with open(dst, "w") as f:
        f.write("\n".join(out) + "\n")
    print("torch_ref.py: %d cases written to %s (%d skipped: no torch reference)"
          % (n, dst, len(skipped)))


if __name__ == "__main__":
    main()
