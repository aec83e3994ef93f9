"""The evaluation job: FID/KID (IS with logits) of a trained run's generator."""

import os
import sys

import gin
import tensorflow as tf

from tfgan_icr.training.builder import restore_trained


@gin.configurable(denylist=["model_dir", "num_samples", "stream"])
def evaluate(model_dir, num_samples=None, use_ema=True, stream=None):
    """FID and KID (IS when the network has logits) of the latest checkpoint's generator
    (the EMA generator when there is one), against `Evaluator.reference_source`; the results
    go to metrics.jsonl, TensorBoard and the console."""
    from tfgan_icr.eval.evaluator import Evaluator, log_results
    stream = stream or sys.stdout
    evaluator = Evaluator(stream=stream)  # config errors before the (slow) restore
    gan, _ = restore_trained(model_dir)
    net = gan.inference_generator(use_ema)
    step = int(gan.global_step.numpy())
    results = evaluator(net, num_samples)
    results["generator"] = "ema" if net is gan.ema_generator else "g"
    writer = tf.summary.create_file_writer(os.path.join(model_dir, "tensorboard"))
    log_results(model_dir, step, results, writer=writer, stream=stream)
    return results
