"""The export job: a trained run's (EMA) generator as a SavedModel for TensorFlow Serving."""

import sys

import gin
import tensorflow as tf

from tfgan_icr.errors import RunDirError, first_line
from tfgan_icr.export import export_generator
from tfgan_icr.training.builder import restore_trained


@gin.configurable(denylist=["model_dir", "export_dir", "version", "config_name", "stream", "checkpoint"])
def export(model_dir, export_dir, version=None, use_ema=True, config_name=None, stream=None, checkpoint=None):
    """Export the latest checkpoint of `model_dir` (or `checkpoint`, see `restore_trained`) as
    `export_dir/<version>/` (see
    tfgan_icr.export), with the standing statistics and `sample` truncation of gin `inference.*`.
    Nothing is written when the run has no checkpoint."""
    stream = stream or sys.stdout
    gan, _ = restore_trained(model_dir, checkpoint)
    try:
        with gan.inference(use_ema) as (net, truncation):
            path = export_generator(gan, export_dir, version=version, use_ema=use_ema, model_dir=model_dir,
                                    config_name=config_name, net=net, sample_truncation=truncation)
    except (OSError, tf.errors.OpError) as error:
        reason = error.strerror if isinstance(error, OSError) else first_line(error)
        raise RunDirError(f"cannot write the export to {export_dir}: {reason}: pass another --export_dir") from None
    print(f"exported step {int(gan.global_step.numpy())} to {path}", file=stream)
    return path
