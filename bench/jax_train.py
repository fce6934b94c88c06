#!/usr/bin/env python3
"""bench/torch_train.py's loop in JAX, for `make bench`: Adam lr 1e-3 after
clip-by-global-norm 1 (optax.chain), cross-entropy, shuffled Fashion-MNIST
normalised with mean 0.2860 / std 0.3530, float32 on the CPU. Runs in
bench/.venv (jax[cpu] and optax from PyPI):

    bench/.venv/bin/python bench/jax_train.py [--epochs N] [--data DIR]
        [--model M] [--batch B] [--max-steps N] [--warmup N]

--model as bench/torch_train.py's: "mlp:784-128-10" (or "784-128-10"),
"cnn" or "lstm". Threads: XLA's CPU client ignores its single-thread flags,
so bench/bench.py pins the process with `taskset -c 0` for one thread.

What the timer covers (the same region as bench/torch_train.py's and as
`nabla train`'s train_samples_per_s): the update steps only. The whole step
-- batch slice, forward, loss, backward, clip, Adam -- is one jax.jit
function that donates the parameters and the optimizer state; it takes its
batch in order, by lax.dynamic_slice, from the float32 training set already
on the device and shuffled before each epoch (outside the clock). One clock
runs around each epoch's steps and stops after jax.block_until_ready on the
parameters, so all dispatched work is in. Not in it: reading and normalising
the data, the shuffles and their transfer, the initialisation, the --warmup
steps (the first call compiles; they are neither timed nor counted) and the
evaluation.

Prints one JSON line per epoch and a final {"event":"done",...} line with
test_acc, test_loss and train_samples_per_s (timed steps only)."""
import argparse
import gzip
import json
import os
import struct
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax


def read_idx(path):
    with gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(d, stem):
    for name in (stem + ".gz", stem):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise SystemExit("missing %s in %s" % (stem, d))


# ------------------------------------------------------------------ models
# Each builder takes the part of --model after "name:" and a PRNG key and
# returns (params, apply, sample shape): apply(params, x) gives the logits.
# Parameters start as PyTorch's defaults do (uniform +-1/sqrt(fan_in)).
# Add a model here and in bench/torch_train.py's MODELS under the same name.
def uniform(key, shape, fan_in):
    b = 1.0 / np.sqrt(fan_in)
    return jax.random.uniform(key, shape, jnp.float32, -b, b)


def linear(key, n_in, n_out):
    k1, k2 = jax.random.split(key)
    return {"w": uniform(k1, (n_in, n_out), n_in), "b": uniform(k2, (n_out,), n_in)}


def mlp(arg, key):
    """mlp:784-128-10: dense layers of these widths, ReLU between them."""
    widths = [int(w) for w in arg.split("-")]
    keys = jax.random.split(key, len(widths) - 1)
    params = [linear(keys[i], widths[i], widths[i + 1]) for i in range(len(widths) - 1)]

    def apply(p, x):  # x: [N, 784]
        for i, l in enumerate(p):
            if i:
                x = jax.nn.relu(x)
            x = x @ l["w"] + l["b"]
        return x

    return params, apply, (widths[0],)


def cnn(arg, key):
    """cnn: conv2d(32,k3,p1) relu maxpool2 conv2d(64,k3,p1) relu maxpool2
    flatten linear(128) relu linear(10), on [N,1,28,28] (NCHW, OIHW)."""
    k = jax.random.split(key, 6)
    params = {"c1": {"w": uniform(k[0], (32, 1, 3, 3), 9), "b": uniform(k[1], (32,), 9)},
              "c2": {"w": uniform(k[2], (64, 32, 3, 3), 288), "b": uniform(k[3], (64,), 288)},
              "f1": linear(k[4], 64 * 7 * 7, 128), "f2": linear(k[5], 128, 10)}

    def conv_relu_pool(c, x):
        x = jax.lax.conv_general_dilated(x, c["w"], (1, 1), ((1, 1), (1, 1)))
        x = jax.nn.relu(x + c["b"][None, :, None, None])
        return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def apply(p, x):  # x: [N, 1, 28, 28]
        x = conv_relu_pool(p["c2"], conv_relu_pool(p["c1"], x)).reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ p["f1"]["w"] + p["f1"]["b"])
        return x @ p["f2"]["w"] + p["f2"]["b"]

    return params, apply, (1, 28, 28)


def lstm(arg, key, n_in=28, n_h=128):
    """lstm: LSTM(28 -> 128) reading the 28 rows as steps (lax.scan), gates
    i, f, g, o as PyTorch orders them; its last output -> dense(10)."""
    k = jax.random.split(key, 5)
    params = {"wi": uniform(k[0], (n_in, 4 * n_h), n_h), "wh": uniform(k[1], (n_h, 4 * n_h), n_h),
              "b": uniform(k[2], (4 * n_h,), n_h) + uniform(k[3], (4 * n_h,), n_h), "out": linear(k[4], n_h, 10)}

    def apply(p, x):  # x: [N, 28 steps, 28]
        def cell(carry, xt):
            h, c = carry
            z = xt @ p["wi"] + h @ p["wh"] + p["b"]
            i, f, g, o = jnp.split(z, 4, axis=1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None

        zero = jnp.zeros((x.shape[0], n_h), x.dtype)
        (h, _), _ = jax.lax.scan(cell, (zero, zero), jnp.swapaxes(x, 0, 1))
        return h @ p["out"]["w"] + p["out"]["b"]

    return params, apply, (28, 28)


MODELS = {"mlp": mlp, "cnn": cnn, "lstm": lstm}


def build(spec, key):
    name, _, arg = spec.partition(":")
    if name[:1].isdigit():  # "784-128-10": an MLP, as nabla writes it
        name, arg = "mlp", spec
    if name not in MODELS:
        raise SystemExit("unknown model %r (known: %s)" % (spec, ", ".join(sorted(MODELS))))
    return MODELS[name](arg, key)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", default="mlp:784-128-10")
    ap.add_argument("--max-steps", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (the first compiles)")
    ap.add_argument("--data", default=os.environ.get("NABLA_DATA", "/usr/share/datasets/fashion-mnist"))
    a = ap.parse_args()
    params, apply, shape = build(a.model, jax.random.PRNGKey(a.seed))
    norm = lambda x: ((x.astype(np.float32) / 255.0 - 0.2860) / 0.3530).reshape((x.shape[0],) + shape)
    xtr = norm(read_idx(find(a.data, "train-images-idx3-ubyte")))
    ytr = read_idx(find(a.data, "train-labels-idx1-ubyte")).astype(np.int32)
    xte = jnp.asarray(norm(read_idx(find(a.data, "t10k-images-idx3-ubyte"))))
    yte = jnp.asarray(read_idx(find(a.data, "t10k-labels-idx1-ubyte")).astype(np.int32))
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    opt_state = tx.init(params)
    B = a.batch

    def loss_fn(p, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(apply(p, x), y).mean()

    def step(p, s, xs, ys, i):
        x = jax.lax.dynamic_slice_in_dim(xs, i * B, B)
        y = jax.lax.dynamic_slice_in_dim(ys, i * B, B)
        grads = jax.grad(loss_fn)(p, x, y)
        updates, s = tx.update(grads, s, p)
        return optax.apply_updates(p, updates), s

    step = jax.jit(step, donate_argnums=(0, 1))
    evaluate = jax.jit(lambda p, x, y: (loss_fn(p, x, y), (apply(p, x).argmax(1) == y).mean()))
    nb = xtr.shape[0] // B  # full batches only: one shape, one compilation
    rng = np.random.RandomState(a.seed)
    xs, ys = jnp.asarray(xtr), jnp.asarray(ytr)
    for i in range(a.warmup):
        params, opt_state = step(params, opt_state, xs, ys, i % nb)
    jax.block_until_ready(params)
    train_time, samples, steps = 0.0, 0, 0
    acc = tl = None
    for epoch in range(a.epochs):
        perm = rng.permutation(xtr.shape[0])
        xs, ys = jax.block_until_ready((jnp.asarray(xtr[perm]), jnp.asarray(ytr[perm])))
        t0 = time.perf_counter()
        for i in range(nb):
            params, opt_state = step(params, opt_state, xs, ys, i)
            samples += B
            steps += 1
            if steps == a.max_steps:
                break
        jax.block_until_ready(params)
        train_time += time.perf_counter() - t0
        if steps == a.max_steps:
            break
        tl, acc = (float(v) for v in evaluate(params, xte, yte))
        print(json.dumps({"event": "epoch", "epoch": epoch + 1, "test_loss": tl, "test_acc": acc}), flush=True)
    print(json.dumps({"event": "done", "test_acc": acc, "test_loss": tl,
                      "train_samples_per_s": samples / train_time, "threads": len(os.sched_getaffinity(0)),
                      "steps": steps, "version": "jax " + jax.__version__}))


if __name__ == "__main__":
    main()
