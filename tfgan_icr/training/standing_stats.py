"""Standing statistics (BigGAN-PyTorch's `accumulate_standing_stats`): before sampling, the
generator's batch-norm moving averages, which lag behind the weights (and, for the EMA
generator, are averages of G's statistics rather than its own), are replaced by the average
batch statistics of many forward passes of the sampling generator itself.

`standing_statistics` is a context manager: inside it the generator's batch norms use the
standing statistics; on exit every non-trainable variable is as before (training and
checkpoints never see the re-estimated values, so a run's resume is unaffected).
"""

import contextlib

import tensorflow as tf

from tfgan_icr import sampling
from tfgan_icr.layers import BatchNorm


def batch_norms(network):
    """Every `BatchNorm` layer of `network` (those inside conditional batch norms included)."""
    return [layer for layer in network._flatten_layers(include_self=False) if isinstance(layer, BatchNorm)]


@contextlib.contextmanager
def standing_statistics(generator, num_batches=16, batch_size=64, seed=0, truncation=None):
    """Yield `generator` with its batch norms' moving statistics set to the mean batch
    statistics of `num_batches` training-mode passes of `batch_size` samples (z truncated at
    `truncation`; classes uniform), restoring all its non-trainable state afterwards.

    The moving average with momentum i / (i + 1) at pass i is the running mean of the batch
    means and (biased) variances, the cumulative average BigGAN-PyTorch uses."""
    norms = batch_norms(generator)
    saved = [(v, tf.identity(v)) for v in generator.non_trainable_variables]
    if not norms or num_batches < 1:
        yield generator
        return
    momenta = [layer.momentum for layer in norms]
    try:
        for i in range(num_batches):
            for layer in norms:
                layer.momentum = i / (i + 1.0)
            z, labels = sampling.numbered_inputs(seed, sampling.SALTS["standing_statistics"], i * batch_size,
                                                 batch_size, generator.z_dim, generator.num_classes,
                                                 truncation=truncation)
            if generator.num_classes:
                labels = tf.random.stateless_uniform([batch_size], seed=[seed, sampling.SALTS["standing_statistics"] + i],
                                                     maxval=generator.num_classes, dtype=tf.int32)
            generator(z, labels, training=True)
        standing = [(v, tf.identity(v)) for layer in norms for v in (layer.moving_mean, layer.moving_variance)]
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
        for variable, value in saved:  # e.g. spectral-norm vectors, advanced by the passes
            variable.assign(value)
        for variable, value in standing:
            variable.assign(value)
        yield generator
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
        for variable, value in saved:
            variable.assign(value)
