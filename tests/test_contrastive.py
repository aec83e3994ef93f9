"""ContraGAN and ACGAN: the 2C loss by hand, the selectable discriminator heads, the loss
terms' gradients, the configs, and short conditional trainings with each head."""

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr import config
from tfgan_icr.errors import ConfigError
from tfgan_icr.losses import classification_cross_entropy, conditional_contrastive_loss
from tfgan_icr.methods.acgan import acgan_discriminator, acgan_generator
from tfgan_icr.methods.contrastive import contrastive_discriminator, contrastive_generator
from tfgan_icr.models.sndcgan import sndcgan_discriminator, sndcgan_generator
from tfgan_icr.training.builder import build_gan
from tfgan_icr.training.context import StepContext


def loops_2c(e, p, y, t):
    """The 2C loss written out with loops, from its definition."""
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    p = p / np.linalg.norm(p, axis=1, keepdims=True)
    total = 0.0
    for i in range(len(e)):
        proxy = np.exp(e[i] @ p[i] / t)
        num, den = proxy, proxy
        for k in range(len(e)):
            if k == i:
                continue
            term = np.exp(e[i] @ e[k] / t)
            den += term
            if y[k] == y[i]:
                num += term
        total += -np.log(num / den)
    return total / len(e)


def test_2c_loss_matches_the_definition_computed_by_hand():
    rng = np.random.default_rng(0)
    e, p = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    y = np.array([0, 1, 0, 2, 1, 0])
    for t in (1.0, 0.5):
        got = float(conditional_contrastive_loss(e.astype("float32"), p.astype("float32"), y, t))
        assert got == pytest.approx(loops_2c(e, p, y, t), rel=1e-5)


def test_2c_loss_ignores_the_scale_of_embeddings_and_proxies():
    rng = np.random.default_rng(1)
    e, p = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(5, 4)).astype("float32")
    y = np.array([0, 1, 1, 2, 0])
    scale = np.array([[0.01], [3.0], [100.0], [1.0], [0.5]], "float32")
    base = float(conditional_contrastive_loss(e, p, y, 0.7))
    assert float(conditional_contrastive_loss(scale * e, p[::-1][::-1] * 7.0, y, 0.7)) == \
        pytest.approx(base, rel=1e-5)


def test_2c_loss_of_one_class_is_zero_and_of_distinct_classes_follows_the_temperature():
    rng = np.random.default_rng(2)
    e = rng.normal(size=(4, 3)).astype("float32")
    # One class: numerator and denominator hold the same terms, at any temperature.
    for t in (0.1, 1.0, 5.0):
        assert float(conditional_contrastive_loss(e, e[::-1], np.zeros(4), t)) == pytest.approx(0.0, abs=1e-6)
    # Distinct classes, orthogonal embeddings, each equal to its proxy: the loss is
    # log(1 + (B-1) exp(-1/t)), falling to 0 as t -> 0; t = 0.01 overflows a naive exp.
    eye = np.eye(4, dtype="float32")
    values = [float(conditional_contrastive_loss(eye, eye, np.arange(4), t)) for t in (2.0, 1.0, 0.1, 0.01)]
    expected = [np.log1p(3 * np.exp(-1 / t)) for t in (2.0, 1.0, 0.1, 0.01)]
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-12)
    assert values == sorted(values, reverse=True) and np.isfinite(values).all()


def test_2c_loss_gradient_is_finite_even_for_zero_and_repeated_embeddings():
    e = tf.Variable(np.array([[0, 0, 0], [1, 2, 3], [1, 2, 3], [-1, 0, 1]], "float32"))
    p = tf.Variable(np.ones((4, 3), "float32"))
    with tf.GradientTape() as tape:
        loss = conditional_contrastive_loss(e, p, [0, 1, 0, 1], 0.05)
    grads = tape.gradient(loss, [e, p])
    assert np.isfinite(float(loss)) and all(np.isfinite(g.numpy()).all() for g in grads)
    assert np.abs(grads[0].numpy()).sum() > 0


def tiny_d(head, **kwargs):
    return sndcgan_discriminator(ch=8, num_classes=3, image_size=8, channels=3, head=head, **kwargs)


def test_contrastive_head_outputs_unit_embeddings_and_proxies_and_an_unconditional_logit():
    d = tiny_d("contrastive", embedding_dim=6)
    x = tf.random.stateless_normal([4, 8, 8, 3], seed=[0, 1])
    a = d(x, tf.constant([0, 1, 2, 0]))
    b = d(x, tf.constant([2, 2, 1, 1]))
    assert a.embedding.shape == (4, 6) and a.proxy.shape == (4, 6) and a.logits.shape == (4,)
    np.testing.assert_allclose(np.linalg.norm(a.embedding, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(a.proxy, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a.logits, b.logits)      # no projection term (StudioGAN's ContraGAN D)
    np.testing.assert_array_equal(a.embedding, b.embedding)
    np.testing.assert_array_equal(a.proxy[2], b.proxy[0])   # both class 2: the proxy is the class's
    assert not np.allclose(a.proxy[0], a.proxy[1])
    assert a.class_logits is None


def test_acgan_head_outputs_class_logits_and_unknown_or_unconditional_heads_are_refused():
    out = tiny_d("acgan")(tf.zeros([2, 8, 8, 3]), tf.constant([0, 1]))
    assert out.class_logits.shape == (2, 3) and out.logits.shape == (2,) and out.embedding is None
    with pytest.raises(ConfigError, match="'projection', 'contrastive', 'acgan'"):
        tiny_d("proxy")
    with pytest.raises(ConfigError, match="class-conditional"):
        sndcgan_discriminator(ch=8, num_classes=0, image_size=8, head="contrastive")


def step_context(d_head, side="d", **d_kwargs):
    g = sndcgan_generator(z_dim=8, ch=8, num_classes=3, image_size=8, channels=3)
    d = tiny_d(d_head, **d_kwargs)
    gan = build_gan(num_classes=3, image_size=8, channels=3,
                    generator_fn=lambda **_: g, discriminator_fn=lambda **_: d,
                    g_optimizer_fn=lambda: tf.keras.optimizers.Adam(), d_optimizer_fn=lambda: tf.keras.optimizers.Adam())
    gan.build_all()
    z = tf.random.stateless_normal([6, 8], seed=[1, 2])
    labels = tf.constant([0, 1, 2, 0, 1, 2])
    real = tf.random.stateless_uniform([6, 8, 8, 3], seed=[3, 4], minval=-1, maxval=1)
    return gan, z, labels, real


def side_ctx(gan, z, labels, real, side):
    fake = gan.generator(z, labels, training=True)
    fake_out = gan.discriminate(fake, labels)
    real_out = gan.discriminate(real, labels) if side == "d" else None
    return StepContext(gan, side, real if side == "d" else None, labels if side == "d" else None,
                       fake, labels, z, real_out, fake_out, update_seed=tf.constant([0, 0], tf.int64),
                       update_count=tf.constant(0, tf.int64))


@pytest.mark.parametrize("head, d_term, g_term", [
    ("contrastive", contrastive_discriminator, contrastive_generator),
    ("acgan", acgan_discriminator, acgan_generator)])
def test_terms_reach_the_discriminator_and_generator_gradients(head, d_term, g_term):
    gan, z, labels, real = step_context(head, **({"embedding_dim": 4} if head == "contrastive" else {}))
    with tf.GradientTape() as tape:
        loss = d_term(side_ctx(gan, z, labels, real, "d"))
    d_grads = tape.gradient(loss, gan.discriminator.trainable_variables)
    with tf.GradientTape() as tape:
        g_loss = g_term(side_ctx(gan, z, labels, real, "g"))
    g_grads = tape.gradient(g_loss, gan.generator.trainable_variables)
    assert np.isfinite(float(loss)) and np.isfinite(float(g_loss))
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in d_grads if g is not None) > 0
    assert sum(float(tf.reduce_sum(tf.abs(g))) for g in g_grads if g is not None) > 0


def test_acgan_discriminator_term_is_the_cross_entropy_on_real_plus_fake_or_real_only():
    gan, z, labels, real = step_context("acgan")
    ctx = side_ctx(gan, z, labels, real, "d")

    def ce(logits, y):
        logits = np.asarray(logits, np.float64)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -np.mean(logp[np.arange(len(y)), np.asarray(y)])

    real_ce, fake_ce = ce(ctx.real_output.class_logits, labels), ce(ctx.fake_output.class_logits, labels)
    assert float(classification_cross_entropy(ctx.real_output.class_logits, labels)) == pytest.approx(real_ce, rel=1e-5)
    assert float(acgan_discriminator(ctx)) == pytest.approx(real_ce + fake_ce, rel=1e-5)
    assert float(acgan_discriminator(ctx, include_fake=False)) == pytest.approx(real_ce, rel=1e-5)


def test_a_term_the_head_cannot_feed_names_the_head_to_use():
    gan, z, labels, real = step_context("projection")
    ctx = side_ctx(gan, z, labels, real, "d")
    with pytest.raises(ConfigError, match="head = 'contrastive'"):
        contrastive_discriminator(ctx)
    with pytest.raises(ConfigError, match="head = 'acgan'"):
        acgan_generator(ctx)


TINY = ["resnet_generator.ch = 8", "resnet_discriminator.ch = 8", "resnet_generator.z_dim = 8",
        "sndcgan_generator.ch = 8", "sndcgan_discriminator.ch = 8", "sndcgan_generator.z_dim = 8",
        "biggan_generator.ch = 2", "biggan_discriminator.ch = 2", "biggan_generator.z_dim = 20",
        "biggan_generator.shared_dim = 4"]


@pytest.mark.parametrize("name, head, embedding, terms", [
    ("contragan_cifar10", "contrastive", 512, "contrastive"),
    ("contragan_tiny_imagenet", "contrastive", 768, "contrastive"),
    ("acgan_cifar10", "acgan", 512, "acgan")])
def test_configs_parse_and_build_with_their_head_and_terms(name, head, embedding, terms):
    config.parse([name], TINY)
    shape = dict(num_classes=gin.query_parameter("bench.num_classes"),
                 image_size=gin.query_parameter("bench.image_size"),
                 channels=gin.query_parameter("bench.channels"))
    gan = build_gan(**shape)
    assert gan.discriminator.head_kind == head and gan.discriminator.embedding_dim == embedding
    assert [t.name for t in gan.d_terms] == [terms] and [t.name for t in gan.g_terms] == [terms]
    assert gan.n_dis == 5 and gin.query_parameter("train.batch_size") == 64
    assert gin.query_parameter("discriminator_monitor.every") > 0


@pytest.mark.parametrize("name", ["contragan_cifar10", "acgan_cifar10"])
def test_a_conditional_three_step_training_with_each_head_has_finite_losses(name):
    # The method's lines on the small SNDCGAN at 8x8: swapping the networks keeps head and terms.
    config.parse([name], TINY + ["build_gan.n_dis = 1", "build_gan.generator_fn = @sndcgan_generator",
                                 "build_gan.discriminator_fn = @sndcgan_discriminator"])
    gan = build_gan(num_classes=3, image_size=8, channels=3)
    gan.build_all()
    images = tf.random.stateless_uniform([12, 8, 8, 3], seed=[5, 6], minval=-1, maxval=1)
    labels = tf.constant([0, 1, 2] * 4)
    history = gan.fit(tf.data.Dataset.from_tensor_slices((images, labels)).batch(4), epochs=1,
                      steps_per_epoch=3, verbose=0)
    term = "contrastive" if name.startswith("contra") else "acgan"
    for key in ("d_loss", "g_loss", f"d_{term}", f"g_{term}"):
        assert np.isfinite(history.history[key]).all(), key
    assert int(gan.global_step.numpy()) == 3


def test_the_head_choice_survives_the_keras_config_round_trip():
    d = tiny_d("contrastive", embedding_dim=6)
    clone = type(d).from_config(d.get_config())
    out = clone(tf.zeros([2, 8, 8, 3]), tf.constant([0, 1]))
    assert clone.head_kind == "contrastive" and out.embedding.shape == (2, 6)
