"""Discriminator monitors of the ContraGAN paper (Kang & Park 2020, Sec. 4-5): does D
over-fit its training images, and how large do its weights' singular values grow?

`DiscriminatorMonitor`, every ``every`` iterations, logs to the run's ``metrics.jsonl``
(records ``{"step": ..., "monitor": "discriminator", ...}``) and to TensorBoard:

* ``d_accuracy_train`` / ``d_accuracy_heldout``: the fraction of a fixed set of ``count``
  real images that D calls real (logit > 0: sigmoid(logit) > 0.5, the decision of every
  adversarial loss here) from the training source and from a held-out source (its test
  split), and ``d_accuracy_gap`` = train - held-out. Without a held-out source the monitor
  says so once and logs the train accuracy only.
* ``sigma_max/<variable path>``: the largest singular value of each spectrally normalised
  layer's RAW kernel (reshaped to [fan_in, out] as the layer normalises it), exact (an SVD)
  for kernels of at most ``exact_max_elements`` entries, else the layer's power-iteration
  estimate from its stored u; and ``sigma_max`` = the largest of them.

It runs D in inference mode (no batch-norm or u updates), so training is unchanged.
Configure with ``discriminator_monitor.every`` (0: off, the default) and ``.count``.
"""

import json
import os
import sys

import gin
import keras
import numpy as np
import tensorflow as tf

from tfgan_icr.data.pipeline import make_dataset
from tfgan_icr.layers.spectral_norm import _SpectralNormLayer
from tfgan_icr.training.variables import named_variables

__all__ = ["DiscriminatorMonitor", "discriminator_monitor", "real_accuracy",
           "spectral_norms"]


def real_accuracy(discriminator, images, labels, batch_size=64):
    """Fraction of ``images`` with D(x) > 0 (inference mode), in chunks of ``batch_size``."""
    hits = 0
    for start in range(0, len(images), batch_size):
        output = discriminator(images[start:start + batch_size], labels[start:start + batch_size],
                               training=False)
        logits = getattr(output, "logits", output)
        hits += int(np.sum(np.asarray(logits) > 0))
    return hits / len(images)


def spectral_norms(network, exact_max_elements=1 << 20):
    """``{variable path: largest singular value}`` of the raw kernel of every spectrally
    normalised layer of ``network``: an exact SVD for kernels of at most
    ``exact_max_elements`` entries, else the layer's stored power-iteration estimate."""
    paths = {id(v): path for path, v in named_variables(network).items()}
    sigmas = {}
    for layer in network._flatten_layers(include_self=False):
        if not isinstance(layer, _SpectralNormLayer) or not layer.built:
            continue
        kernel = layer._sn_kernel_variable()
        if int(np.prod(kernel.shape)) <= exact_max_elements:
            matrix = np.asarray(layer._kernel_matrix(kernel), np.float64)
            sigma = float(np.linalg.svd(matrix, compute_uv=False)[0])
        else:
            sigma = float(layer.sigma())
        sigmas[paths.get(id(kernel), kernel.path)] = sigma
    return dict(sorted(sigmas.items()))


def _fixed_images(source, count, image_size, channels):
    """The first ``count`` images (unshuffled) of ``source`` and their labels, as numpy."""
    dataset = make_dataset(source, batch_size=count, image_size=image_size, channels=channels,
                           shuffle=False, repeat=False, drop_remainder=False)
    images, labels = next(iter(dataset))
    return images.numpy(), labels.numpy().astype(np.int32)


class DiscriminatorMonitor(keras.callbacks.Callback):
    """D's real-image accuracy on training vs held-out images, and its weights' largest
    singular values, every ``every`` iterations (see the module docstring)."""

    def __init__(self, model_dir, train_source, heldout_source=None, every=1000, count=256,
                 exact_max_elements=1 << 20, writer=None, stream=None, guard=None):
        super().__init__()
        if int(every) < 1 or int(count) < 1:
            raise ValueError(f"DiscriminatorMonitor needs every >= 1 and count >= 1, got "
                             f"every={every}, count={count}")
        self.path = os.path.join(model_dir, "metrics.jsonl")
        self.train_source = train_source
        self.heldout_source = heldout_source
        self.every = int(every)
        self.count = int(count)
        self.exact_max_elements = int(exact_max_elements)
        self.writer = writer
        self.stream = stream or sys.stdout
        self.guard = guard
        self._sets = None

    def _image_sets(self):
        if self._sets is None:
            d = self.model.discriminator
            shape = dict(image_size=d.image_size, channels=d.channels)
            self._sets = {"train": _fixed_images(self.train_source, self.count, **shape)}
            if self.heldout_source is None:
                print("discriminator monitor: no held-out source (discriminator_monitor."
                      "heldout_source), so only d_accuracy_train is logged",
                      file=self.stream, flush=True)
            else:
                self._sets["heldout"] = _fixed_images(self.heldout_source, self.count, **shape)
        return self._sets

    def measure(self):
        """The monitor's values now: ``{name: float}``."""
        d = self.model.discriminator
        values = {f"d_accuracy_{name}": real_accuracy(d, images, labels)
                  for name, (images, labels) in self._image_sets().items()}
        if "d_accuracy_heldout" in values:
            values["d_accuracy_gap"] = values["d_accuracy_train"] - values["d_accuracy_heldout"]
        sigmas = spectral_norms(d, self.exact_max_elements)
        values.update({f"sigma_max/{path}": sigma for path, sigma in sigmas.items()})
        if sigmas:
            values["sigma_max"] = max(sigmas.values())
        return values

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.global_step.numpy())
        if (self.guard is not None and self.guard.failure) or step % self.every:
            return
        self.write(step, self.measure())

    def write(self, step, values):
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, "monitor": "discriminator", **values}) + "\n")
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for key, value in values.items():
                    tf.summary.scalar(key, value)


@gin.configurable(denylist=["model_dir", "train_source", "writer", "stream", "guard"])
def discriminator_monitor(model_dir, train_source, heldout_source=None, every=0, count=256,
                          exact_max_elements=1 << 20, writer=None, stream=None, guard=None):
    """The `DiscriminatorMonitor` callback of a run, or None when ``every`` is 0 (the default).

    heldout_source: real images D never trains on (e.g. ``@heldout/tfds_dataset()`` with
    ``heldout/tfds_dataset.split = "test"``); count: images of each set."""
    if not every:
        return None
    return DiscriminatorMonitor(model_dir, train_source, heldout_source, every=every,
                                count=count, exact_max_elements=exact_max_elements,
                                writer=writer, stream=stream, guard=guard)
