"""Mixed precision (build_gan.precision): the networks compute in bfloat16/float16 while every
variable, optimizer slot and checkpoint stays float32; float16's dynamic loss scale leaves the
update as it is, skips an update that overflows, and is checkpointed with a float16 run (so it
resumes bit for bit, tests/test_training.py) without tying the checkpoint to float16: a run can
change precision when it resumes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from test_gan import TinyDiscriminator, TinyGenerator, batch
from tfgan_icr import config, losses
from tfgan_icr.errors import ConfigError
from tfgan_icr.training.builder import build_gan
from tfgan_icr.training.checkpoint import CheckpointStore
from tfgan_icr.training.gan import GAN
from tfgan_icr.training.precision import DynamicLossScale
from tfgan_icr.training.variables import named_variables

TINY_QUICKSTART = ["sndcgan_generator.ch = 8", "sndcgan_discriminator.ch = 8", "sndcgan_generator.z_dim = 16"]


def quickstart_gan(precision):
    config.parse(["quickstart"], TINY_QUICKSTART + [f"build_gan.precision = '{precision}'"])
    keras.utils.set_random_seed(0)
    gan = build_gan(num_classes=10, image_size=32, channels=1, seed=1)
    gan.build_all()
    return gan


def real_batch(n=4):
    images = tf.random.stateless_uniform([n, 32, 32, 1], seed=[0, 1], minval=-1, maxval=1)
    return images, tf.range(n) % 10


def all_variables(gan):
    return (gan.generator.variables + gan.discriminator.variables + gan.g_optimizer.variables
            + gan.d_optimizer.variables)


@pytest.mark.parametrize("precision,compute", [("mixed_bfloat16", "bfloat16"), ("mixed_float16", "float16")])
def test_mixed_networks_compute_low_and_keep_every_variable_float32(precision, compute):
    gan = quickstart_gan(precision)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left as it was
    conv_layers = [layer for layer in gan.discriminator._flatten_layers() if hasattr(layer, "kernel")]
    assert conv_layers and all(layer.compute_dtype == compute for layer in conv_layers)
    logs = tf.function(gan.train_step)(real_batch())
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert {v.dtype for v in all_variables(gan) if "float" in str(v.dtype)} == {"float32"}
    images = gan.generator(tf.zeros([2, 16]), tf.zeros([2], tf.int32))
    logits = gan.discriminate(images, tf.zeros([2], tf.int32))
    assert images.dtype == tf.float32 and logits.logits.dtype == tf.float32
    assert bool(gan.loss_scales) == (precision == "mixed_float16")


def test_unknown_precision_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="build_gan.precision = 'float8' is not one of"):
        quickstart_gan("float8")


def tiny(precision):
    """A float32 tiny GAN; precision only switches the loss scaling on (networks stay float32,
    so a power-of-two scale must leave the update exactly as it is)."""
    keras.utils.set_random_seed(1)
    gan = GAN(TinyGenerator(), TinyDiscriminator(), seed=3, precision=precision)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-2),
                discriminator_loss=losses.non_saturating_discriminator_loss,
                generator_loss=losses.non_saturating_generator_loss)
    gan.build_all()
    return gan


def weights(gan):
    return [v.numpy().copy() for v in gan.generator.trainable_variables + gan.discriminator.trainable_variables]


def test_loss_scaling_leaves_a_finite_update_as_it_is():
    plain, scaled = tiny("float32"), tiny("mixed_float16")
    tf.function(plain.train_step)(batch(8))
    logs = tf.function(scaled.train_step)(batch(8))
    for a, b in zip(weights(plain), weights(scaled)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert float(logs["d_loss_scale"]) == 2.0 ** 15 and float(logs["d_update_skipped"]) == 0.0
    assert int(scaled.d_optimizer.iterations) == 1 and int(scaled.g_optimizer.iterations) == 1


def test_an_overflowing_update_is_skipped():
    gan = tiny("mixed_float16")
    before = weights(gan)
    for side in ("d", "g"):
        gan.loss_scales[side].value.assign(float("inf"))  # the scaled loss overflows
    logs = tf.function(gan.train_step)(batch(8))
    assert float(logs["d_update_skipped"]) == 1.0 and float(logs["g_update_skipped"]) == 1.0
    for a, b in zip(before, weights(gan)):
        np.testing.assert_array_equal(a, b)
    assert int(gan.d_optimizer.iterations) == 0 and int(gan.g_optimizer.iterations) == 0


def test_the_scale_halves_on_overflow_and_doubles_after_growth_interval_finite_updates():
    scale = DynamicLossScale("test", initial_scale=4.0, growth_interval=2)
    variable = tf.Variable(1.0)
    optimizer = keras.optimizers.SGD(0.5)
    assert not bool(scale.apply(optimizer, [tf.constant(np.inf)], [variable]))
    assert float(scale.value) == 2.0 and float(variable) == 1.0 and int(optimizer.iterations) == 0
    assert bool(scale.apply(optimizer, [tf.constant(2.0)], [variable]))  # unscaled: 1.0
    assert float(scale.value) == 2.0 and float(variable) == 0.5
    scale.apply(optimizer, [tf.constant(2.0)], [variable])
    assert float(scale.value) == 4.0 and float(variable) == 0.0 and int(optimizer.iterations) == 2


@pytest.mark.parametrize("first,second", [("mixed_float16", "float32"), ("float32", "mixed_float16")])
def test_a_checkpoint_restores_under_another_precision(tmp_path, first, second):
    trained = quickstart_gan(first)
    tf.function(trained.train_step)(real_batch())
    CheckpointStore(str(tmp_path), trained).save()
    saved = state(trained)
    resumed = quickstart_gan(second)
    assert CheckpointStore(str(tmp_path), resumed).restore() == 1
    restored = state(resumed)
    assert len(restored) == len(saved) and resumed.precision == second
    for a, b in zip(saved, restored):
        np.testing.assert_array_equal(a, b)
    if second == "mixed_float16":  # the checkpoint has no scale: float16 starts from the initial one
        assert float(resumed.loss_scales["d"].value) == 2.0 ** 15


def state(gan):
    """Every saved value in a fixed order: networks by attribute path, optimizer slots as built."""
    values = [v.numpy() for net in (gan.generator, gan.discriminator)
              for _, v in sorted(named_variables(net).items())]
    return values + [v.numpy() for v in gan.g_optimizer.variables + gan.d_optimizer.variables]
