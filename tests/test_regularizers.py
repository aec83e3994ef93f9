import collections

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr import regularizers
from tfgan_icr.augment import stateless_uniform

SEED = tf.constant([3, 5], tf.int32)
OTHER_SEED = tf.constant([3, 6], tf.int32)
SHAPE = (4, 6, 5, 3)

A = np.arange(12, dtype=np.float32).reshape(3, 4) / 7.0
B = np.cos(np.arange(12, dtype=np.float32)).reshape(3, 4)


def images(seed, shape=SHAPE):
    return tf.random.stateless_uniform(shape, seed=seed, minval=-1.0, maxval=1.0)


REAL, FAKE = images([1, 1]), images([2, 2])


def linear_d(w, bias=0.0):
    """d_fn(x) = sum(w * x) + bias per sample: its input gradient is w everywhere."""
    return lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3]) + bias


def unit_weights(norm=1.0, shape=SHAPE[1:]):
    w = tf.random.stateless_normal(shape, seed=[9, 9])
    return norm * w / tf.norm(w)


def small_d():
    return keras.Sequential([keras.Input(SHAPE[1:]), keras.layers.Conv2D(4, 3, activation="tanh"),
                             keras.layers.Flatten(), keras.layers.Dense(8, activation="softplus"),
                             keras.layers.Dense(1)])


# consistency_loss -----------------------------------------------------------------------------

def test_consistency_loss_matches_numpy():
    assert float(regularizers.consistency_loss(A, B)) == pytest.approx(np.mean((A - B) ** 2), rel=1e-6)
    assert float(regularizers.consistency_loss(A, A)) == 0.0


def test_consistency_loss_is_float32_whatever_the_input_dtype():
    out = regularizers.consistency_loss(tf.constant(A, tf.float16), tf.constant(B, tf.float16))
    assert out.dtype == tf.float32 and out.shape == ()
    assert float(out) == pytest.approx(np.mean((A - B) ** 2), rel=1e-2)


def test_consistency_loss_sums_the_per_leaf_means_of_structures():
    Out = collections.namedtuple("Out", ["logits", "features"])
    small_a, small_b = A[:, :1], B[:, :1]
    expected = np.mean((A - B) ** 2) + np.mean((small_a - small_b) ** 2)
    assert float(regularizers.consistency_loss((A, small_a), (B, small_b))) == pytest.approx(expected, rel=1e-6)
    assert float(regularizers.consistency_loss({"x": A, "y": small_a}, {"x": B, "y": small_b})) == \
        pytest.approx(expected, rel=1e-6)
    named = regularizers.consistency_loss(Out(A, small_a), Out(B, small_b))
    assert float(named) == pytest.approx(expected, rel=1e-6)
    # None leaves (on both sides) are ignored.
    assert float(regularizers.consistency_loss((A, None), (B, None))) == pytest.approx(np.mean((A - B) ** 2))
    assert float(regularizers.consistency_loss((None,), (None,))) == 0.0


def test_consistency_loss_rejects_mismatched_structures():
    with pytest.raises(ValueError):
        regularizers.consistency_loss((A, A), (B,))
    with pytest.raises(ValueError, match="None"):
        regularizers.consistency_loss((A, None), (B, B))


def test_consistency_loss_gradient_flows_to_both_arguments():
    a, b = tf.Variable(A), tf.Variable(B)
    with tf.GradientTape() as tape:
        loss = regularizers.consistency_loss(a, b)
    grad_a, grad_b = tape.gradient(loss, [a, b])
    np.testing.assert_allclose(grad_a.numpy(), 2 * (A - B) / A.size, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad_b.numpy(), -2 * (A - B) / A.size, rtol=1e-5, atol=1e-7)


# gradient penalties ---------------------------------------------------------------------------

PENALTIES = {
    "gp": lambda d_fn, seed=SEED, **kw: regularizers.gradient_penalty(d_fn, REAL, FAKE, seed, **kw),
    "dragan": lambda d_fn, seed=SEED, **kw: regularizers.dragan_penalty(d_fn, REAL, seed, **kw),
}


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalty_is_zero_for_a_linear_d_with_unit_norm_weights(name):
    assert abs(float(PENALTIES[name](linear_d(unit_weights(1.0), bias=0.3)))) <= 1e-6


@pytest.mark.parametrize("norm", [0.25, 3.0])
@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalty_is_squared_norm_error_for_a_linear_d(name, norm):
    assert float(PENALTIES[name](linear_d(unit_weights(norm)))) == pytest.approx((norm - 1.0) ** 2, rel=1e-5)


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalty_with_target_zero_is_the_squared_norm(name):
    assert float(PENALTIES[name](linear_d(unit_weights(3.0)), target=0.0)) == pytest.approx(9.0, rel=1e-5)


def quadratic_d(x):
    """0.5 ||x||^2 per sample: its input gradient at x is x itself, so the penalty sees the points."""
    return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])


def expected_norm_penalty(points, target=1.0):
    norms = np.sqrt((points.reshape(len(points), -1) ** 2).sum(axis=1))
    return np.mean((norms - target) ** 2)


def test_gradient_penalty_interpolates_per_sample_between_real_and_fake():
    eps = stateless_uniform([SHAPE[0], 1, 1, 1], SEED).numpy()
    assert len(np.unique(eps)) == SHAPE[0]
    points = eps * REAL.numpy() + (1 - eps) * FAKE.numpy()
    out = regularizers.gradient_penalty(quadratic_d, REAL, FAKE, SEED)
    assert float(out) == pytest.approx(expected_norm_penalty(points), rel=1e-5)


def test_dragan_perturbs_with_the_batch_std_and_interpolates_per_sample():
    real = REAL.numpy() * np.array([0.2, 1.0, 0.5, 0.9], np.float32)[:, None, None, None]  # unequal stds
    noise_seed, alpha_seed = (tf.random.experimental.stateless_fold_in(SEED, i, alg="philox") for i in (0, 1))
    noise = stateless_uniform(SHAPE, noise_seed).numpy()
    alpha = stateless_uniform([SHAPE[0], 1, 1, 1], alpha_seed).numpy()
    perturbed = real + 0.5 * real.std() * noise  # one std over the whole batch
    points = real + alpha * (perturbed - real)
    out = regularizers.dragan_penalty(quadratic_d, real, SEED)
    assert float(out) == pytest.approx(expected_norm_penalty(points), rel=1e-5)
    # perturbation scales the neighbourhood: 0 puts the points on the real images.
    zero = regularizers.dragan_penalty(quadratic_d, real, SEED, perturbation=0.0)
    assert float(zero) == pytest.approx(expected_norm_penalty(real), rel=1e-5)


@pytest.mark.parametrize("name", sorted(PENALTIES))
def test_penalty_is_reproducible_from_the_seed(name):
    d = small_d()
    first, again = float(PENALTIES[name](d)), float(PENALTIES[name](d, seed=tf.identity(SEED)))
    assert first == again
    assert float(PENALTIES[name](d, seed=OTHER_SEED)) != first
    assert float(PENALTIES[name](d, seed=tf.constant([3, 5], tf.int64))) == first


# JSR ------------------------------------------------------------------------------------------

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_jsr_for_a_linear_d_matches_a_hand_computation():
    w, bias = unit_weights(1.7), 0.4
    real, fake = REAL.numpy(), images([4, 4], shape=(7,) + SHAPE[1:]).numpy()  # different batch sizes
    real_logits = (real * w.numpy()).sum(axis=(1, 2, 3)) + bias
    fake_logits = (fake * w.numpy()).sum(axis=(1, 2, 3)) + bias
    squared_norm = 1.7 ** 2
    expected = (np.mean((1 - sigmoid(real_logits)) ** 2 * squared_norm)
                + np.mean(sigmoid(fake_logits) ** 2 * squared_norm))
    out = regularizers.jensen_shannon_regularizer(linear_d(w, bias), real, fake)
    assert out.dtype == tf.float32 and out.shape == ()
    assert float(out) == pytest.approx(expected, rel=1e-5)


def test_jsr_accepts_column_logits():
    d = small_d()
    column = float(regularizers.jensen_shannon_regularizer(d, REAL, FAKE))
    flat = float(regularizers.jensen_shannon_regularizer(lambda x: tf.reshape(d(x), [-1]), REAL, FAKE))
    assert column == pytest.approx(flat, rel=1e-6) and column > 0


# double backprop ------------------------------------------------------------------------------

REGULARIZERS = {
    "gp": lambda d: regularizers.gradient_penalty(d, REAL, FAKE, SEED),
    "dragan": lambda d: regularizers.dragan_penalty(d, REAL, SEED),
    "jsr": lambda d: regularizers.jensen_shannon_regularizer(d, REAL, FAKE),
}


@pytest.mark.parametrize("name", sorted(REGULARIZERS))
def test_outer_gradient_wrt_d_weights_exists_and_is_non_zero(name):
    d = small_d()
    with tf.GradientTape() as tape:
        penalty = REGULARIZERS[name](d)
    variables = d.trainable_variables
    grads = dict(zip([v.path for v in variables], tape.gradient(penalty, variables)))
    kernels = [g for path, g in grads.items() if "kernel" in path]
    assert len(kernels) == 3
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in kernels)
    assert all(float(tf.reduce_sum(tf.abs(g))) > 0 for g in kernels)
    # The input gradient does not depend on the output bias; JSR's sigmoid(D(x)) weights do.
    output_bias = grads[variables[-1].path]
    assert (output_bias is None) == (name != "jsr")


@pytest.mark.parametrize("name", ["gp", "dragan"])
def test_outer_gradient_matches_the_analytic_one_for_a_linear_d(name):
    # penalty = (||w|| - 1)^2, so d penalty / dw = 2 (||w|| - 1) w / ||w||.
    w = tf.Variable(unit_weights(2.5))
    with tf.GradientTape() as tape:
        penalty = PENALTIES[name](linear_d(w))
    grad = tape.gradient(penalty, w)
    np.testing.assert_allclose(grad.numpy(), 2 * (2.5 - 1) * w.numpy() / 2.5, rtol=1e-4, atol=1e-6)


def test_penalties_run_under_xla_and_with_an_unknown_batch_size():
    d = small_d()
    d(REAL)

    def all_terms(real, fake, seed):
        return (regularizers.gradient_penalty(d, real, fake, seed), regularizers.dragan_penalty(d, real, seed),
                regularizers.jensen_shannon_regularizer(d, real, fake))

    eager = [float(t) for t in all_terms(REAL, FAKE, SEED)]
    compiled = tf.function(all_terms, jit_compile=True)(REAL, FAKE, SEED)
    np.testing.assert_allclose([float(t) for t in compiled], eager, rtol=1e-4)
    spec = tf.TensorSpec((None,) + SHAPE[1:], tf.float32)
    traced = tf.function(all_terms, input_signature=[spec, spec, tf.TensorSpec([2], tf.int32)])
    np.testing.assert_allclose([float(t) for t in traced(REAL, FAKE, SEED)], eager, rtol=1e-5)


def test_penalty_parameters_are_configured_by_gin():
    gin.parse_config("gradient_penalty.target = 0.0\ndragan_penalty.target = 0.0")
    d_fn = linear_d(unit_weights(3.0))
    assert float(regularizers.gradient_penalty(d_fn, REAL, FAKE, SEED)) == pytest.approx(9.0, rel=1e-5)
    assert float(regularizers.dragan_penalty(d_fn, REAL, SEED)) == pytest.approx(9.0, rel=1e-5)


# -- orthogonal regularisation (BigGAN) ---------------------------------------------------

def _orthogonal_by_definition(weights, strength):
    total = 0.0
    for w in weights:
        w = np.asarray(w, np.float64).reshape(-1, np.shape(w)[-1])
        gram = w.T @ w
        total += np.sum((gram * (1 - np.eye(gram.shape[0]))) ** 2)
    return strength * total


def test_orthogonal_regularization_is_zero_for_orthonormal_and_scaled_orthogonal_columns():
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(12, 5)))
    assert float(regularizers.orthogonal_regularization([q.astype(np.float32)], 1.0)) == pytest.approx(0, abs=1e-5)
    # Only the off-diagonal is penalised: columns of different norms, still orthogonal, give 0.
    scaled = (q * np.array([1, 2, 3, 4, 5])).astype(np.float32)
    assert float(regularizers.orthogonal_regularization([scaled], 1.0)) == pytest.approx(0, abs=1e-4)


def test_orthogonal_regularization_by_hand():
    w = np.array([[1.0, 1.0], [0.0, 1.0]], np.float32)  # W^T W = [[1, 1], [1, 2]]
    assert float(regularizers.orthogonal_regularization([w], 0.5)) == pytest.approx(0.5 * 2 * 1.0)


@pytest.mark.parametrize("shape", [(30, 4), (4, 30), (3, 3, 2, 6), (3, 3, 8, 4)])
def test_orthogonal_regularization_matches_the_definition_on_either_side(shape):
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=shape).astype(np.float32), rng.normal(size=(5, 7)).astype(np.float32)]
    got = float(regularizers.orthogonal_regularization(weights, 1e-2))
    assert got == pytest.approx(_orthogonal_by_definition(weights, 1e-2), rel=1e-4)


def test_orthogonal_term_covers_the_generator_kernels_but_not_the_shared_embedding():
    import keras

    from tfgan_icr.methods.orthogonal import orthogonal, regularized_weights

    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.shared = keras.layers.Embedding(10, 4)
            self.conv = keras.layers.Conv2D(3, 3)
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(keras.ops.mean(self.conv(x), axis=(1, 2)))

    net = Net()
    net(np.zeros((1, 5, 5, 2), np.float32))
    net.shared(np.zeros((1,), np.int32))
    chosen = regularized_weights(net)
    assert [tuple(w.shape) for w in chosen] == [(3, 3, 2, 3), (3, 2)]  # conv and dense kernels; no biases

    class Ctx:
        side, generator, discriminator = "g", net, None

    expected = _orthogonal_by_definition([w.numpy() for w in chosen], 1e-4)
    assert float(orthogonal(Ctx(), strength=1e-4)) == pytest.approx(expected, rel=1e-4)
    with pytest.raises(Exception, match="no weight matrix left"):
        orthogonal(Ctx(), exclude=("conv", "dense", "shared"))
