"""The sampling job: a grid and numbered single PNGs from a trained run."""

import os
import sys

import gin
import tensorflow as tf

from tfgan_icr import images as image_io
from tfgan_icr import sampling
from tfgan_icr.errors import RunDirError, first_line
from tfgan_icr.training import callbacks as cb
from tfgan_icr.training.builder import restore_trained


@gin.configurable(denylist=["model_dir", "num_samples", "stream", "output_dir", "checkpoint"])
def sample(model_dir, num_samples=0, use_ema=True, per_class=10, unconditional_count=64, seed=1,
           stream=None, output_dir=None, checkpoint=None):
    """Write a sample grid (one row per class when conditional) and `num_samples` single PNGs
    from the latest checkpoint of `model_dir` (or `checkpoint`, see `restore_trained`), into `output_dir` (default model_dir/samples),
    with the z truncation and standing statistics of gin `inference.*`.
    Nothing else in model_dir is written."""
    stream = stream or sys.stdout
    gan, _ = restore_trained(model_dir, checkpoint)
    try:
        return _write_samples(gan, output_dir or os.path.join(model_dir, "samples"), num_samples,
                              use_ema, per_class, unconditional_count, seed, stream)
    except (OSError, tf.errors.OpError) as error:
        reason = error.strerror if isinstance(error, OSError) else first_line(error)
        raise RunDirError(f"cannot write the samples to {output_dir or os.path.join(model_dir, 'samples')}: "
                          f"{reason}: pass --output_dir=DIR to write them elsewhere") from None


def _write_samples(gan, out_dir, num_samples, use_ema, per_class, unconditional_count, seed, stream):
    with gan.inference(use_ema) as (net, truncation):
        return _write_images(gan, net, truncation, out_dir, num_samples, per_class, unconditional_count, seed,
                             stream)


def _write_images(gan, net, truncation, out_dir, num_samples, per_class, unconditional_count, seed, stream):
    step = int(gan.global_step.numpy())
    tag = ("ema" if net is gan.ema_generator else "g") + (f"_trunc{truncation:g}" if truncation else "")
    z, labels, rows = cb.fixed_sample_inputs(gan.generator, seed, per_class, unconditional_count, truncation)
    grid_path = image_io.write_grid(os.path.join(out_dir, f"sample_step_{step:07d}_{tag}.png"),
                                    net(z, labels, training=False).numpy(), rows=rows)
    print(f"wrote {grid_path}", file=stream)
    written = []
    if num_samples:
        single_dir = os.path.join(out_dir, f"individual_step_{step:07d}_{tag}")
        batch = 100
        for start in range(0, num_samples, batch):
            n = min(batch, num_samples - start)
            z, labels = sampling.numbered_inputs(seed, sampling.SALTS["exported_samples"], start, n,
                                                 gan.generator.z_dim, gan.num_classes, truncation)
            images = image_io.to_uint8(net(z, labels, training=False).numpy())
            for i, image in enumerate(images):
                label = int(labels[i]) if gan.num_classes else None
                name = f"{start + i:06d}" + (f"_class{label}" if label is not None else "") + ".png"
                written.append(image_io.write_png(os.path.join(single_dir, name), image))
        print(f"wrote {len(written)} images to {single_dir}", file=stream)
    return {"grid": grid_path, "images": written, "step": step}
