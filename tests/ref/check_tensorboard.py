#!/usr/bin/env python3
"""Read nabla train's --tensorboard event files with TensorBoard's own reader
and check every scalar against the run's metrics.jsonl.

    python3 tests/ref/check_tensorboard.py TB_DIR RUN_DIR

TB_DIR/train: batch_loss, learning_rate, grad_norm (the "log" events),
epoch_loss, epoch_accuracy, epoch_learning_rate (the "epoch" events' train_*
and lr); TB_DIR/val: epoch_loss, epoch_accuracy (val_*); TB_DIR/test: the
"done" event's test_loss and test_acc (with --val, the test set is evaluated
only at the end).  Steps are the events' "step".  Values are float32 in the
event files, so they must equal metrics.jsonl's to float32 precision.
Exits non-zero (after printing why) on any mismatch.  Used by
TEST(train, val_early_stop_tensorboard) in tests/test_tensorboard.c.
Needs `python3 -m pip install tensorboard`.
"""
import json
import os
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def scalars(path):
    ea = EventAccumulator(path, size_guidance={"scalars": 0})
    ea.Reload()
    return {tag: {e.step: e.value for e in ea.Scalars(tag)} for tag in ea.Tags()["scalars"]}


def main():
    tb, run = sys.argv[1], sys.argv[2]
    events = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    logs = [e for e in events if e["event"] == "log"]
    epochs = [e for e in events if e["event"] == "epoch"]
    done = [e for e in events if e["event"] == "done"][-1]
    want = {  # (folder, tag) -> {step: value}
        ("train", "batch_loss"): {e["step"]: e["loss"] for e in logs},
        ("train", "learning_rate"): {e["step"]: e["lr"] for e in logs},
        ("train", "grad_norm"): {e["step"]: e["grad_norm"] for e in logs},
        ("train", "epoch_loss"): {e["step"]: e["train_loss"] for e in epochs},
        ("train", "epoch_accuracy"): {e["step"]: e["train_acc"] for e in epochs},
        ("train", "epoch_learning_rate"): {e["step"]: e["lr"] for e in epochs},
        ("val", "epoch_loss"): {e["step"]: e["val_loss"] for e in epochs},
        ("val", "epoch_accuracy"): {e["step"]: e["val_acc"] for e in epochs},
        ("test", "epoch_loss"): {done["steps"]: done["test_loss"]},
        ("test", "epoch_accuracy"): {done["steps"]: done["test_acc"]},
    }
    got = {sub: scalars(os.path.join(tb, sub)) for sub in ("train", "val", "test")}
    bad, n = [], 0
    for (sub, tag), points in want.items():
        have = got[sub].get(tag, {})
        if sorted(have) != sorted(points):
            bad.append(f"{sub}/{tag}: steps {sorted(have)} in the event file, {sorted(points)} in metrics.jsonl")
            continue
        for step, v in points.items():
            n += 1
            if abs(have[step] - v) > 1e-6 * max(1.0, abs(v)):
                bad.append(f"{sub}/{tag} at step {step}: {have[step]!r} in the event file, {v!r} in metrics.jsonl")
    params = [t for t in got["train"] if t.startswith("grad_norm/")]
    if not params:
        bad.append("no per-parameter gradient norms (grad_norm/NAME) with --monitor")
    for line in bad:
        print(line)
    print(f"{n} scalars compared, {len(params)} per-parameter gradient-norm tags, {len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
