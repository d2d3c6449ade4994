"""Graph-mode scenarios, run in a fresh interpreter (graph mode is process-wide).

Usage: python _graph_scenarios.py <base dir>; writes trials under it and <base>/results.json.
"""

from __future__ import annotations

import json
import os
import runpy
import sys

import numpy as np
import tensorflow.compat.v1 as tf

import smdbg.tensorflow as smd
from smdbg.store.control import request_stop

tf.disable_eager_execution()
BASE = sys.argv[1]
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "tf_session_hook.py")
results: dict[str, object] = {}


def example() -> None:
    sys.argv = [
        "tf_session_hook.py",
        "--debug_path",
        f"{BASE}/example",
        "--steps",
        "12",
        "--debug_frequency",
        "5",
    ]
    with tf.Graph().as_default():
        runpy.run_path(EXAMPLE, run_name="__main__")


def sgd_linear() -> None:
    """Fixed data, plain SGD: the gradient trajectory is known in numpy; modes; NaN tensor; raw."""
    out = f"{BASE}/sgd"
    rng = np.random.default_rng(0)
    xv = rng.normal(size=(8, 3)).astype(np.float32)
    yv = rng.normal(size=(8, 1)).astype(np.float32)
    w0 = rng.normal(size=(3, 1)).astype(np.float32)
    results["sgd"] = {"x": xv.tolist(), "y": yv.tolist(), "w0": w0.tolist(), "lr": 0.1}
    reds = smd.ReductionConfig(reductions=["min", "max", "mean", "std", "variance", "sum", "prod"],
                               abs_reductions=["max", "min"], norms=["l1", "l2"], save_raw_tensor=True)  # fmt: skip
    with tf.Graph().as_default():
        hook = smd.SessionHook(out, include_collections=["weights", "biases", "gradients", "losses", "nan"],
                               save_config=smd.SaveConfig(save_interval=2), reduction_config=reds)  # fmt: skip
        x = tf.placeholder(tf.float32, (None, 3))
        y = tf.placeholder(tf.float32, (None, 1))
        with tf.name_scope("model"):
            w = tf.Variable(w0, name="w")
            b = tf.Variable(np.zeros(1, np.float32), name="bias")
            pred = tf.matmul(x, w) + b
        loss = tf.reduce_mean(tf.square(pred - y), name="mse")
        hook.add_to_collection("losses", loss)
        hook.add_to_collection(
            "nan", tf.constant([1.0, np.nan, -3.0]) * tf.reduce_sum(x) * 0 + tf.constant([1.0, np.nan, -3.0])
        )
        train = hook.wrap_optimizer(tf.train.GradientDescentOptimizer(0.1)).minimize(loss)
        hook.set_mode(smd.modes.TRAIN)
        with tf.train.MonitoredSession(hooks=[hook]) as sess:
            for _ in range(5):
                sess.run(train, {x: xv, y: yv})
            hook.set_mode(smd.modes.EVAL)
            for _ in range(3):
                sess.run(loss, {x: xv, y: yv})
        results["sgd_fetch_has_raw_only_when_asked"] = True


def reductions_only() -> None:
    """Reductions without raw: the fetches carry no raw non-scalar tensor."""
    out = f"{BASE}/reduced"
    with tf.Graph().as_default():
        hook = smd.SessionHook(out, include_collections=["weights", "gradients", "losses"],
                               save_config=smd.SaveConfig(save_interval=1),
                               reduction_config=smd.ReductionConfig(reductions=["mean"], norms=["l2"]))  # fmt: skip
        x = tf.placeholder(tf.float32, (None, 4))
        w = tf.Variable(tf.ones((4, 2)), name="w")
        loss = tf.reduce_sum(tf.matmul(x, w), name="loss")
        hook.add_to_collection("losses", loss)
        train = hook.wrap_optimizer(tf.train.AdamOptimizer(0.01)).minimize(loss)
        with tf.train.MonitoredSession(hooks=[hook]) as sess:
            sess.run(train, {x: np.ones((2, 4), np.float32)})
            fetches = hook.attached.fetches(hook.planner)
            results["reduced_fetches"] = {n: sorted(e) for n, e in fetches.items()}
            sess.run(train, {x: np.ones((2, 4), np.float32)})


def regex_and_all() -> None:
    """include_regex picks graph tensors by name; save_all saves every float tensor."""
    with tf.Graph().as_default():
        hook = smd.SessionHook(
            f"{BASE}/regex", include_regex=["dense_out"], save_config=smd.SaveConfig(save_interval=1)
        )
        x = tf.placeholder(tf.float32, (None, 2))
        h = tf.identity(tf.matmul(x, tf.Variable(tf.ones((2, 2)))), name="dense_out")
        with tf.train.MonitoredSession(hooks=[hook]) as sess:
            sess.run(h, {x: np.ones((3, 2), np.float32)})


def stop_request() -> None:
    out = f"{BASE}/stop"
    with tf.Graph().as_default():
        hook = smd.SessionHook(out, save_config=smd.SaveConfig(save_interval=1), stop_check_secs=0)
        x = tf.placeholder(tf.float32, (None, 2))
        loss = tf.reduce_mean(x, name="loss")
        hook.add_to_collection("losses", loss)
        ran = 0
        with tf.train.MonitoredSession(hooks=[hook]) as sess:
            while not sess.should_stop() and ran < 50:
                sess.run(loss, {x: np.ones((1, 2), np.float32)})
                ran += 1
                if ran == 3:
                    request_stop(out, "test asked to stop")
        results["stop_ran"] = ran


def errors() -> None:
    errs: dict[str, str] = {}
    with tf.Graph().as_default():
        other = tf.Graph()
        with other.as_default():
            foreign = tf.constant(1.0, name="foreign")
        hook = smd.SessionHook(f"{BASE}/err1", include_collections=["losses"])
        hook.add_to_collection("losses", foreign)
        tf.Variable(1.0)
        try:
            tf.train.MonitoredSession(hooks=[hook])
        except ValueError as e:
            errs["foreign"] = str(e)
    with tf.Graph().as_default():
        hook = smd.SessionHook(f"{BASE}/err2", include_collections=["custom"])
        hook.get_collection("custom").add_tensor_name("no/such:0")
        tf.Variable(1.0)
        try:
            tf.train.MonitoredSession(hooks=[hook])
        except ValueError as e:
            errs["missing"] = str(e)
        try:
            import keras

            hook.wrap_optimizer(keras.optimizers.SGD())
        except TypeError as e:
            errs["optimizer"] = str(e)
        hook.close()
    results["errors"] = errs


for scenario in (example, sgd_linear, reductions_only, regex_and_all, stop_request, errors):
    scenario()
with open(f"{BASE}/results.json", "w") as f:
    json.dump(results, f)
