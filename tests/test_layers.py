"""Tests of tfgan_icr.layers: spectral norm, (conditional) batch norm, projection head."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr.layers import (
    BatchNorm,
    ConditionalBatchNorm,
    ProjectionHead,
    SNConv2D,
    SNConv2DTranspose,
    SNDense,
    SNEmbedding,
)


def _matrix(kernel, axis=-1):
    """Kernel as the [-1, out_dim] matrix used for spectral normalisation."""
    k = np.moveaxis(np.asarray(kernel), axis, -1)
    return k.reshape(-1, k.shape[-1])


def _top_sv(m):
    return np.linalg.svd(m, compute_uv=False)[0]


def _with_gap(shape, rng, top=3.0):
    """A random [in, out] matrix whose singular values are (top, 1, 0.8, ...)."""
    a = rng.standard_normal(shape)
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    s = np.linspace(1.0, 0.5, len(s))
    s[0] = top
    return (u * s) @ vt


# --------------------------------------------------------------------- spectral norm ----
@pytest.mark.parametrize("make,x_shape,axis", [
    (lambda: SNDense(6), (2, 9), -1),
    (lambda: SNConv2D(8, 3), (2, 6, 6, 4), -1),
    (lambda: SNConv2DTranspose(5, 4, strides=2), (2, 4, 4, 3), -2),
])
def test_sn_power_iteration_converges(make, x_shape, axis):
    layer = make()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype("float32")
    layer(x, training=False)
    # a kernel whose [-1, out] matrix has singular values (3, 1, ...): a known spectral gap
    moved = np.moveaxis(np.zeros(layer.kernel.shape), axis, -1).shape
    w = _with_gap((int(np.prod(moved[:-1])), moved[-1]), rng)
    layer.kernel.assign(np.moveaxis(w.reshape(moved), -1, axis).astype("float32"))
    np.testing.assert_allclose(_matrix(layer.kernel.numpy(), axis), w, rtol=1e-5, atol=1e-6)
    u0 = layer.u.numpy().copy()
    for _ in range(20):
        layer(x, training=True)
    w_sn = _matrix(layer.normalized_kernel().numpy(), axis)
    assert abs(_top_sv(w_sn) - 1.0) < 1e-2
    assert float(layer.sigma()) == pytest.approx(3.0, rel=1e-2)
    # the stored u converged to the top right-singular vector of the [-1, out] matrix
    top = np.linalg.svd(w)[2][0]
    assert abs(abs(float(np.dot(layer.u.numpy(), top))) - 1.0) < 1e-3
    assert abs(abs(float(np.dot(u0 / np.linalg.norm(u0), top))) - 1.0) > 1e-3


def test_sn_embedding_converges_and_looks_up_normalized_rows():
    layer = SNEmbedding(7, 5)
    ids = np.array([0, 3, 6, 3])
    layer(ids)
    rng = np.random.default_rng(1)
    layer.embeddings.assign(_with_gap((7, 5), rng, top=4.0).astype("float32"))
    for _ in range(30):
        layer(ids, training=True)
    table = layer.embeddings.numpy()
    assert abs(_top_sv(layer.normalized_kernel().numpy()) - 1.0) < 1e-3
    out = layer(ids, training=False).numpy()
    np.testing.assert_allclose(out, table[ids] / _top_sv(table), rtol=1e-3, atol=1e-5)


def test_sn_training_flag_controls_u_update():
    layer = SNDense(4)
    x = np.ones((3, 5), "float32")
    layer(x)
    u0 = layer.u.numpy().copy()
    for _ in range(3):
        layer(x, training=False)
        layer(x)  # default: training=None -> no update
    np.testing.assert_array_equal(layer.u.numpy(), u0)
    layer(x, training=True)
    assert not np.allclose(layer.u.numpy(), u0)
    assert np.linalg.norm(layer.u.numpy()) == pytest.approx(1.0, abs=1e-5)
    assert not layer.u.trainable
    assert layer.u.aggregation == "mean"
    assert [v.name for v in layer.trainable_variables] == ["kernel", "bias"]


def test_sn_update_runs_inside_tf_function():
    layer = SNConv2D(4, 3)
    x = tf.ones((1, 5, 5, 2))
    layer(x)
    u0 = layer.u.numpy().copy()

    @tf.function
    def step(x):
        return layer(x, training=True)

    step(x)
    u1 = layer.u.numpy().copy()
    step(x)
    assert not np.allclose(u0, u1)
    assert not np.allclose(u1, layer.u.numpy())


def test_sn_dense_eval_formula_matches_numpy():
    layer = SNDense(3)
    x = np.random.default_rng(2).standard_normal((4, 6)).astype("float32")
    layer(x)
    layer.bias.assign(np.array([0.1, -0.2, 0.3], "float32"))
    w, u, b = layer.kernel.numpy(), layer.u.numpy(), layer.bias.numpy()
    u = u / np.linalg.norm(u)
    sigma = np.linalg.norm(w @ u)  # eval: v = l2norm(W u), sigma = v^T W u
    expected = x @ (w / sigma) + b
    np.testing.assert_allclose(layer(x, training=False).numpy(), expected, rtol=1e-5,
                               atol=1e-5)


def test_sn_gradient_flows_through_sigma():
    """After convergence the layer's gradient equals the finite-difference gradient of
    x -> x @ (W / sigma_max(W)), which includes d sigma / dW; it differs from W's gradient
    with sigma held constant."""
    rng = np.random.default_rng(3)
    layer = SNDense(4, use_bias=False, dtype="float64")
    x = rng.standard_normal((5, 6))
    g = rng.standard_normal((5, 4))
    layer(x)
    w0 = _with_gap((6, 4), rng)
    layer.kernel.assign(w0)
    for _ in range(60):
        layer(x, training=True)

    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=False) * g)
    grad = tape.gradient(loss, layer.kernel.value).numpy()

    def f(w):
        return np.sum((x @ (w / _top_sv(w))) * g)

    numeric = np.zeros_like(w0)
    eps = 1e-6
    for idx in np.ndindex(*w0.shape):
        dw = np.zeros_like(w0)
        dw[idx] = eps
        numeric[idx] = (f(w0 + dw) - f(w0 - dw)) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)

    sigma_constant_grad = x.T @ g / _top_sv(w0)
    assert np.max(np.abs(grad - sigma_constant_grad)) > 1e-2


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # keras
def test_sn_layers_config_roundtrip_and_keras_file(tmp_path):
    for layer in [SNDense(3, use_bias=False), SNConv2D(4, (3, 1), strides=2, padding="valid"),
                  SNConv2DTranspose(2, 4, strides=2), SNEmbedding(5, 3)]:
        clone = layer.__class__.from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
    model = keras.Sequential([keras.Input((6, 6, 2)), SNConv2D(3, 3), keras.layers.Flatten(),
                              SNDense(1)])
    x = np.random.default_rng(4).standard_normal((2, 6, 6, 2)).astype("float32")
    model(x, training=True)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())  # includes u
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_sn_conv_transpose_output_shape():
    layer = SNConv2DTranspose(3, 4, strides=2)
    assert layer(np.zeros((2, 5, 5, 4), "float32")).shape == (2, 10, 10, 3)
    assert layer.kernel.shape == (4, 4, 3, 4)
    assert layer.u.shape == (3,)


# ------------------------------------------------------------------------ batch norm ----
def _bn_ref(x, eps):
    axes = tuple(range(x.ndim - 1))
    return (x - x.mean(axes)) / np.sqrt(x.var(axes) + eps)


def test_batchnorm_train_and_moving_stats():
    bn = BatchNorm(momentum=0.9, epsilon=1e-5)
    x = np.random.default_rng(5).standard_normal((8, 3, 3, 4)).astype("float32") * 2 + 1
    np.testing.assert_allclose(bn(x, training=True).numpy(), _bn_ref(x, 1e-5), atol=1e-4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.1 * x.mean((0, 1, 2)), rtol=1e-4)
    np.testing.assert_allclose(bn.moving_variance.numpy(), 0.9 + 0.1 * x.var((0, 1, 2)),
                               rtol=1e-4)
    mean, var = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    out = bn(x, training=False).numpy()
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), atol=1e-4)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), mean)  # eval does not update
    assert BatchNorm.from_config(bn.get_config()).get_config() == bn.get_config()


def test_synchronized_batchnorm_without_strategy_is_plain_bn_bit_for_bit():
    # one replica (no strategy, and the default strategy's replica context): nothing to sum
    x = np.random.default_rng(7).standard_normal((6, 3, 3, 4)).astype("float32") * 2 - 1
    plain, synced = BatchNorm(momentum=0.5), BatchNorm(momentum=0.5, synchronized=True)
    np.testing.assert_array_equal(synced(x, training=True).numpy(),
                                  plain(x, training=True).numpy())
    np.testing.assert_array_equal(synced.moving_variance.numpy(), plain.moving_variance.numpy())
    with tf.distribute.get_strategy().scope():
        np.testing.assert_array_equal(synced(x, training=True).numpy(),
                                      plain(x, training=True).numpy())


def _one_hot(y, k):
    return np.eye(k, dtype="float32")[y]


def test_cbn_with_zero_kernels_is_plain_bn():
    x = np.random.default_rng(6).standard_normal((6, 4, 4, 5)).astype("float32") * 3 - 2
    y = np.array([0, 1, 2, 0, 1, 2])
    cbn = ConditionalBatchNorm(epsilon=1e-5)
    out = cbn(x, _one_hot(y, 3), training=True).numpy()
    np.testing.assert_allclose(out, _bn_ref(x, 1e-5), atol=1e-4)
    # inference uses the (updated) moving statistics of the inner BN
    mean, var = cbn.bn.moving_mean.numpy(), cbn.bn.moving_variance.numpy()
    out = cbn(x, _one_hot(y, 3), training=False).numpy()
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5), atol=1e-4)


def test_cbn_gain_and_bias_per_class():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 2, 2, 4)).astype("float32")
    y = np.array([0, 1, 2, 2, 1, 0])
    c = _one_hot(y, 3)
    cbn = ConditionalBatchNorm()
    cbn(x, c)
    gain = rng.standard_normal((3, 4)).astype("float32")
    bias = rng.standard_normal((3, 4)).astype("float32")
    cbn.gain.kernel.assign(gain)
    out = cbn(x, c, training=True).numpy()
    ref = _bn_ref(x, 1e-5)
    np.testing.assert_allclose(out, (1.0 + gain[y])[:, None, None, :] * ref, atol=1e-4)
    cbn.offset.kernel.assign(bias)
    out = cbn(x, c, training=True).numpy()
    expected = (1.0 + gain[y])[:, None, None, :] * ref + bias[y][:, None, None, :]
    np.testing.assert_allclose(out, expected, atol=1e-4)
    # the same input under different labels gives different outputs
    out_other = cbn(x, _one_hot((y + 1) % 3, 3), training=True).numpy()
    assert np.max(np.abs(out_other - out)) > 1e-2


def test_cbn_general_conditioning_vector_and_rank2_inputs():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 3)).astype("float32")
    c = rng.standard_normal((5, 7)).astype("float32")  # e.g. [embedding, z chunk]
    cbn = ConditionalBatchNorm(gain_initializer="glorot_uniform",
                               bias_initializer="glorot_uniform")
    out = cbn(x, c, training=True).numpy()
    g, b = cbn.gain.kernel.numpy(), cbn.offset.kernel.numpy()
    np.testing.assert_allclose(out, (1 + c @ g) * _bn_ref(x, 1e-5) + c @ b, atol=1e-4)


def test_cbn_spectral_norm_option_and_config():
    with pytest.raises(ValueError):
        ConditionalBatchNorm(use_spectral_norm=True)
    cbn = ConditionalBatchNorm(momentum=0.9, epsilon=1e-3, use_spectral_norm=True,
                               gain_initializer="orthogonal", bias_initializer="orthogonal")
    x = np.random.default_rng(9).standard_normal((4, 2, 2, 3)).astype("float32")
    out = cbn(x, _one_hot(np.array([0, 1, 0, 1]), 2), training=True)
    assert out.shape == x.shape and np.all(np.isfinite(out.numpy()))
    assert isinstance(cbn.gain, SNDense)
    clone = ConditionalBatchNorm.from_config(cbn.get_config())
    assert clone.get_config() == cbn.get_config()


# ------------------------------------------------------------------- projection head ----
def test_projection_head_matches_hand_computation():
    rng = np.random.default_rng(10)
    num_classes, dim = 4, 6
    h = rng.standard_normal((5, dim)).astype("float32")
    y = np.array([0, 3, 1, 3, 2], "int32")
    head = ProjectionHead(num_classes)
    out = head(h, y)
    assert out.shape == (5,)
    k = rng.standard_normal((dim, 1)).astype("float32")
    emb = rng.standard_normal((num_classes, dim)).astype("float32")
    head.linear.kernel.assign(k)
    head.linear.bias.assign(np.array([0.25], "float32"))
    head.embedding.embeddings.assign(emb)
    # put u at the exact top singular vectors so sigma is the exact spectral norm
    head.linear.u.assign(np.array([1.0], "float32"))
    _, s, vt = np.linalg.svd(emb)
    head.embedding.u.assign(vt[0].astype("float32"))
    expected = (h @ (k / np.linalg.norm(k)))[:, 0] + 0.25 + np.sum(emb[y] / s[0] * h, axis=-1)
    np.testing.assert_allclose(head(h, y, training=False).numpy(), expected, rtol=1e-4,
                               atol=1e-5)
    assert ProjectionHead.from_config(head.get_config()).get_config() == head.get_config()
    with pytest.raises(ValueError):
        ProjectionHead(0)
