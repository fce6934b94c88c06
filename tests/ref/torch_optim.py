#!/usr/bin/python3
"""Write tests/ref/torch_optim.txt: PyTorch's optimizer, LR-schedule and
gradient-clipping trajectories, which tests/test_optim.c replays.

    /usr/bin/python3 tests/ref/torch_optim.py [tests/ref/torch_optim.txt]

Needs torch (Debian's python3-torch, 1.13); no numpy.  The script forces
ATEN_CPU_CAPABILITY=default so that torch's CPU kernels are plain IEEE
operations (the AVX2 ones fuse a*b+c into one FMA), which makes the float64
trajectories reproducible to the last bit.

Every optimizer runs the single-tensor code path (foreach=False) on one
parameter vector P0 fed the gradient sequence G (given, not computed from a
loss).  Format, one record per line, numbers in shortest round-trip form:

    grads <steps> <n>               then <steps> lines of n gradients
    p0 <n> v...                     the initial parameters
    case <name> <f32|f64>           one trajectory:
    opt <kind> key=value...         optimizer settings (torch's names)
    sched <kind|none> key=value...  schedule (optional warm-up keys)
    s <t> <lr> <mom> v...           after step t: the lr and momentum (beta1
                                    for Adam/AdamW) the step used, then the
                                    parameters
    end
    clip <f32|f64> <n> <max_norm> <norm>   clip_grad_norm_ (norm before clipping)
    g v...                          the gradients before
    c v...                          and after clipping
"""
import math
import os
import sys

os.environ["ATEN_CPU_CAPABILITY"] = "default"
import warnings  # noqa: E402

import torch  # noqa: E402

warnings.filterwarnings("ignore")
torch.set_num_threads(1)

N = 10
STEPS = 60
P0 = [0.5, -1.25, 2.0, -0.0625, 3.5, -2.75, 0.001, -0.3, 1.7, 0.0]
SCALE = [1.0, 0.5, 2.0, 0.01, 5.0, 1e-3, 1.0, 0.2, 3.0, 1e-5]


def grad(t, i):
    """A deterministic gradient: mixed scales, sign changes, decaying
    elements (so AMSGrad's running max matters) and exact zeros."""
    if (7 * t + i) % 13 == 0:
        return 0.0
    g = SCALE[i] * math.sin(0.3 * (t + 1) * (i + 1) + 0.7 * i)
    g += 0.05 * (i - 4) * math.cos(0.11 * t * t)
    if i % 2 == 0:
        g *= math.exp(-0.04 * t)
    return g


G = [[grad(t, i) for i in range(N)] for t in range(STEPS)]

# ------------------------------------------------------------- optimizers
OPTS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
}

# (name, optimizer kind, optimizer kwargs, schedule kind or None, schedule kwargs)
CASES = [
    ("sgd_plain", "sgd", dict(lr=0.05), None, {}),
    ("sgd_momentum", "sgd", dict(lr=0.05, momentum=0.9), None, {}),
    ("sgd_dampening", "sgd", dict(lr=0.05, momentum=0.9, dampening=0.3), None, {}),
    ("sgd_nesterov", "sgd", dict(lr=0.05, momentum=0.8, nesterov=True), None, {}),
    ("sgd_weight_decay", "sgd", dict(lr=0.05, weight_decay=0.1), None, {}),
    ("sgd_all", "sgd", dict(lr=0.03, momentum=0.7, nesterov=True, weight_decay=0.05), None, {}),
    ("sgd_mom_wd_damp", "sgd", dict(lr=0.03, momentum=0.5, dampening=0.5, weight_decay=0.01), None, {}),
    ("sgd_maximize", "sgd", dict(lr=0.05, momentum=0.9, maximize=True), None, {}),
    ("adam_plain", "adam", dict(lr=0.01), None, {}),
    ("adam_betas_eps", "adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6), None, {}),
    ("adam_weight_decay", "adam", dict(lr=0.01, weight_decay=0.1), None, {}),
    ("adam_amsgrad", "adam", dict(lr=0.01, amsgrad=True), None, {}),
    ("adam_amsgrad_wd", "adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True), None, {}),
    ("adamw_plain", "adamw", dict(lr=0.01), None, {}),
    ("adamw_wd", "adamw", dict(lr=0.01, weight_decay=0.1, betas=(0.85, 0.995)), None, {}),
    ("adamw_amsgrad", "adamw", dict(lr=0.01, weight_decay=0.05, amsgrad=True), None, {}),
    ("rmsprop_plain", "rmsprop", dict(lr=0.01), None, {}),
    ("rmsprop_alpha_eps", "rmsprop", dict(lr=0.005, alpha=0.9, eps=1e-4), None, {}),
    ("rmsprop_momentum", "rmsprop", dict(lr=0.01, momentum=0.9), None, {}),
    ("rmsprop_centered", "rmsprop", dict(lr=0.01, centered=True), None, {}),
    ("rmsprop_weight_decay", "rmsprop", dict(lr=0.01, weight_decay=0.1), None, {}),
    ("rmsprop_all", "rmsprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.05), None, {}),
    # ---- schedules
    ("step_lr", "sgd", dict(lr=0.1, momentum=0.9), "step", dict(step_size=7, gamma=0.5)),
    ("step_lr_adam", "adam", dict(lr=0.03), "step", dict(step_size=10, gamma=0.3)),
    ("exponential_lr", "adam", dict(lr=0.02), "exponential", dict(gamma=0.95)),
    ("cosine_restart", "sgd", dict(lr=0.1), "cosine", dict(T_max=20, eta_min=0.001)),
    ("cosine_adamw", "adamw", dict(lr=0.01, weight_decay=0.1), "cosine", dict(T_max=60, eta_min=0.0)),
    ("linear_warmup", "sgd", dict(lr=0.1, momentum=0.9), "linear",
     dict(start_factor=0.25, end_factor=1.0, total_iters=10)),
    ("linear_decay", "rmsprop", dict(lr=0.01), "linear",
     dict(start_factor=1.0, end_factor=0.1, total_iters=40)),
    ("linear_default", "adam", dict(lr=0.01), "linear", {}),
    ("onecycle_adam", "adam", dict(lr=0.01), "onecycle", dict(max_lr=0.05, total_steps=STEPS)),
    ("onecycle_sgd", "sgd", dict(lr=0.01, momentum=0.9, nesterov=True), "onecycle",
     dict(max_lr=0.2, total_steps=STEPS)),
    ("onecycle_linear3", "sgd", dict(lr=0.01, momentum=0.9), "onecycle",
     dict(max_lr=0.2, total_steps=STEPS, pct_start=0.25, anneal_strategy="linear",
          three_phase=True, div_factor=10.0, final_div_factor=100.0,
          base_momentum=0.8, max_momentum=0.9)),
    ("onecycle_nomom", "rmsprop", dict(lr=0.01, momentum=0.5), "onecycle",
     dict(max_lr=0.02, total_steps=70, cycle_momentum=False, pct_start=0.4)),
    ("onecycle_rmsprop_mom", "rmsprop", dict(lr=0.01, momentum=0.9, centered=True), "onecycle",
     dict(max_lr=0.02, total_steps=STEPS, three_phase=True)),
    ("warmup_cosine", "adamw", dict(lr=0.01, weight_decay=0.05), "cosine",
     dict(T_max=55, eta_min=1e-4, warmup_iters=5, warmup_start_factor=0.1)),
    ("warmup_step", "sgd", dict(lr=0.1, momentum=0.9), "step",
     dict(step_size=10, gamma=0.5, warmup_iters=8, warmup_start_factor=0.2)),
    ("warmup_exponential", "adam", dict(lr=0.01), "exponential",
     dict(gamma=0.97, warmup_iters=3, warmup_start_factor=0.5)),
    ("warmup_linear", "sgd", dict(lr=0.1), "linear",
     dict(start_factor=1.0, end_factor=0.05, total_iters=30, warmup_iters=10,
          warmup_start_factor=0.01)),
]


def make_sched(opt, kind, kw):
    kw = dict(kw)
    wi = kw.pop("warmup_iters", 0)
    wsf = kw.pop("warmup_start_factor", None)
    S = torch.optim.lr_scheduler
    # The warm-up is built first, as a user would, then chained with SequentialLR.
    warm = S.LinearLR(opt, start_factor=wsf, end_factor=1.0, total_iters=wi) if wi else None
    if kind == "step":
        main = S.StepLR(opt, **kw)
    elif kind == "exponential":
        main = S.ExponentialLR(opt, **kw)
    elif kind == "cosine":
        main = S.CosineAnnealingLR(opt, **kw)
    elif kind == "linear":
        main = S.LinearLR(opt, **kw)
    elif kind == "onecycle":
        main = S.OneCycleLR(opt, **kw)
    else:
        raise ValueError(kind)
    if not wi:
        return main
    return S.SequentialLR(opt, [warm, main], milestones=[wi])


def fmt(v, dt):
    return "%.9g" % v if dt == torch.float32 else repr(float(v))


def kvs(d):
    out = []
    for k, v in d.items():
        if isinstance(v, tuple):  # betas
            out.append("beta1=%r" % float(v[0]))
            out.append("beta2=%r" % float(v[1]))
        elif isinstance(v, bool):
            out.append("%s=%d" % (k, int(v)))
        elif isinstance(v, str):
            out.append("%s=%s" % (k, v))
        else:
            out.append("%s=%r" % (k, v))
    return " ".join(out)


def momentum_of(group):
    if "betas" in group:
        return group["betas"][0]
    return group.get("momentum", 0.0)


def run_case(out, name, okind, okw, skind, skw, dt):
    steps = skw.get("total_steps", STEPS) if skind == "onecycle" else STEPS
    steps = min(steps, STEPS)
    p = torch.nn.Parameter(torch.tensor(P0, dtype=dt))
    opt = OPTS[okind]([p], foreach=False, **okw)
    sched = make_sched(opt, skind, skw) if skind else None
    out.append("case %s %s" % (name, "f32" if dt == torch.float32 else "f64"))
    out.append("opt %s %s" % (okind, kvs(okw)))
    out.append("sched %s %s" % (skind or "none", kvs(skw)))
    for t in range(steps):
        g = opt.param_groups[0]
        lr, mom = g["lr"], momentum_of(g)
        p.grad = torch.tensor(G[t], dtype=dt)
        opt.step()
        vals = " ".join(fmt(v, dt) for v in p.detach().tolist())
        out.append("s %d %r %r %s" % (t, float(lr), float(mom), vals))
        if sched:
            sched.step()
    out.append("end")


CLIPS = [
    # (seed row of G scaled, max_norm)
    (3, 1.0, 0.5),
    (5, 100.0, 1.0),    # norm below max_norm: untouched
    (8, 0.25, 2.0),
    (13, 1e3, 1e-3),
]


def run_clip(out, row, scale, max_norm, dt):
    g = torch.tensor([x * scale for x in G[row]], dtype=dt)
    p = torch.nn.Parameter(torch.zeros(N, dtype=dt))
    p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_([p], max_norm)
    out.append("clip %s %d %r %r" % ("f32" if dt == torch.float32 else "f64", N,
                                      float(max_norm), float(total)))
    out.append("g " + " ".join(fmt(v, dt) for v in g.tolist()))
    out.append("c " + " ".join(fmt(v, dt) for v in p.grad.tolist()))


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "torch_optim.txt")
    out = ["# torch_optim.txt: written by tests/ref/torch_optim.py with torch %s"
           " (ATEN_CPU_CAPABILITY=default, foreach=False); do not edit" % torch.__version__]
    out.append("grads %d %d" % (STEPS, N))
    for row in G:
        out.append(" ".join(repr(v) for v in row))
    out.append("p0 %d %s" % (N, " ".join(repr(v) for v in P0)))
    for dt in (torch.float64, torch.float32):
        for c in CASES:
            run_case(out, *c, dt)
    for dt in (torch.float64, torch.float32):
        for c in CLIPS:
            run_clip(out, *c, dt)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
