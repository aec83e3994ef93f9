"""The sampling job: a grid and numbered single PNGs from a trained run."""

import os
import sys

import gin

from tfgan_icr import images as image_io
from tfgan_icr import sampling
from tfgan_icr.training import callbacks as cb
from tfgan_icr.training.builder import restore_trained


@gin.configurable(denylist=["model_dir", "num_samples", "stream"])
def sample(model_dir, num_samples=0, use_ema=True, per_class=10, unconditional_count=64, seed=1,
           stream=None):
    """Write a sample grid (one row per class when conditional) and `num_samples` single PNGs
    from the latest checkpoint of `model_dir`."""
    stream = stream or sys.stdout
    gan, _ = restore_trained(model_dir)
    step = int(gan.global_step.numpy())
    net = gan.inference_generator(use_ema)
    tag = "ema" if net is gan.ema_generator else "g"
    z, labels, rows = cb.fixed_sample_inputs(gan.generator, seed, per_class, unconditional_count)
    out_dir = os.path.join(model_dir, "samples")
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
                                                 gan.generator.z_dim, gan.num_classes)
            images = image_io.to_uint8(net(z, labels, training=False).numpy())
            for i, image in enumerate(images):
                label = int(labels[i]) if gan.num_classes else None
                name = f"{start + i:06d}" + (f"_class{label}" if label is not None else "") + ".png"
                written.append(image_io.write_png(os.path.join(single_dir, name), image))
        print(f"wrote {len(written)} images to {single_dir}", file=stream)
    return {"grid": grid_path, "images": written, "step": step}
