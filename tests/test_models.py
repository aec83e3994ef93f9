"""Tests of tfgan_icr.models: SNDCGAN and SNGAN-ResNet generators / discriminators."""

import os
import subprocess
import sys
import textwrap

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr.layers import ConditionalBatchNorm, SNConv2D
from tfgan_icr.models import (
    ResNetGenerator,
    SNDCGANDiscriminator,
    SNDCGANGenerator,
    resnet_discriminator,
    resnet_generator,
    sndcgan_discriminator,
    sndcgan_generator,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ARCHS = {
    "sndcgan": (sndcgan_generator, sndcgan_discriminator),
    "resnet": (resnet_generator, resnet_discriminator),
}


def _inputs(batch, z_dim, num_classes, seed=0):
    rng = np.random.default_rng(seed)
    z = tf.constant(rng.standard_normal((batch, z_dim)), tf.float32)
    labels = tf.constant(rng.integers(0, max(num_classes, 1), batch), tf.int32)
    return z, labels


def _sublayers(model, cls):
    return [layer for layer in model._flatten_layers() if isinstance(layer, cls)]


def _randomize_cbn(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in _sublayers(model, ConditionalBatchNorm):
        for dense in (layer.gain, layer.offset):
            dense.kernel.assign(0.5 * rng.standard_normal(dense.kernel.shape))


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("num_classes", [0, 5])
def test_shapes_ranges_and_attributes(arch, num_classes):
    make_g, make_d = ARCHS[arch]
    g = make_g(z_dim=16, ch=8, num_classes=num_classes, channels=3)
    d = make_d(ch=8, num_classes=num_classes, channels=3)
    assert (g.z_dim, g.num_classes, g.image_size, g.channels) == (16, num_classes, 32, 3)
    assert (d.num_classes, d.image_size, d.channels) == (num_classes, 32, 3)
    z, labels = _inputs(4, 16, num_classes)
    for training in (False, True):
        images = g(z, labels, training=training)
        assert images.shape == (4, 32, 32, 3) and images.dtype == tf.float32
        assert np.all(np.abs(images.numpy()) <= 1.0) and images.numpy().std() > 1e-3
        logits = d(images, labels, training=training).logits
        assert logits.shape == (4,) and logits.dtype == tf.float32
        assert np.all(np.isfinite(logits.numpy()))
    if num_classes:
        with pytest.raises(ValueError):
            g(z)
        with pytest.raises(ValueError):
            d(images)
        other = (labels + 1) % num_classes
        # the projection head makes D label-dependent from the start
        assert np.max(np.abs(d(images, labels).logits.numpy() - d(images, other).logits.numpy())) > 1e-4
        # zero-initialised CBN kernels: at init G is label-independent by design ...
        np.testing.assert_allclose(g(z, labels).numpy(), g(z, other).numpy(), atol=1e-6)
        _randomize_cbn(g)  # ... and label-dependent once the CBN kernels are non-zero
        assert np.max(np.abs(g(z, labels).numpy() - g(z, other).numpy())) > 1e-3
    else:  # unconditional models accept and ignore labels
        np.testing.assert_allclose(g(z).numpy(), g(z, labels).numpy())
        np.testing.assert_allclose(d(images).logits.numpy(), d(images, labels).logits.numpy())


def test_image_size_validation():
    assert sndcgan_generator(ch=4, z_dim=8, image_size=24, channels=1)(
        tf.zeros((2, 8))).shape == (2, 24, 24, 1)
    assert sndcgan_discriminator(ch=4, image_size=24, channels=1)(
        tf.zeros((2, 24, 24, 1))).logits.shape == (2,)
    for factory in (sndcgan_generator, sndcgan_discriminator, resnet_generator,
                    resnet_discriminator):
        with pytest.raises(ValueError):
            factory(image_size=28)
    for factory in (resnet_generator, resnet_discriminator):
        with pytest.raises(ValueError):
            factory(image_size=64)
        factory(ch=4, image_size=32)  # accepted


def _n_params(variables):
    return int(sum(np.prod(v.shape) for v in variables))


def test_sndcgan_structure_and_full_size_parameter_counts():
    d = sndcgan_discriminator()  # ch=64, as in the paper
    d(tf.zeros((1, 32, 32, 3)))
    convs = _sublayers(d, SNConv2D)
    assert [c.filters for c in convs] == [64, 64, 128, 128, 256, 256, 512]
    assert [c.kernel_size[0] for c in convs] == [3, 4, 3, 4, 3, 4, 3]
    assert [c.strides[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1]
    assert len(d.trainable_variables) == 7 * 2 + 2  # 7 convs + linear head, with biases
    assert len(d.non_trainable_variables) == 8  # one u per SN layer
    expected = 0
    c_in = 3
    for c in convs:
        k, c_out = c.kernel_size[0], c.filters
        expected += k * k * c_in * c_out + c_out
        c_in = c_out
    expected += 4 * 4 * 512 + 1
    assert _n_params(d.trainable_variables) == expected

    g = sndcgan_generator()
    g(tf.zeros((1, 128)))
    # dense + 3 transposed convs (no bias: BN follows) + output conv; 4 BN (gamma, beta)
    assert len(g.trainable_variables) == 1 + 3 + 2 + 4 * 2
    expected_g = (128 * 4 * 4 * 512 + 4 * 4 * (512 * 256 + 256 * 128 + 128 * 64)
                  + 3 * 3 * 64 * 3 + 3 + 2 * (512 + 256 + 128 + 64))
    assert _n_params(g.trainable_variables) == expected_g

    dc = sndcgan_discriminator(ch=8, num_classes=10)
    dc(tf.zeros((1, 32, 32, 3)), tf.zeros((1,), tf.int32))
    assert len(dc.trainable_variables) == 7 * 2 + 3  # + class embedding
    assert len(dc.non_trainable_variables) == 9


def test_sndcgan_compare_gan_layout_has_the_reference_parameter_counts():
    # compare_gan's architectures/sndcgan.py, the ICR paper's SNDCGAN (unconditional, ch 64).
    d = sndcgan_discriminator(layout="compare_gan")
    d(tf.zeros((1, 32, 32, 3)))
    convs = _sublayers(d, SNConv2D)
    assert [c.filters for c in convs] == [64, 128, 128, 256, 256, 512, 512]
    assert [c.kernel_size[0] for c in convs] == [3, 4, 3, 4, 3, 4, 3]
    assert [c.strides[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1]
    assert _n_params(d.trainable_variables) == 5_860_865  # spectral-norm u's are not trainable
    assert len(d.non_trainable_variables) == 8
    # The SNGAN Table 3 / StudioGAN layout stays the default (2.94M, see the test above).
    assert sndcgan_discriminator().layout == "sngan" and sndcgan_generator().layout == "sngan"

    g = sndcgan_generator(layout="compare_gan")
    g(tf.zeros((1, 128)))
    # compare_gan: g_fc1 (with bias) -> BN over its 8192 units -> ReLU -> reshape; three 4x4/2
    # deconvs with bias, each BN + ReLU; a 3x3/1 deconv to the colours, with bias.
    assert g.norm0.moving_mean.shape == (8192,)
    expected_g = (128 * 8192 + 8192 + 2 * 8192
                  + 4 * 4 * 512 * 256 + 256 + 2 * 256
                  + 4 * 4 * 256 * 128 + 128 + 2 * 128
                  + 4 * 4 * 128 * 64 + 64 + 2 * 64
                  + 3 * 3 * 64 * 3 + 3)
    assert expected_g == 3_828_739
    assert _n_params(g.trainable_variables) == expected_g
    assert isinstance(g.conv_out, keras.layers.Conv2DTranspose)

    # Conditional: class-conditional BN on the dense units and a projection head both work.
    gc = sndcgan_generator(ch=8, z_dim=16, num_classes=5, layout="compare_gan")
    dc = sndcgan_discriminator(ch=8, num_classes=5, layout="compare_gan")
    z, labels = _inputs(4, 16, 5)
    images = gc(z, labels, training=True)
    assert images.shape == (4, 32, 32, 3)
    assert dc(images, labels).logits.shape == (4,)
    with pytest.raises(ValueError, match="unknown SNDCGAN layout"):
        sndcgan_discriminator(layout="studiogan")


def test_sndcgan_batch_norm_settings_reach_every_norm_and_the_config():
    g = sndcgan_generator(ch=4, z_dim=8, bn_momentum=0.999, bn_epsilon=1e-3)
    g(tf.zeros((2, 8)), training=True)
    norms = [getattr(g, f"norm{i}") for i in range(4)]
    assert all(n.momentum == 0.999 and n.epsilon == 1e-3 for n in norms)
    config = g.get_config()
    assert config["bn_momentum"] == 0.999 and config["bn_epsilon"] == 1e-3
    assert config["layout"] == "sngan"
    clone = SNDCGANGenerator.from_config(config)
    assert clone.norm1.momentum == 0.999 and clone.norm1.epsilon == 1e-3
    # Defaults: this project's 0.99 / 1e-5 (what the quickstart config was trained with).
    default = sndcgan_generator(ch=4, z_dim=8)
    assert default.norm0.momentum == 0.99 and default.norm0.epsilon == 1e-5


def test_resnet_structure_and_full_size_parameter_counts():
    d = resnet_discriminator()
    d(tf.zeros((1, 32, 32, 3)))
    assert len(_sublayers(d, SNConv2D)) == 3 + 3 + 2 + 2
    assert len(d.trainable_variables) == 10 * 2 + 2
    # Miyato et al.'s CIFAR ResNet D (ch=128): 1,054,464 conv params + 129 head
    convs = 3 * 3 * 3 * 128 + 128 + 9 * 128 * 128 * 7 + 128 * 7 + 3 * 128 + 128 + 128 * 129
    assert _n_params(d.trainable_variables) == convs + 129

    g = resnet_generator()
    g(tf.zeros((1, 128)))
    block = (2 * 256 + 9 * 256 * 256 + 2 * 256 + 9 * 256 * 256 + 256 + 256 * 256 + 256)
    expected = 128 * 4096 + 4096 + 3 * block + 2 * 256 + 9 * 256 * 3 + 3
    assert _n_params(g.trainable_variables) == expected


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_training_flag_state_updates_and_gradients_in_tf_function(arch):
    make_g, make_d = ARCHS[arch]
    g = make_g(z_dim=16, ch=8, num_classes=3)
    d = make_d(ch=8, num_classes=3)
    z, labels = _inputs(4, 16, 3)
    d(g(z, labels), labels)  # one call on dummy inputs creates every variable
    n_vars = (len(g.variables), len(d.variables))
    state = [v.numpy().copy() for v in g.non_trainable_variables + d.non_trainable_variables]

    @tf.function
    def forward(z, labels):
        return d(g(z, labels, training=False), labels, training=False).logits

    forward(z, labels)
    for v, s in zip(g.non_trainable_variables + d.non_trainable_variables, state):
        np.testing.assert_array_equal(v.numpy(), s)  # training=False: BN stats and u fixed

    @tf.function
    def step(z, labels):
        with tf.GradientTape(persistent=True) as tape:
            logits = d(g(z, labels, training=True), labels, training=True).logits
            loss = tf.reduce_mean(tf.nn.softplus(-logits))
        return tape.gradient(loss, g.trainable_variables), tape.gradient(
            loss, d.trainable_variables)

    g_grads, d_grads = step(z, labels)
    assert (len(g.variables), len(d.variables)) == n_vars  # nothing created lazily
    assert all(gr is not None for gr in g_grads + d_grads)
    assert all(np.all(np.isfinite(gr.numpy())) for gr in g_grads + d_grads)
    for v, s in zip(g.non_trainable_variables + d.non_trainable_variables, state):
        assert not np.array_equal(v.numpy(), s), v.path  # every BN stat and u updated


@pytest.mark.parametrize("cls,kwargs", [
    (SNDCGANGenerator, {"z_dim": 8, "ch": 4, "num_classes": 3, "image_size": 16, "channels": 1}),
    (SNDCGANDiscriminator, {"ch": 4, "num_classes": 3, "image_size": 16, "channels": 1}),
    (ResNetGenerator, {"z_dim": 8, "ch": 4, "num_classes": 0}),
])
def test_model_config_roundtrip(cls, kwargs):
    model = cls(**kwargs)
    clone = cls.from_config(model.get_config())
    for key, value in kwargs.items():
        assert getattr(clone, key) == value


def _built_pair(arch, num_classes=3):
    make_g, make_d = ARCHS[arch]
    g = make_g(z_dim=8, ch=4, num_classes=num_classes)
    d = make_d(ch=4, num_classes=num_classes)
    z, labels = _inputs(4, 8, num_classes)
    images = g(z, labels, training=True)  # creates variables and moves BN stats / u
    d(images, labels, training=True)
    _randomize_cbn(g)
    return g, d, z, labels, images


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # keras
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_checkpoint_and_keras_file_roundtrip(arch, tmp_path):
    """Every variable (also u and BN statistics) is saved by tf.train.Checkpoint and in
    .keras files; layers kept in Python lists would silently be left out of checkpoints."""
    g, d, z, labels, images = _built_pair(arch)
    path = tf.train.Checkpoint(g=g, d=d).save(str(tmp_path / "ckpt"))
    g2, d2, *_ = _built_pair(arch)
    tf.train.Checkpoint(g=g2, d=d2).restore(path).assert_consumed()
    for a, b in zip(g.weights + d.weights, g2.weights + d2.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    np.testing.assert_array_equal(g2(z, labels).numpy(), g(z, labels).numpy())

    for model, args in ((g, (z, labels)), (d, (images, labels))):
        file = str(tmp_path / f"{model.name}.keras")
        model.save(file)
        loaded = keras.models.load_model(file)
        assert type(loaded) is type(model)
        for a, b in zip(model.weights, loaded.weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
        def first(output):
            return getattr(output, "logits", output).numpy()
        np.testing.assert_allclose(first(loaded(*args)), first(model(*args)), rtol=1e-6, atol=1e-6)


def test_factories_are_gin_configurable():
    gin.clear_config()
    try:
        gin.parse_config("""
            sndcgan_generator.ch = 4
            sndcgan_generator.z_dim = 8
            resnet_discriminator.num_classes = 7
        """)
        assert sndcgan_generator().ch == 4 and sndcgan_generator().z_dim == 8
        assert resnet_discriminator().num_classes == 7
    finally:
        gin.clear_config()
    assert sndcgan_generator().ch == 64


_MIRRORED_SCRIPT = textwrap.dedent("""
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tfgan_icr import models

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    for arch in ("sndcgan", "resnet"):
        make_g = getattr(models, arch + "_generator")
        make_d = getattr(models, arch + "_discriminator")
        with strategy.scope():
            g = make_g(z_dim=8, ch=8, num_classes=3)
            d = make_d(ch=8, num_classes=3)
            d(g(tf.zeros([2, 8]), tf.zeros([2], tf.int32)), tf.zeros([2], tf.int32))

        @tf.function
        def step(z, labels):
            def replica_fn(z, labels):
                with tf.GradientTape() as tape:
                    logits = d(g(z, labels, training=True), labels, training=True).logits
                    loss = tf.reduce_sum(tf.nn.softplus(-logits)) / 8.0
                grads = tape.gradient(loss, d.trainable_variables)
                return logits, tf.add_n([tf.reduce_sum(x) for x in grads])
            return strategy.run(replica_fn, args=(z, labels))

        ds = tf.data.Dataset.from_tensors(
            (tf.random.normal([8, 8]), tf.constant([0, 1, 2, 0, 1, 2, 0, 1], tf.int32)))
        for z, labels in strategy.experimental_distribute_dataset(ds):
            logits, gsum = step(z, labels)
        local = strategy.experimental_local_results(logits)
        assert len(local) == 2 and all(x.shape == (4,) for x in local), local
        assert all(np.isfinite(x.numpy()).all() for x in local)
        # u and the BN moving statistics are mean-aggregated: replicas stay identical
        for v in g.non_trainable_variables + d.non_trainable_variables:
            copies = [c.numpy() for c in v.value.values]
            assert len(copies) == 2, v.path
            np.testing.assert_allclose(copies[0], copies[1], rtol=1e-6, atol=1e-7,
                                       err_msg=v.path)
    print("MIRRORED_OK")
""")


def test_models_under_mirrored_strategy_with_two_logical_cpus():
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-c", _MIRRORED_SCRIPT], env=env, cwd=REPO_ROOT,
                          check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "MIRRORED_OK" in proc.stdout, (
        proc.stdout[-3000:] + proc.stderr[-5000:])
