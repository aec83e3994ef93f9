"""BigGAN (tfgan_icr.models.biggan): shapes at every size, StudioGAN's parameter counts,
hierarchical z, the self-attention layer, cross-replica batch norm, the configs, and two
training steps."""

import os
import subprocess
import sys
import textwrap

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import ROOT
from tfgan_icr import config
from tfgan_icr.layers import BatchNorm, ConditionalBatchNorm, SelfAttention
from tfgan_icr.models import (
    BigGANDiscriminator,
    BigGANGenerator,
    biggan_discriminator,
    biggan_generator,
)
from tfgan_icr.training.builder import build_gan


def _count(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def _inputs(batch, z_dim, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    z = tf.constant(rng.standard_normal((batch, z_dim)), tf.float32)
    labels = tf.constant(rng.integers(0, max(num_classes, 1), batch), tf.int32)
    return z, labels


@pytest.mark.parametrize("size,num_classes", [(32, 0), (64, 3), (128, 0), (256, 3)])
def test_shapes_at_every_size(size, num_classes):
    num_blocks = {32: 3, 64: 4, 128: 5, 256: 6}[size]
    z_dim = 2 * (num_blocks + 1)
    g = biggan_generator(z_dim=z_dim, ch=2, shared_dim=4, attention_resolutions=16,
                         num_classes=num_classes, image_size=size, channels=3)
    d = biggan_discriminator(ch=4, attention_resolutions=[16], num_classes=num_classes,
                             image_size=size, channels=3)
    z, labels = _inputs(2, z_dim, num_classes)
    images = g(z, labels, training=True)
    assert images.shape == (2, size, size, 3) and images.dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    out = d(images, labels, training=True)
    final_channels = 4 * {32: 2, 64: 16, 128: 16, 256: 16}[size]
    assert out.logits.shape == (2,) and out.features.shape == (2, final_channels)
    assert np.all(np.isfinite(out.logits.numpy()))
    assert len(g.blocks) == num_blocks and len(d.blocks) == num_blocks + 1
    assert len(g.attention) == 1 and len(d.attention) == 1
    assert (g.shared is None) == (num_classes == 0)


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ValueError, match="image sizes 32, 64, 128, 256"):
        biggan_generator(image_size=28)
    with pytest.raises(ValueError, match="image sizes 32, 64, 128, 256"):
        biggan_discriminator(image_size=48)
    with pytest.raises(ValueError, match="z_dim must be a multiple of 4"):
        biggan_generator(z_dim=10, image_size=32)
    with pytest.raises(ValueError, match=r"choose attention_resolutions among \[8, 16, 32\]"):
        biggan_generator(z_dim=8, image_size=32, attention_resolutions=64)
    with pytest.raises(ValueError, match="channel_multipliers needs 4 entries"):
        biggan_generator(z_dim=8, image_size=32, channel_multipliers=[4, 4])
    with pytest.raises(ValueError, match="pass labels"):
        biggan_generator(z_dim=8, ch=1, attention_resolutions=0, num_classes=2,
                         image_size=32)(tf.zeros([1, 8]))


def test_layout_override_and_no_attention():
    g = biggan_generator(z_dim=8, ch=2, channel_multipliers=[3, 2, 1, 1],
                         attention_resolutions=None, image_size=32)
    d = biggan_discriminator(ch=2, channel_multipliers=[1, 3], downsample=[True, False],
                             attention_resolutions=0, image_size=32)
    images = g(tf.zeros([2, 8]), training=False)
    assert d(images).features.shape == (2, 6)
    assert [b.filters for b in g.blocks] == [4, 2, 2] and g.attention == {}
    assert d.blocks[1].shortcut is not None  # the channels change: learnable shortcut


@pytest.mark.parametrize("name,kwargs,expected", [
    ("cifar10", dict(ch=96, z_dim=80, attention=16, num_classes=10, image_size=32),
     (9_416_196, 2_415_170)),
    ("imagenet128", dict(ch=96, z_dim=120, attention=64, num_classes=1000, image_size=128),
     (70_433_988, 87_982_370)),
])
def test_trainable_parameter_counts_equal_studiogan(name, kwargs, expected):
    # Symbolic build (no forward pass); a cheap initializer: the counts depend on shapes only.
    attention = kwargs.pop("attention")
    z_dim = kwargs.pop("z_dim")
    g = biggan_generator(z_dim=z_dim, shared_dim=128, attention_resolutions=attention,
                         initializer="random_normal", **kwargs)
    d = biggan_discriminator(attention_resolutions=attention, initializer="random_normal",
                             **kwargs)
    labels = keras.Input((), dtype="int32")
    g(keras.Input((z_dim,)), labels)
    size = kwargs["image_size"]
    d.compute_output_spec(keras.Input((size, size, 3)), labels)
    assert (_count(g), _count(d)) == expected


def test_hierarchical_z_reaches_every_block():
    g = biggan_generator(z_dim=16, ch=2, shared_dim=4, attention_resolutions=16,
                         num_classes=3, image_size=32, channels=1)
    z, labels = _inputs(4, 16, 3)
    weights = tf.random.stateless_normal([4, 32, 32, 1], seed=[1, 2])
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = tf.reduce_sum(g(z, labels, training=True) * weights)
    grad = tape.gradient(out, z).numpy()
    for chunk in np.split(grad, 4, axis=1):
        assert np.abs(chunk).max() > 0
    assert g.linear.kernel.shape[0] == 4  # only the first chunk feeds the linear layer
    for block in g.blocks:
        assert block.norm1.gain.kernel.shape == (4 + 4, block.norm1.gain.kernel.shape[1])
    # Without hierarchical z the whole z feeds the linear layer and the CBNs see the class only.
    flat = biggan_generator(z_dim=16, ch=2, shared_dim=4, hierarchical_z=False,
                            attention_resolutions=0, num_classes=3, image_size=32)
    flat(keras.Input((16,)), keras.Input((), dtype="int32"))  # symbolic build: shapes only
    assert flat.linear.kernel.shape[0] == 16 and flat.blocks[0].norm1.gain.kernel.shape[0] == 4
    # Neither classes nor hierarchical z: plain affine batch norms.
    plain = biggan_generator(z_dim=16, ch=2, hierarchical_z=False, attention_resolutions=0,
                             image_size=32)
    plain(keras.Input((16,)))
    assert isinstance(plain.blocks[0].norm1, BatchNorm) and plain.blocks[0].norm1.scale
    assert isinstance(g.blocks[0].norm1, ConditionalBatchNorm)


def test_self_attention_starts_as_identity_then_mixes():
    layer = SelfAttention(name="attention")
    x = tf.random.stateless_normal([2, 8, 6, 16], seed=[3, 4])
    y = layer(x, training=True)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y.numpy(), x.numpy())  # gamma starts at exactly 0
    assert float(layer.gamma) == 0.0 and layer.gamma.trainable
    assert [layer.theta.filters, layer.phi.filters, layer.g.filters, layer.out.filters] == [2, 2, 8, 16]
    layer.gamma.assign(0.5)
    assert float(tf.reduce_max(tf.abs(layer(x) - x))) > 1e-3
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True) ** 2)
    grads = tape.gradient(loss, layer.trainable_variables)
    assert all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    with pytest.raises(ValueError, match="divisible by 8"):
        SelfAttention()(tf.zeros([1, 4, 4, 12]))


def test_serialization_round_trips():
    layer = SelfAttention(kernel_initializer="glorot_uniform", name="attention")
    assert SelfAttention.from_config(layer.get_config()).get_config() == layer.get_config()
    bn = BatchNorm(synchronized=True, name="bn")
    assert BatchNorm.from_config(bn.get_config()).synchronized
    cbn = ConditionalBatchNorm(synchronized=True, name="cbn")
    assert ConditionalBatchNorm.from_config(cbn.get_config()).bn.synchronized
    g = biggan_generator(z_dim=8, ch=2, shared_dim=4, attention_resolutions=[16, 8],
                         num_classes=2, image_size=32, synchronized_bn=False)
    clone = BigGANGenerator.from_config(g.get_config())
    assert clone.get_config() == g.get_config() and len(clone.attention) == 2
    d = biggan_discriminator(ch=4, attention_resolutions=16, downsample=[True, True, False, False],
                             image_size=32)
    assert BigGANDiscriminator.from_config(d.get_config()).get_config() == d.get_config()


def test_synchronized_batch_norm_equals_whole_batch_norm_under_mirrored():
    code = """
        import numpy as np, tensorflow as tf
        from tfgan_icr.training.distribute import make_strategy
        from tfgan_icr.layers import BatchNorm
        strategy = make_strategy("mirrored", logical_cpus=2)
        assert strategy.num_replicas_in_sync == 2
        rng = np.random.default_rng(0)
        # the two halves have different statistics
        x = np.concatenate([rng.normal(0, 1, (4, 3, 3, 5)), rng.normal(2, 3, (4, 3, 3, 5))]).astype("float32")
        whole = BatchNorm(momentum=0.5, name="bn")
        expected = whole(x, training=True).numpy()

        def run(synchronized):
            with strategy.scope():
                bn = BatchNorm(momentum=0.5, synchronized=synchronized, name="bn")
                bn.build(x.shape)
            halves = strategy.experimental_distribute_values_from_function(
                lambda ctx: tf.constant(x[4 * ctx.replica_id_in_sync_group:][:4]))
            @tf.function
            def step(h):
                return strategy.run(lambda v: bn(v, training=True), args=(h,))
            out = np.concatenate([t.numpy() for t in strategy.experimental_local_results(step(halves))])
            return out, bn
        out, bn = run(True)
        np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(bn.moving_mean.numpy(), whole.moving_mean.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(bn.moving_variance.numpy(), whole.moving_variance.numpy(), rtol=1e-4, atol=1e-5)
        local, local_bn = run(False)
        assert np.abs(local - expected).max() > 0.1
        assert np.abs(local_bn.moving_variance.numpy() - whole.moving_variance.numpy()).max() > 0.1
        print("SYNC-EQUAL")
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                            text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SYNC-EQUAL" in result.stdout


CONFIGS = ["biggan_cifar10", "biggan_imagenet", "biggan_imagenet256", "biggan_fashion_mnist"]


@pytest.mark.parametrize("name", CONFIGS)
def test_config_parses_and_builds(name):
    config.parse([name])
    shape = dict(num_classes=gin.query_parameter("bench.num_classes"),
                 image_size=gin.query_parameter("bench.image_size"),
                 channels=gin.query_parameter("bench.channels"))
    gan = build_gan(**shape)
    assert isinstance(gan.generator, BigGANGenerator)
    assert isinstance(gan.discriminator, BigGANDiscriminator)
    assert gan.generator.image_size == shape["image_size"]
    assert gan.generator.num_classes == shape["num_classes"] > 0
    assert gan.ema_generator is not None
    assert gan.generator.z_dim % (len(gan.generator.blocks) + 1) == 0


def test_tiny_biggan_trains_two_steps_with_finite_losses():
    config.parse(["biggan_fashion_mnist"], ["biggan_generator.ch = 2", "biggan_discriminator.ch = 4",
                                             "biggan_generator.z_dim = 16",
                                             "biggan_generator.shared_dim = 4",
                                             "build_gan.ema_start_step = 0",
                                             "build_gan.n_dis = 1"])
    gan = build_gan(num_classes=10, image_size=32, channels=1)
    gan.build_all()
    before = [v.numpy().copy() for v in gan.generator.trainable_variables]
    images = tf.random.stateless_uniform([4, 32, 32, 1], seed=[0, 1], minval=-1, maxval=1)
    data = (tf.concat([images] * gan.n_dis, 0), tf.range(4 * gan.n_dis) % 10)
    for _ in range(2):
        logs = gan.train_step(data)
        for key, value in logs.items():
            assert np.all(np.isfinite(np.asarray(value))), key
    after = gan.generator.trainable_variables
    assert any(not np.allclose(b, a.numpy()) for b, a in zip(before, after))


TINY_BIGGAN = ["biggan_generator.ch = 2", "biggan_discriminator.ch = 2", "biggan_generator.z_dim = 12",
               "biggan_generator.shared_dim = 4"]


@pytest.mark.parametrize("name, d_terms, g_terms", [
    ("cr_biggan_cifar10", ["consistency"], []),
    ("icr_biggan_cifar10", ["balanced_consistency", "latent_consistency_discriminator"],
     ["latent_consistency_generator"]),
    ("icr_biggan_imagenet", ["balanced_consistency", "latent_consistency_discriminator"],
     ["latent_consistency_generator", "orthogonal"]),
    ("biggan_imagenet", [], ["orthogonal"])])
def test_regularised_biggan_configs_build_with_the_papers_terms(name, d_terms, g_terms):
    config.parse([name], TINY_BIGGAN)
    gan = build_gan(num_classes=gin.query_parameter("bench.num_classes"),
                    image_size=gin.query_parameter("bench.image_size"), channels=3)
    assert isinstance(gan.generator, BigGANGenerator)
    assert [t.name for t in gan.d_terms] == d_terms and [t.name for t in gan.g_terms] == g_terms
    if name.startswith("icr"):
        assert gin.query_parameter("latent_consistency_discriminator.weight") == 20.0
        assert gin.query_parameter("latent_consistency_discriminator.sigma") == 0.05
