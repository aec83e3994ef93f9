"""Standing statistics: inside the context the generator's batch norms hold the mean batch
statistics of its own training-mode passes; outside, every non-trainable variable is back."""

import keras
import numpy as np
import tensorflow as tf

from tfgan_icr import sampling
from tfgan_icr.layers import BatchNorm, ConditionalBatchNorm, SNDense
from tfgan_icr.training.standing_stats import batch_norms, standing_statistics


class BNGenerator(keras.Model):
    z_dim, num_classes = 3, 2

    def __init__(self):
        super().__init__()
        self.dense = SNDense(4)
        self.norm = BatchNorm(momentum=0.9)
        self.cbn = ConditionalBatchNorm(momentum=0.9)

    def call(self, z, labels=None, training=False):
        h = self.norm(self.dense(z, training=training), training=training)
        return self.cbn(h, tf.one_hot(labels, 2), training=training)


def make():
    keras.utils.set_random_seed(0)
    g = BNGenerator()
    g(tf.zeros([2, 3]), tf.zeros([2], tf.int32), training=True)
    return g


def test_standing_statistics_are_the_mean_batch_statistics_and_everything_is_restored():
    g = make()
    assert len(batch_norms(g)) == 2  # the plain one and the one inside the conditional BN
    before = [v.numpy().copy() for v in g.non_trainable_variables]
    # The expected means: the same passes by hand (each advancing the spectral-norm vector, as
    # inside the context), then the state put back.
    u = g.dense.non_trainable_variables[0]
    means = []
    for i in range(3):
        z, _ = sampling.numbered_inputs(5, sampling.SALTS["standing_statistics"], i * 8, 8, 3, 2)
        h = g.dense(z, training=True)
        means.append(tf.reduce_mean(h, axis=0).numpy())
    for v, value in zip(g.non_trainable_variables, before):
        v.assign(value)
    with standing_statistics(g, num_batches=3, batch_size=8, seed=5) as net:
        assert net is g
        np.testing.assert_allclose(g.norm.moving_mean.numpy(), np.mean(means, axis=0), rtol=1e-5, atol=1e-6)
        assert not np.allclose(g.norm.moving_mean.numpy(), before[[i for i, v in enumerate(g.non_trainable_variables)
                                                                  if v is g.norm.moving_mean][0]])
        np.testing.assert_array_equal(u.numpy(), before[0])  # the passes' power iterations are undone
    for v, value in zip(g.non_trainable_variables, before):
        np.testing.assert_array_equal(v.numpy(), value)
    assert g.norm.momentum == 0.9


def test_the_gan_inference_context_applies_the_options():
    from test_gan import TinyDiscriminator
    from tfgan_icr.training.gan import GAN
    g = make()
    gan = GAN(g, TinyDiscriminator())
    with gan.inference(options=sampling.inference_options(truncation=0.7)) as (net, truncation):
        assert net is g and truncation == 0.7
    mean_before = g.norm.moving_mean.numpy().copy()
    with gan.inference(options=sampling.inference_options(standing_statistics=True, standing_batches=2,
                                                          standing_batch_size=4)) as (net, truncation):
        assert truncation is None
        assert not np.allclose(net.norm.moving_mean.numpy(), mean_before)
    np.testing.assert_array_equal(g.norm.moving_mean.numpy(), mean_before)
