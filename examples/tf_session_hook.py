"""Graph-mode TensorFlow (tf.compat.v1 + MonitoredSession) with smdbg's SessionHook.

smdebug's example script with only its imports changed::

    python examples/tf_session_hook.py --debug_path /tmp/tf_trial --steps 20 --debug_frequency 5
"""

import argparse

import numpy as np
import tensorflow.compat.v1 as tf

import smdbg.tensorflow as smd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--debug_path", required=True)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--debug_frequency", type=int, default=5)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--scale", type=float, default=10.0)
    args = parser.parse_args()
    tf.disable_eager_execution()

    reduc = smd.ReductionConfig(reductions=["mean"], abs_reductions=["max"], norms=["l1"])
    hook = smd.SessionHook(
        out_dir=args.debug_path,
        include_collections=["weights", "gradients", "losses"],
        save_config=smd.SaveConfig(save_interval=args.debug_frequency),
        reduction_config=reduc,
    )
    with tf.name_scope("initialize"):
        x = tf.placeholder(shape=(None, 2), dtype=tf.float32)
        w = tf.Variable(initial_value=[[10.0], [10.0]], name="weight1")
        w0 = [[1], [1.0]]
    with tf.name_scope("multiply"):
        y = tf.matmul(x, w0)
        y_hat = tf.matmul(x, w)
    with tf.name_scope("loss"):
        loss = tf.reduce_mean((y_hat - y) ** 2, name="loss")
        hook.add_to_collection("losses", loss)
    optimizer = tf.train.AdamOptimizer(args.lr)
    optimizer = hook.wrap_optimizer(optimizer)
    optimizer_op = optimizer.minimize(loss)
    hook.set_mode(smd.modes.TRAIN)
    with tf.train.MonitoredSession(hooks=[hook]) as sess:
        for _ in range(args.steps):
            x_ = np.random.random((10, 2)) * args.scale
            _loss, _opt = sess.run([loss, optimizer_op], {x: x_})
    print(f"saved trial at {args.debug_path}")


if __name__ == "__main__":
    main()
