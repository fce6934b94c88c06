#!/usr/bin/env python3
"""The study guide's loop in PyTorch, for side-by-side comparison with
`nabla train`: Adam lr 1e-3, clip_grad_norm_ 1.0, cross-entropy, shuffled
Fashion-MNIST normalised with mean 0.2860 / std 0.3530. Runs on Debian's
PyTorch 1.13 (/usr/bin/python3) and on PyTorch 2.x from PyPI (bench/.venv):

    python3 bench/torch_train.py [--epochs N] [--threads T] [--data DIR]
        [--model M] [--batch B] [--max-steps N] [--warmup N]
        [--fused] [--compile]

--model names the model (MODELS below): "mlp:784-128-10" (or just
"784-128-10", as `nabla train --model`: the layer widths, ReLU between them),
"cnn" or "lstm". --fused takes Adam's fused kernel and --compile runs the
whole step through torch.compile (PyTorch 2.x only). --max-steps stops after N
timed optimizer steps and skips the evaluation (test_acc and test_loss are
then null): timing runs, `make bench`.

What the timer covers (the same region as bench/jax_train.py's and as
`nabla train`'s train_samples_per_s): the update steps only -- zero_grad,
forward, loss, backward, clip_grad_norm_, Adam step -- on batches taken in
order, as views, from a float32 training set already in memory and shuffled
before each epoch (outside the clock). One clock runs around each epoch's
steps, so Python's loop overhead is in. Not in it: reading and normalising
the data, the shuffles, building the model, the --warmup steps (run first on
the first batches, to let torch.compile compile and allocators settle; they
are neither timed nor counted) and the evaluation.

Prints one JSON line per epoch and a final {"event":"done",...} line with
test_acc, test_loss and train_samples_per_s (timed steps only)."""
import argparse
import gzip
import json
import os
import struct
import time

import torch


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    t = torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8)
    return t.reshape(dims)


def find(d, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise SystemExit("missing %s in %s" % (stem, d))


# ------------------------------------------------------------------ models
# Each builder takes the part of --model after "name:" and returns the module
# and the shape of one input sample. Add a model here and in
# bench/jax_train.py's MODELS under the same name.
def mlp(arg):
    """mlp:784-128-10: Linear layers of these widths, ReLU between them."""
    widths = [int(w) for w in arg.split("-")]
    layers = []
    for i in range(len(widths) - 1):
        if i:
            layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
    return torch.nn.Sequential(*layers), (widths[0],)


def cnn(arg):
    """cnn: conv2d(32,k3,p1) relu maxpool2 conv2d(64,k3,p1) relu maxpool2
    flatten linear(128) relu linear(10), on [N,1,28,28]."""
    n = torch.nn
    return n.Sequential(n.Conv2d(1, 32, 3, padding=1), n.ReLU(), n.MaxPool2d(2),
                        n.Conv2d(32, 64, 3, padding=1), n.ReLU(), n.MaxPool2d(2), n.Flatten(),
                        n.Linear(64 * 7 * 7, 128), n.ReLU(), n.Linear(128, 10)), (1, 28, 28)


class Lstm(torch.nn.Module):
    """lstm: LSTM(28 -> 128, batch_first) reading the 28 rows as steps; its
    last output -> Linear(10)."""

    def __init__(self):
        super().__init__()
        self.rnn = torch.nn.LSTM(28, 128, batch_first=True)
        self.out = torch.nn.Linear(128, 10)

    def forward(self, x):  # x: [N, 28 steps, 28]
        h, _ = self.rnn(x)
        return self.out(h[:, -1])


MODELS = {"mlp": mlp, "cnn": cnn, "lstm": lambda arg: (Lstm(), (28, 28))}


def build(spec):
    name, _, arg = spec.partition(":")
    if name[:1].isdigit():  # "784-128-10": an MLP, as nabla writes it
        name, arg = "mlp", spec
    if name not in MODELS:
        raise SystemExit("unknown model %r (known: %s)" % (spec, ", ".join(sorted(MODELS))))
    return MODELS[name](arg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", default="mlp:784-128-10")
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=0, help="untimed steps first (default 0, 5 with --compile)")
    ap.add_argument("--fused", action="store_true", help="Adam(fused=True)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the whole step")
    ap.add_argument("--data", default=os.environ.get("NABLA_DATA", "/usr/share/datasets/fashion-mnist"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model, shape = build(a.model)
    norm = lambda x: ((x.float() / 255.0 - 0.2860) / 0.3530).reshape((x.shape[0],) + shape).contiguous()
    xtr = norm(read_idx(find(a.data, "train-images-idx3-ubyte")))
    ytr = read_idx(find(a.data, "train-labels-idx1-ubyte")).long()
    xte = norm(read_idx(find(a.data, "t10k-images-idx3-ubyte")))
    yte = read_idx(find(a.data, "t10k-labels-idx1-ubyte")).long()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **({"fused": True} if a.fused else {}))
    lossf = torch.nn.CrossEntropyLoss()

    def step(x, y):
        opt.zero_grad()
        loss = lossf(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    run = torch.compile(step) if a.compile else step
    warmup = a.warmup or (5 if a.compile else 0)
    nb = xtr.shape[0] // a.batch  # full batches only: one shape for torch.compile
    model.train()
    for i in range(warmup):
        j = i % nb * a.batch
        run(xtr[j:j + a.batch], ytr[j:j + a.batch])
    train_time, samples, steps = 0.0, 0, 0
    acc = tl = None
    for epoch in range(a.epochs):
        perm = torch.randperm(xtr.shape[0])
        xs, ys = xtr[perm], ytr[perm]  # the pre-shuffled epoch, outside the clock
        model.train()
        t0 = time.perf_counter()
        for i in range(nb):
            run(xs[i * a.batch:(i + 1) * a.batch], ys[i * a.batch:(i + 1) * a.batch])
            samples += a.batch
            steps += 1
            if steps == a.max_steps:
                break
        train_time += time.perf_counter() - t0
        if steps == a.max_steps:
            break
        model.eval()
        with torch.no_grad():
            out = model(xte)
            tl = lossf(out, yte).item()
            acc = (out.argmax(1) == yte).float().mean().item()
        print(json.dumps({"event": "epoch", "epoch": epoch + 1, "test_loss": tl, "test_acc": acc}), flush=True)
    print(json.dumps({"event": "done", "test_acc": acc, "test_loss": tl,
                      "train_samples_per_s": samples / train_time, "threads": a.threads,
                      "steps": steps, "version": "torch " + torch.__version__}))


if __name__ == "__main__":
    main()
