"""The train step: losses move, each update changes the right network, n_dis is respected,
terms are added, EMA follows G, and randomness is a function of the step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr import losses
from tfgan_icr.training.gan import GAN


class TinyGenerator(keras.Model):
    def __init__(self, z_dim=4, num_classes=3, image_size=4, channels=1):
        super().__init__()
        self.z_dim, self.num_classes, self.image_size, self.channels = z_dim, num_classes, image_size, channels
        self.dense = keras.layers.Dense(image_size * image_size * channels)
        self.embed = keras.layers.Embedding(max(num_classes, 1), z_dim)

    def call(self, z, labels=None, training=False):
        if self.num_classes:
            z = z + self.embed(labels)
        x = keras.ops.tanh(self.dense(z))
        return keras.ops.reshape(x, (-1, self.image_size, self.image_size, self.channels))


class TinyDiscriminator(keras.Model):
    def __init__(self):
        super().__init__()
        self.calls = tf.Variable(0, trainable=False)
        self.dense = keras.layers.Dense(1)

    def call(self, images, labels=None, training=False):
        if training:
            self.calls.assign_add(1)
        return keras.ops.reshape(self.dense(keras.ops.reshape(images, (tf.shape(images)[0], -1))), (-1,))


def make_gan(n_dis=1, ema=False, d_terms=(), g_terms=(), seed=0, joint=False):
    g = TinyGenerator()
    ema_g = TinyGenerator() if ema else None
    gan = GAN(g, TinyDiscriminator(), n_dis=n_dis, ema_generator=ema_g, ema_decay=0.5, seed=seed,
              joint_discriminator_call=joint)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-2),
                # Non-saturating: with hinge, D's bias gradient is exactly 0 while every logit
                # is inside the margin, so "every variable changes" would depend on the init.
                discriminator_loss=losses.non_saturating_discriminator_loss,
                generator_loss=losses.non_saturating_generator_loss, d_terms=d_terms, g_terms=g_terms)
    gan.build_all()
    return gan


def batch(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (n, 4, 4, 1)).astype(np.float32), rng.integers(0, 3, n).astype(np.int32))


def values(variables):
    return [v.numpy().copy() for v in variables]


def changed(before, variables):
    return [not np.array_equal(b, v.numpy()) for b, v in zip(before, variables)]


def test_one_iteration_updates_both_networks_and_counts_updates():
    gan = make_gan(n_dis=3)
    g_before = values(gan.generator.trainable_variables)
    d_before = values(gan.discriminator.trainable_variables)
    step = tf.function(gan.train_step)
    logs = step(batch(3 * 8))
    assert all(changed(g_before, gan.generator.trainable_variables))
    assert all(changed(d_before, gan.discriminator.trainable_variables))
    assert int(gan.d_optimizer.iterations) == 3      # n_dis D updates
    assert int(gan.g_optimizer.iterations) == 1      # one G update
    assert int(gan.global_step) == 1
    # D saw real+fake in each of 3 updates, and fake once in the G update.
    assert int(gan.discriminator.calls) == 3 * 2 + 1
    assert {"d_loss", "g_loss", "d_real_logits", "d_fake_logits"} <= set(logs)
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_each_d_update_sees_its_own_slice_of_real_data():
    seen = []

    def spy(ctx):
        seen.append(ctx.real_images)
        return tf.constant(0.0)

    gan = make_gan(n_dis=2, d_terms=[spy])
    images, labels = batch(2 * 5)
    gan.train_step((tf.constant(images), tf.constant(labels)))
    assert len(seen) == 2
    np.testing.assert_array_equal(seen[0].numpy(), images[:5])
    np.testing.assert_array_equal(seen[1].numpy(), images[5:])


def test_d_update_does_not_change_generator_before_g_update():
    gan = make_gan(n_dis=1)
    g_before = values(gan.generator.trainable_variables)
    images, labels = batch(8)
    gan._d_update(tf.constant(images), tf.constant(labels), 0)
    assert not any(changed(g_before, gan.generator.trainable_variables))
    d_before = values(gan.discriminator.trainable_variables)
    gan._g_update(8)
    assert not any(changed(d_before, gan.discriminator.trainable_variables))


def test_losses_move_when_training():
    gan = make_gan(n_dis=1)
    step = tf.function(gan.train_step)
    first = step(batch(16))
    for i in range(30):
        last = step(batch(16, seed=i + 1))
    assert float(first["d_loss"]) != pytest.approx(float(last["d_loss"]), abs=1e-3)
    assert float(first["g_loss"]) != pytest.approx(float(last["g_loss"]), abs=1e-3)


def test_terms_are_added_to_the_loss_and_logged():
    def constant_penalty(ctx):
        return tf.constant(5.0)

    gan = make_gan(d_terms=[constant_penalty], g_terms=[constant_penalty])
    logs = gan.train_step(batch(8))
    assert float(logs["d_constant_penalty"]) == 5.0
    assert float(logs["g_constant_penalty"]) == 5.0
    assert float(logs["d_loss"]) == pytest.approx(float(logs["d_adversarial"]) + 5.0)
    assert float(logs["g_loss"]) == pytest.approx(float(logs["g_adversarial"]) + 5.0)


def test_ema_generator_tracks_generator():
    gan = make_gan(ema=True)
    gan.train_step(batch(8))
    for ema_w, w in zip(gan.ema_generator.trainable_variables, gan.generator.trainable_variables):
        # ema_start_step=0 and decay 0.5: after one step the EMA is halfway between old and new.
        assert not np.array_equal(ema_w.numpy(), w.numpy())
    before = values(gan.ema_generator.trainable_variables)
    gan.train_step(batch(8, seed=1))
    assert all(changed(before, gan.ema_generator.trainable_variables))


def test_latents_depend_on_step_and_seed_only():
    a, b = make_gan(seed=3), make_gan(seed=3)
    za, la = a.sample_inputs(6, salt=0)
    zb, lb = b.sample_inputs(6, salt=0)
    np.testing.assert_array_equal(za.numpy(), zb.numpy())
    np.testing.assert_array_equal(la.numpy(), lb.numpy())
    assert la.numpy().max() < 3
    a.global_step.assign(5)
    assert not np.array_equal(a.sample_inputs(6, salt=0)[0].numpy(), za.numpy())
    assert not np.array_equal(b.sample_inputs(6, salt=1)[0].numpy(), zb.numpy())


def test_fit_runs_the_step_and_advances_global_step():
    gan = make_gan(n_dis=2)
    images, labels = batch(64)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).repeat().batch(2 * 4)
    gan.fit(ds, epochs=1, steps_per_epoch=5, verbose=0, shuffle=False)
    assert int(gan.global_step) == 5
    assert int(gan.d_optimizer.iterations) == 10


def _gan_with(discriminator_class, joint, seed=0):
    keras.utils.set_random_seed(seed)
    gan = GAN(TinyGenerator(), discriminator_class(), n_dis=1, seed=seed, joint_discriminator_call=joint)
    gan.compile(g_optimizer=keras.optimizers.Adam(1e-2), d_optimizer=keras.optimizers.Adam(1e-2),
                discriminator_loss=losses.non_saturating_discriminator_loss,
                generator_loss=losses.non_saturating_generator_loss)
    gan.build_all()
    return gan


def test_joint_discriminator_call_is_one_call_with_the_same_update():
    separate, joint = _gan_with(TinyDiscriminator, False), _gan_with(TinyDiscriminator, True)
    for gan in (separate, joint):
        step = tf.function(gan.train_step)
        for i in range(2):
            logs = step(batch(8, seed=i))
    # Per iteration: real + fake calls (or one joint call) in the D update, one in the G update.
    assert int(separate.discriminator.calls.numpy()) == 6 and int(joint.discriminator.calls.numpy()) == 4
    for net in ("generator", "discriminator"):
        for a, b in zip(getattr(separate, net).trainable_variables, getattr(joint, net).trainable_variables):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    assert np.isfinite(float(logs["d_loss"]))


def test_joint_discriminator_call_refuses_a_discriminator_with_batch_statistics():
    from tfgan_icr.errors import ConfigError
    from tfgan_icr.layers import BatchNorm

    class NormalizedDiscriminator(TinyDiscriminator):
        def __init__(self):
            super().__init__()
            self.norm = BatchNorm(name="d_bn")

        def call(self, images, labels=None, training=False):
            return super().call(self.norm(images, training=training), labels, training)

    with pytest.raises(ConfigError, match="d_bn does: set it to False"):
        _gan_with(NormalizedDiscriminator, True)
    _gan_with(NormalizedDiscriminator, False)   # two calls: fine
