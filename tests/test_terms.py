"""Loss terms: unique names (from the gin scope), own random streams, schedules, lazy intervals;
the discriminator's full output reaches them."""

import gin
import numpy as np
import pytest
import tensorflow as tf

from test_gan import batch, make_gan
from tfgan_icr import config
from tfgan_icr.errors import ConfigError
from tfgan_icr.training import schedules
from tfgan_icr.training.terms import Term, as_terms


@gin.configurable
def weighted_constant(ctx, value=1.0):
    return tf.constant(value)


@gin.configurable
def collect_terms(terms=()):
    return terms


def test_two_gin_scoped_uses_of_one_function_are_two_terms():
    config.parse([], ["real/term.fn = @real/weighted_constant", "real/weighted_constant.value = 2.0",
                      "fake/term.fn = @fake/weighted_constant", "fake/weighted_constant.value = 3.0",
                      "collect_terms.terms = [@real/term(), @fake/term()]"])
    terms = collect_terms()
    gan = make_gan(d_terms=terms)
    logs = gan.train_step(batch(8))
    assert float(logs["d_real"]) == 2.0 and float(logs["d_fake"]) == 3.0
    assert float(logs["d_loss"]) == pytest.approx(float(logs["d_adversarial"]) + 5.0)


def test_duplicate_names_are_refused_in_one_line():
    with pytest.raises(ConfigError, match="two discriminator terms are named 'weighted_constant'") as error:
        as_terms([weighted_constant, weighted_constant], "discriminator")
    assert "\n" not in str(error.value)


def test_each_term_has_its_own_random_stream():
    draws = {}

    def spy(name):
        def fn(ctx):
            draws[name] = tf.random.stateless_uniform([3], seed=ctx.seed).numpy()
            return tf.constant(0.0)
        return Term(fn, name=name)

    make_gan(d_terms=[spy("a"), spy("b")]).train_step(batch(8))
    first = dict(draws)
    make_gan(d_terms=[spy("b")]).train_step(batch(8))  # without "a", "b" draws the same
    assert not np.array_equal(first["a"], first["b"])
    np.testing.assert_array_equal(first["b"], draws["b"])


def test_weight_schedule_follows_the_step():
    ramp = schedules.linear_ramp(start_value=0.0, end_value=4.0, start_step=0, end_step=4)
    gan = make_gan(g_terms=[Term(lambda ctx: tf.constant(1.0), name="ramped", weight=ramp)])
    step = tf.function(gan.train_step)  # one trace serves every step
    seen = [float(step(batch(8, seed=i))["g_ramped"]) for i in range(6)]
    assert seen == [0.0, 1.0, 2.0, 3.0, 4.0, 4.0]
    assert step.experimental_get_tracing_count() == 1


def test_lazy_term_runs_every_kth_update_with_k_times_the_weight():
    calls = tf.Variable(0)

    def counted(ctx):
        calls.assign_add(1)
        return tf.constant(1.5)

    gan = make_gan(n_dis=2, d_terms=[Term(counted, name="lazy", every=3)])
    step = tf.function(gan.train_step)
    values = [float(step(batch(16, seed=i))["d_lazy"]) for i in range(3)]
    # D updates 0..5; the logged value is the last D update's (updates 1, 3, 5): due at 3 only.
    assert values == [0.0, 4.5, 0.0]
    assert int(calls.numpy()) == 2  # updates 0 and 3 ran the term; the other four skipped it


def test_schedules():
    step = tf.constant(5, tf.int64)
    assert float(schedules.constant(2.5)(step)) == 2.5
    assert float(schedules.linear_ramp(1.0, 3.0, 4, 8)(step)) == pytest.approx(1.5)
    pw = schedules.piecewise_constant(boundaries=(2, 5), values=(1.0, 2.0, 3.0))
    assert [float(pw(tf.constant(s, tf.int64))) for s in (0, 2, 4, 5, 9)] == [1.0, 2.0, 2.0, 3.0, 3.0]
    with pytest.raises(ValueError):
        schedules.piecewise_constant(boundaries=(2,), values=(1.0,))
    with pytest.raises(ValueError):
        schedules.linear_ramp(start_step=3, end_step=3)


def test_ema_decay_may_follow_a_schedule():
    gan = make_gan(ema=True)
    gan.ema_decay = schedules.piecewise_constant(boundaries=(1,), values=(0.0, 1.0))
    gan.train_step(batch(8))      # decay 0 at step 0: the EMA copies G
    for e, g in zip(gan.ema_generator.weights, gan.generator.weights):
        np.testing.assert_array_equal(e.numpy(), g.numpy())
    frozen = [e.numpy().copy() for e in gan.ema_generator.weights]
    gan.train_step(batch(8, seed=1))  # decay 1 from step 1: the EMA stays
    for e, f in zip(gan.ema_generator.weights, frozen):
        np.testing.assert_array_equal(e.numpy(), f)


def test_terms_see_the_structured_discriminator_output_and_can_share_passes():
    from tfgan_icr.models import sndcgan_discriminator, sndcgan_generator
    from tfgan_icr.training.gan import GAN
    import keras
    seen, computed = {}, []

    def first(ctx):
        seen["features"] = ctx.fake_output.features.shape
        seen["logits"] = ctx.fake_logits.shape
        out = ctx.shared("d_real_again", lambda: computed.append(1) or ctx.discriminate(ctx.real_images, ctx.real_labels))
        return tf.reduce_mean(out.logits) * 0.0

    def second(ctx):
        out = ctx.shared("d_real_again", lambda: computed.append(1) or ctx.discriminate(ctx.real_images, ctx.real_labels))
        return tf.reduce_mean(out.logits) * 0.0

    g = sndcgan_generator(z_dim=8, ch=4, num_classes=3, channels=1)
    d = sndcgan_discriminator(ch=4, num_classes=3, channels=1)
    gan = GAN(g, d)
    gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam(), lambda r, f: tf.reduce_mean(f - r),
                lambda f: -tf.reduce_mean(f), d_terms=[first, second])
    gan.build_all()
    images = tf.random.stateless_uniform([4, 32, 32, 1], seed=[1, 2], minval=-1, maxval=1)
    gan.train_step((images, tf.constant([0, 1, 2, 0])))
    assert seen["logits"] == (4,) and seen["features"] == (4, d.feature_dim)
    assert computed == [1]  # the second term reused the first one's pass
