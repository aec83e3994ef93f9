"""The evaluation job: FID/KID (IS with logits) of a trained run's generator."""

import os
import sys

import gin
import tensorflow as tf

from tfgan_icr.errors import RunDirError, first_line
from tfgan_icr.training.builder import restore_trained


@gin.configurable(denylist=["model_dir", "num_samples", "stream", "output_dir", "checkpoint"])
def evaluate(model_dir, num_samples=None, use_ema=True, stream=None, output_dir=None, checkpoint=None):
    """FID and KID (IS when the network has logits) of the latest checkpoint's generator
    (the EMA generator when there is one; z truncation and standing statistics as gin
    `inference.*` says; `checkpoint`: another step's, see `restore_trained`), against
    `Evaluator.reference_source`; the results
    go to metrics.jsonl, TensorBoard (under `output_dir`, default model_dir) and the console."""
    from tfgan_icr.eval.evaluator import Evaluator, log_results
    stream = stream or sys.stdout
    evaluator = Evaluator(stream=stream)  # config errors before the (slow) restore
    gan, _ = restore_trained(model_dir, checkpoint)
    step = int(gan.global_step.numpy())
    with gan.inference(use_ema) as (net, truncation):
        results = evaluator(net, num_samples, truncation=truncation)
    results["generator"] = "ema" if net is gan.ema_generator else "g"
    out = output_dir or model_dir
    try:
        os.makedirs(out, exist_ok=True)
        writer = tf.summary.create_file_writer(os.path.join(out, "tensorboard"))
        log_results(out, step, results, writer=writer, stream=stream)
    except (OSError, tf.errors.OpError) as error:
        reason = error.strerror if isinstance(error, OSError) else first_line(error)
        raise RunDirError(f"cannot write the results to {out}: {reason}: pass --output_dir=DIR "
                          f"to write them elsewhere") from None
    return results
