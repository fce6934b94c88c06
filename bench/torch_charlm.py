#!/usr/bin/env python3
"""`nabla train --text` in PyTorch, for comparing validation bits per
character: the same text pipeline, model, optimizer and batches.

    python3 bench/torch_charlm.py [--text PATH[,PATH]] [--seq-len 64]
        [--batch 32] [--max-steps 1500] [--lr 1e-3] [--clip-norm 1]
        [--seed 1] [--threads 1] [--save-init FILE]

The pipeline is src/data/text.c's, step by step:
  * files and folders in order; a folder gives its regular files (not links,
    not hidden, no NUL byte in the first 4 KiB) sorted by name;
  * the 96-symbol alphabet: '\\n' is 0, bytes 32..126 are 1..95, a tab is a
    space, any other byte is '?';
  * the stream is cut into 8192-id chunks; every 20th (the 20th, 40th, ...)
    is validation, the rest training;
  * windows of L ids start every L ids (no overlap): (n - 1) // L of them,
    labels one id further on;
  * batches: the loader's permutation of the training windows, redrawn from
    the identity at every epoch by a Fisher-Yates shuffle with nabla's
    generator (xoshiro256** seeded by splitmix64 from --seed), the last batch
    of an epoch short.
The model is `embedding(96,64) lstm(256,layers=2,seq=1) linear(96)`: PyTorch's
default initialisation (nabla's --init torch draws from the same
distributions, not the same numbers), float32, cross-entropy averaged over
every character of the batch, clip_grad_norm_, Adam.  Validation: every
validation window, summed cross-entropy / characters / ln 2.  --save-init
writes the initial weights under PyTorch's names (safetensors, for
`nabla ... --from-torch`).  Prints one JSON line at the end."""
import argparse
import json
import math
import os
import stat
import struct
import time

import torch

M64 = (1 << 64) - 1
VOCAB, CHUNK, VAL_EVERY = 96, 8192, 20


# ---------------------------------------------------------------- the text
def encode(data):
    table = bytearray(256)
    for b in range(256):
        if b == 10:
            table[b] = 0
        elif b == 9:
            table[b] = 32 - 31
        elif 32 <= b <= 126:
            table[b] = b - 31
        else:
            table[b] = ord("?") - 31
    return data.translate(bytes(table))


def is_binary(path):
    with open(path, "rb") as f:
        return b"\0" in f.read(4096)


def load_text(paths):
    out = bytearray()
    for p in paths:
        if os.path.isdir(p):
            names = []
            for name in os.listdir(p):
                q = os.path.join(p, name)
                if name.startswith(".") or not stat.S_ISREG(os.lstat(q).st_mode) or is_binary(q):
                    continue
                names.append(q)
            files = sorted(names, key=lambda s: s.encode())
        else:
            files = [p]
        for q in files:
            with open(q, "rb") as f:
                data = f.read()
            if b"\0" in data:
                raise SystemExit("%s: a NUL byte: not a text file" % q)
            out += encode(data)
    return bytes(out)


def split(ids):
    train, val = bytearray(), bytearray()
    for k, at in enumerate(range(0, len(ids), CHUNK)):
        (val if k % VAL_EVERY == VAL_EVERY - 1 else train).extend(ids[at:at + CHUNK])
    return bytes(train), bytes(val)


def windows(ids, L):
    n = (len(ids) - 1) // L
    t = torch.frombuffer(bytearray(ids), dtype=torch.uint8).long()
    return t[:n * L].reshape(n, L), t[1:n * L + 1].reshape(n, L)


# -------------------------------------------------- nabla's generator (rng.c)
class Rng:
    def __init__(self, seed):
        x = seed & M64
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def u64(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64
        out = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return out

    def below(self, n):
        lim = M64 - M64 % n
        while True:
            x = self.u64()
            if x < lim:
                return x % n


def epoch_order(rng, n):
    """src/data/loader.c: the identity, shuffled from the end."""
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    return perm


# ----------------------------------------------------------------- the model
class CharLM(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embedding = torch.nn.Embedding(VOCAB, 64)
        self.lstm = torch.nn.LSTM(64, 256, num_layers=2, batch_first=True)
        self.linear = torch.nn.Linear(256, VOCAB)

    def forward(self, x):
        h, _ = self.lstm(self.embedding(x))
        return self.linear(h)


def save_safetensors(path, tensors):
    header, blobs, at = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def evaluate(model, x, y, batch=1000):
    model.eval()
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            logits = model(x[i:i + batch])
            total += torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), y[i:i + batch].reshape(-1),
                                                       reduction="sum").item()
    model.train()
    return total / y.numel()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--text", default="/usr/share/games/fortunes")
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-steps", type=int, default=1500)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--clip-norm", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save-init", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    train_ids, val_ids = split(load_text(a.text.split(",")))
    xtr, ytr = windows(train_ids, a.seq_len)
    xva, yva = windows(val_ids, a.seq_len)
    model = CharLM()
    if a.save_init:
        save_safetensors(a.save_init, dict(model.named_parameters()))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    rng = Rng(a.seed)
    step, loss_sum, loss_n, t0 = 0, 0.0, 0, time.process_time()
    while step < a.max_steps:
        order = torch.tensor(epoch_order(rng, len(xtr)))
        for at in range(0, len(order), a.batch):
            rows = order[at:at + a.batch]
            logits = model(xtr[rows])
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), ytr[rows].reshape(-1))
            opt.zero_grad()
            loss.backward()
            if a.clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip_norm)
            opt.step()
            loss_sum += loss.item() * rows.numel()
            loss_n += rows.numel()
            step += 1
            if step >= a.max_steps:
                break
    train_s = time.process_time() - t0
    val = evaluate(model, xva, yva)
    print(json.dumps({"event": "done", "torch": torch.__version__, "steps": step, "batch": a.batch,
                      "seq_len": a.seq_len, "train_windows": len(xtr), "val_chars": yva.numel(),
                      "train_bpc_mean": loss_sum / loss_n / math.log(2), "val_bpc": val / math.log(2),
                      "train_cpu_s": round(train_s, 1)}), flush=True)


if __name__ == "__main__":
    main()
