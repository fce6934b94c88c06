#!/usr/bin/env python3
"""The study guide's loop in PyTorch, for side-by-side comparison with
`nabla train`: MLP 784-128-10 ReLU, Adam lr 1e-3, batch 64, clip_grad_norm_
1.0, shuffled Fashion-MNIST normalised with mean 0.2860 / std 0.3530.
Run with Debian's python3-torch:

    /usr/bin/python3 bench/torch_train.py [--epochs N] [--threads T] [--data DIR]
        [--model 784-128-10] [--batch B] [--max-steps N]

--model gives the layer widths (ReLU between them), as `nabla train --model`;
--max-steps stops after N optimizer steps in total and skips the evaluation
(test_acc and test_loss are then null), for timing runs (`make bench`).

Prints one JSON line per epoch and a final {"event":"done",...} line with
test_acc, test_loss and train_samples_per_s (training steps only)."""
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", default="784-128-10")
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--data", default=os.environ.get("NABLA_DATA", "/usr/share/datasets/fashion-mnist"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    norm = lambda x: (x.float().reshape(x.shape[0], -1) / 255.0 - 0.2860) / 0.3530
    xtr = norm(read_idx(find(a.data, "train-images-idx3-ubyte")))
    ytr = read_idx(find(a.data, "train-labels-idx1-ubyte")).long()
    xte = norm(read_idx(find(a.data, "t10k-images-idx3-ubyte")))
    yte = read_idx(find(a.data, "t10k-labels-idx1-ubyte")).long()
    widths = [int(w) for w in a.model.split("-")]
    layers = []
    for i in range(len(widths) - 1):
        if i: layers.append(torch.nn.ReLU())
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    train_time, samples, steps = 0.0, 0, 0
    acc = tl = None
    for epoch in range(a.epochs):
        perm = torch.randperm(xtr.shape[0])
        model.train()
        for i in range(0, xtr.shape[0], a.batch):
            idx = perm[i:i + a.batch]
            x, y = xtr[idx], ytr[idx]
            t0 = time.perf_counter()
            opt.zero_grad()
            loss = lossf(model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            train_time += time.perf_counter() - t0
            samples += x.shape[0]
            steps += 1
            if steps == a.max_steps:
                break
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
                      "steps": steps}))


if __name__ == "__main__":
    main()
