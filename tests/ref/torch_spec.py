#!/usr/bin/python3
"""nabla layer descriptions as torch nn.Sequential models, for tests/test_spec.c.

An independent reading of the grammar: "linear(128) relu residual(linear(128)
batchnorm1d relu) linear(10)" becomes the nn.Sequential whose state_dict
names are nabla's without the "layers." prefix ("0.weight", "2.block.1.bias").

  torch_spec.py summary DESC C,H,W
      one line per layer, "name params d1,d2,..." (output shape of one sample)
  torch_spec.py make DESC C,H,W SEED WEIGHTS IO
      a seeded model: safetensors.torch.save_file(model.state_dict(), WEIGHTS),
      and IO holds "x" (5 samples, flattened) and torch's "logits" (eval mode)
  torch_spec.py check DESC C,H,W CKPT IO
      load nabla's checkpoint CKPT into the model (strict), run IO's "x" and
      compare with IO's "logits"; prints the largest difference; exit 1 over 1e-5
"""
import math
import sys

import torch
from torch import nn

PARAMS = {
    "linear": ["out", "bias"], "leaky_relu": ["negative_slope"], "elu": ["alpha"],
    "batchnorm1d": ["eps", "momentum", "affine"], "layernorm": ["eps"], "dropout": ["p"],
    "conv2d": ["out", "k", "s", "p", "d", "g", "bias"], "maxpool2d": ["k", "s", "p"], "avgpool2d": ["k", "s", "p"],
    "batchnorm2d": ["eps", "momentum", "affine"],
}


def parse(s):
    """[(name, {arg: value}, children)], children for residual(...)."""
    pos = 0

    def ws():
        nonlocal pos
        while pos < len(s) and s[pos].isspace():
            pos += 1

    def seq():
        nonlocal pos
        out = []
        while True:
            ws()
            if pos >= len(s) or s[pos] == ")":
                return out
            start = pos
            while pos < len(s) and (s[pos].isalnum() or s[pos] == "_"):
                pos += 1
            name = s[start:pos]
            args, children = {}, []
            if pos < len(s) and s[pos] == "(":
                pos += 1
                if name == "residual":
                    children = seq()
                    pos += 1
                else:
                    end = s.index(")", pos)
                    for i, a in enumerate(x.strip() for x in s[pos:end].split(",") if x.strip()):
                        k, v = a.split("=") if "=" in a else (PARAMS[name][i], a)
                        args[k.strip()] = float({"true": "1", "false": "0"}.get(v.strip(), v.strip()))
                    pos = end + 1
            out.append((name, args, children))

    return seq()


class FlatLinear(nn.Linear):
    """nabla's linear: image input is flattened first."""

    def forward(self, x):
        return super().forward(x.flatten(1) if x.dim() > 2 else x)


class Residual(nn.Module):
    def __init__(self, block, proj):
        super().__init__()
        self.block = block
        if proj is not None:
            self.proj = proj

    def forward(self, x):
        h = self.block(x)
        if not hasattr(self, "proj"):
            skip = x
        elif isinstance(self.proj, nn.Conv2d):  # images: a strided 1x1 convolution
            skip = self.proj(x)
        else:
            skip = self.proj(x.flatten(1))
        return skip.reshape(h.shape) + h


class GAP(nn.Module):
    """nabla's gap: [N, C, H, W] -> [N, C]."""

    def forward(self, x):
        return x.mean((2, 3))


def win(n, k, s, p, d=1):
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def build(layers, shape):
    mods = []
    for name, a, children in layers:
        n = math.prod(shape)
        if name == "linear":
            out = int(a["out"])
            mods.append(FlatLinear(n, out, bias=bool(a.get("bias", 1))))
            shape = [out]
        elif name == "relu":
            mods.append(nn.ReLU())
        elif name == "leaky_relu":
            mods.append(nn.LeakyReLU(a.get("negative_slope", 0.01)))
        elif name == "elu":
            mods.append(nn.ELU(a.get("alpha", 1.0)))
        elif name == "gelu":
            mods.append(nn.GELU())
        elif name == "sigmoid":
            mods.append(nn.Sigmoid())
        elif name == "tanh":
            mods.append(nn.Tanh())
        elif name == "softplus":
            mods.append(nn.Softplus())
        elif name == "identity":
            mods.append(nn.Identity())
        elif name == "batchnorm1d":
            mods.append(nn.BatchNorm1d(shape[0], a.get("eps", 1e-5), a.get("momentum", 0.1), bool(a.get("affine", 1))))
        elif name == "layernorm":
            mods.append(nn.LayerNorm(shape[0], a.get("eps", 1e-5)))
        elif name == "dropout":
            mods.append(nn.Dropout(a.get("p", 0.5)))
        elif name == "flatten":
            mods.append(nn.Flatten())
            shape = [n]
        elif name == "conv2d":
            out, k, st, p, d, g = (int(a.get(key, dv)) for key, dv in
                                   (("out", 0), ("k", 3), ("s", 1), ("p", 0), ("d", 1), ("g", 1)))
            mods.append(nn.Conv2d(shape[0], out, k, st, p, d, g, bias=bool(a.get("bias", 1))))
            shape = [out, win(shape[1], k, st, p, d), win(shape[2], k, st, p, d)]
        elif name in ("maxpool2d", "avgpool2d"):
            k = int(a["k"])
            st, p = int(a.get("s", 0)) or k, int(a.get("p", 0))
            mods.append((nn.MaxPool2d if name == "maxpool2d" else nn.AvgPool2d)(k, st, p))
            shape = [shape[0], win(shape[1], k, st, p), win(shape[2], k, st, p)]
        elif name == "gap":
            mods.append(GAP())
            shape = [shape[0]]
        elif name == "batchnorm2d":
            mods.append(nn.BatchNorm2d(shape[0], a.get("eps", 1e-5), a.get("momentum", 0.1), bool(a.get("affine", 1))))
        elif name == "residual":
            block, out_shape = build(children, shape)
            nout = math.prod(out_shape)
            if len(shape) == 3 and len(out_shape) == 3 and shape != out_shape:
                st = next(s for s in range(1, shape[1] + 1) if win(shape[1], 1, s, 0) == out_shape[1]
                          and win(shape[2], 1, s, 0) == out_shape[2])
                mods.append(Residual(block, nn.Conv2d(shape[0], out_shape[0], 1, st, bias=False)))
            else:
                mods.append(Residual(block, nn.Linear(n, nout, bias=False) if nout != n else None))
            shape = out_shape
        else:
            raise SystemExit("torch_spec.py: unknown layer " + name)
    return nn.Sequential(*mods), shape


def model_of(desc, shape_arg):
    shape = [int(v) for v in shape_arg.split(",")]
    model, _ = build(parse(desc), shape)
    return model, shape


def main():
    mode, desc, shape_arg = sys.argv[1], sys.argv[2], sys.argv[3]
    torch.set_default_dtype(torch.float32)
    if mode == "summary":
        model, shape = model_of(desc, shape_arg)
        model.eval()
        shapes = {}
        import re
        rows = [(n, m) for n, m in model.named_modules() if re.fullmatch(r"\d+(\.block\.\d+)*", n)]
        for n, m in rows:
            m.register_forward_hook(lambda mod, inp, out, n=n: shapes.__setitem__(n, list(out.shape[1:])))
        with torch.no_grad():
            model(torch.zeros([2] + shape))
        for n, m in rows:
            print("layers.%s %d %s" % (n, sum(p.numel() for p in m.parameters()), ",".join(map(str, shapes[n]))))
        print("total %d" % sum(p.numel() for p in model.parameters()))
    elif mode == "make":
        from safetensors.torch import save_file
        seed, weights, io = int(sys.argv[4]), sys.argv[5], sys.argv[6]
        torch.manual_seed(seed)
        model, shape = model_of(desc, shape_arg)
        for m in model.modules():  # non-trivial statistics and affine parameters
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm)) and m.weight is not None:
                nn.init.uniform_(m.weight, 0.5, 1.5)
                nn.init.uniform_(m.bias, -0.5, 0.5)
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        model.eval()
        x = torch.randn([5] + shape)
        with torch.no_grad():
            logits = model(x)
        save_file(model.state_dict(), weights)
        save_file({"x": x.flatten(1).contiguous(), "logits": logits.contiguous()}, io)
    elif mode == "check":
        from safetensors.torch import load_file
        ckpt, io = sys.argv[4], sys.argv[5]
        model, shape = model_of(desc, shape_arg)
        state = {k[len("layers."):]: v for k, v in load_file(ckpt).items() if k.startswith("layers.")}
        model.load_state_dict(state, strict=True)
        model.eval()
        t = load_file(io)
        with torch.no_grad():
            logits = model(t["x"].reshape([-1] + shape))
        diff = (logits - t["logits"]).abs().max().item()
        print("max |torch - nabla| = %.3g" % diff)
        sys.exit(0 if diff <= 1e-5 else 1)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
