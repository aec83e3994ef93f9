"""The ICR paper's terms on the train step: hand computations, which network each term moves,
weight 0 = the unregularised step, and bit-for-bit resume of an ICR run."""

import numpy as np
import pytest
import tensorflow as tf

import keras

from test_gan import batch
from test_gan import make_gan as _make_gan
from test_training import checkpoint_values, train
from tfgan_icr.methods import consistency as cr
from tfgan_icr.methods import penalties
from tfgan_icr.training.context import StepContext


def make_gan(**kwargs):
    keras.utils.set_random_seed(0)  # same initial weights for the GANs a test compares
    return _make_gan(**kwargs)


def negate(images, seed):
    return -images


def context(gan, n=6):
    images, labels = (tf.constant(a) for a in batch(n))
    z, fake_labels = gan.sample_inputs(n, salt=0)
    fake = gan.generator(z, fake_labels, training=True)
    return StepContext(gan, "d", images, labels, fake, fake_labels, z,
                       gan.discriminate(images, labels), gan.discriminate(fake, fake_labels),
                       update_seed=tf.constant([1, 2], tf.int64), update_count=tf.constant(0, tf.int64),
                       seed=tf.constant([3, 4], tf.int64))


def linear_d(gan, images):
    kernel, bias = (v.numpy() for v in gan.discriminator.dense.weights)
    return images.reshape(len(images), -1) @ kernel[:, 0] + bias[0]


def test_consistency_terms_against_hand_computation():
    gan = make_gan()
    ctx = context(gan)
    real, fake = ctx.real_images.numpy(), ctx.fake_images.numpy()
    expect_real = np.mean((linear_d(gan, real) - linear_d(gan, -real)) ** 2)
    expect_fake = np.mean((linear_d(gan, fake) - linear_d(gan, -fake)) ** 2)
    assert float(cr.consistency(ctx, weight=10.0, augment_fn=negate)) == pytest.approx(10 * expect_real, rel=1e-5)
    assert float(cr.balanced_consistency(ctx, 10.0, 5.0, augment_fn=negate)) == pytest.approx(
        10 * expect_real + 5 * expect_fake, rel=1e-5)


def test_latent_consistency_against_hand_computation():
    gan = make_gan()
    ctx = context(gan)
    sigma = 0.1
    noise = tf.random.stateless_normal(tf.shape(ctx.z), seed=ctx.shared_seed("latent_noise"))
    perturbed = gan.generator(ctx.z + sigma * noise, ctx.fake_labels, training=True).numpy()
    fake = ctx.fake_images.numpy()
    d_expect = np.mean((linear_d(gan, fake) - linear_d(gan, perturbed)) ** 2)
    g_expect = -np.mean((fake - perturbed) ** 2)
    assert float(cr.latent_consistency_discriminator(ctx, weight=5.0, sigma=sigma)) == pytest.approx(5 * d_expect, rel=1e-5)
    assert float(cr.latent_consistency_generator(ctx, weight=0.5, sigma=sigma)) == pytest.approx(0.5 * g_expect, rel=1e-5)
    assert g_expect < 0


def test_shared_passes_run_once_per_update():
    gan = make_gan()
    ctx = context(gan)
    calls = int(gan.discriminator.calls.numpy())
    cr.consistency(ctx, augment_fn=negate)
    cr.balanced_consistency(ctx, augment_fn=negate)   # reuses D(T(x_real)), adds D(T(G(z)))
    cr.balanced_consistency(ctx, augment_fn=negate)   # reuses both
    cr.latent_consistency_discriminator(ctx)
    assert int(gan.discriminator.calls.numpy()) - calls == 3


def _flip_shift_1px(images, seed):
    from tfgan_icr import augment
    return augment.augment(images, seed, transforms=(augment.random_flip,
                                                     lambda x, s: augment.random_translate(x, s, max_pixels=1)))


@pytest.mark.parametrize("term", [
    lambda ctx: cr.consistency(ctx, augment_fn=_flip_shift_1px),
    lambda ctx: cr.balanced_consistency(ctx, augment_fn=_flip_shift_1px),
    cr.latent_consistency_discriminator, penalties.wgan_gradient_penalty, penalties.dragan,
    penalties.jensen_shannon], ids=["cr", "bcr", "zcr_d", "gp", "dragan", "jsr"])
def test_d_side_terms_reach_only_the_discriminator(term):
    gan = make_gan()
    ctx = context(gan)
    with tf.GradientTape(persistent=True) as tape:
        value = term(ctx)
    d_grads = tape.gradient(value, gan.discriminator.trainable_variables)
    g_grads = tape.gradient(value, gan.generator.trainable_variables)
    assert any(g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in d_grads)
    assert all(g is None or float(tf.reduce_sum(tf.abs(g))) == 0 for g in g_grads)


def test_zcr_generator_term_moves_the_generator():
    gan = make_gan(g_terms=[cr.latent_consistency_generator])
    plain = make_gan()
    gan.train_step(batch(8))
    plain.train_step(batch(8))
    moved = [not np.array_equal(a.numpy(), b.numpy())
             for a, b in zip(gan.generator.trainable_variables, plain.generator.trainable_variables)]
    assert any(moved)
    for a, b in zip(gan.discriminator.trainable_variables, plain.discriminator.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # the D update came first: unchanged


def test_weight_zero_is_the_unregularised_step():
    import functools
    zero = [functools.partial(cr.balanced_consistency, real_weight=0.0, fake_weight=0.0),
            functools.partial(cr.latent_consistency_discriminator, weight=0.0)]
    for f, name in zip(zero, ("bcr", "zcr_d")):
        f.__name__ = name
    regularised = make_gan(d_terms=zero, g_terms=[functools.partial(cr.latent_consistency_generator, weight=0.0)])
    plain = make_gan()
    for i in range(2):
        regularised.train_step(batch(8, seed=i))
        plain.train_step(batch(8, seed=i))
    for a, b in zip(regularised.weights, plain.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def _bcr_4px(ctx):  # a plain function: no promise, so its passes would stay out of the joint call
    return cr.balanced_consistency(ctx, augment_fn=_flip_shift_1px)


def _named_partial(fn, name, **kwargs):
    import functools
    partial = functools.partial(fn, **kwargs)
    partial.__name__ = name
    return partial


ICR_D = (_named_partial(cr.balanced_consistency, "balanced_consistency", augment_fn=_flip_shift_1px),
         cr.latent_consistency_discriminator)


def test_joint_call_runs_the_icr_passes_in_the_one_d_call_with_the_same_update():
    """bCR + zCR: D on real, fake, T(real), T(fake) and G(z + dz) in one call instead of five.
    The tiny D has no power iteration, so the two ways give the same update."""
    separate = make_gan(d_terms=ICR_D, g_terms=[cr.latent_consistency_generator])
    joint = make_gan(d_terms=ICR_D, g_terms=[cr.latent_consistency_generator], joint=True)
    for gan in (separate, joint):
        step = tf.function(gan.train_step)
        for i in range(2):
            logs = step(batch(8, seed=i))
        assert float(logs["d_balanced_consistency"]) > 0 and float(logs["d_latent_consistency_discriminator"]) > 0
    # Per iteration: the D update's calls, then one in the G update.
    assert int(separate.discriminator.calls.numpy()) == 2 * (5 + 1)
    assert int(joint.discriminator.calls.numpy()) == 2 * (1 + 1)
    for a, b in zip(separate.weights, joint.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_joint_call_leaves_a_lazy_terms_passes_in_its_own_branch():
    from tfgan_icr.training.terms import Term
    gan = make_gan(d_terms=[Term(ICR_D[0]), Term(cr.latent_consistency_discriminator, every=2)], joint=True)
    step = tf.function(gan.train_step)
    counts = []
    for i in range(2):
        step(batch(8, seed=i))
        counts.append(int(gan.discriminator.calls.numpy()))
    # Update 0: the joint call (real, fake, T(real), T(fake)) + zCR's due pass + the G update;
    # update 1: zCR is not due.
    assert counts == [3, 5]


def test_joint_call_leaves_the_passes_of_an_unmarked_term_to_the_term():
    gan = make_gan(d_terms=[_bcr_4px], joint=True)
    tf.function(gan.train_step)(batch(8))
    assert int(gan.discriminator.calls.numpy()) == 1 + 2 + 1  # joint real + fake, T(real), T(fake), G update


def test_resumed_icr_run_matches_an_uninterrupted_one(tmp_path):
    icr = ["include 'icr/_icr_terms.gin'", "train.batch_size = 8"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(straight, 4, *icr)
    train(resumed, 2, *icr)
    train(resumed, 4, *icr)
    a, b = checkpoint_values(straight), checkpoint_values(resumed)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
