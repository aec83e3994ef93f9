"""XLA (build_gan.jit_compile): one train step of the quickstart and of the Fashion-MNIST ICR
config (whose terms include every term of the other Fashion-MNIST method configs), at test
width, compiles and runs with finite logs. All six small configs passed when run by hand; the
suite keeps two, since each XLA compile takes tens of seconds on the shared 2 cores."""

import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr import config
from tfgan_icr.training.builder import build_gan

SMALL_CONFIGS = ["quickstart.gin", "icr/fashion_mnist_icr.gin"]
TINY = ["sndcgan_generator.ch = 8", "sndcgan_discriminator.ch = 8", "sndcgan_generator.z_dim = 16"]


@pytest.mark.parametrize("name", SMALL_CONFIGS)
def test_small_config_step_compiles_with_xla(name):
    config.parse([name], TINY)
    gan = build_gan(num_classes=10, image_size=32, channels=1, seed=0)
    gan.build_all()
    images = tf.random.stateless_uniform([4 * gan.n_dis, 32, 32, 1], seed=[0, 1], minval=-1, maxval=1)
    labels = tf.range(4 * gan.n_dis) % 10
    step = tf.function(gan.train_step, jit_compile=True)
    logs = step((images, labels))
    # jit_compile=True fails the call when any op of the step cannot be compiled.
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert int(gan.global_step) == 1
