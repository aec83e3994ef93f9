"""Regularisers as small pure functions: consistency, WGAN-GP, DRAGAN and JSR (of D), and
BigGAN's orthogonal regularisation (of weights).

Each returns an unweighted float32 scalar; the caller applies the weight (lambda, gamma). The
gradient penalties take ``d_fn``, a function mapping images [B, H, W, C] to logits [B] (or
[B, 1]), and compute the gradient w.r.t. the images with an inner ``tf.GradientTape``: called
inside an outer tape, the penalty is differentiable w.r.t. D's weights (double backprop).

Per-sample gradients are taken as the gradient of the SUM of the logits, as compare_gan and the
reference implementations do: that is the per-sample gradient when D treats samples
independently (spectral norm, layer norm, no batch statistics), not with batch norm in training
mode or a minibatch-stddev layer.

Random draws come from a stateless seed (a shape-[2] int tensor); the same seed gives the same
penalty, also under XLA (see ``tfgan_icr.augment.stateless_uniform``).
"""

import gin
import tensorflow as tf

from tfgan_icr.augment import stateless_uniform

# Inside the square root of a gradient norm: keeps its derivative finite where the gradient is
# exactly zero. compare_gan adds 1e-4, which moves a norm of 1 by 5e-5; 1e-12 is lost in the sum
# for any non-negligible gradient (float32), so a unit-norm gradient gives a norm of exactly 1.
_NORM_EPS = 1e-12


def _pairs(a, b):
    """(a_leaf, b_leaf) pairs of two matching structures, skipping leaves that are None in both."""
    try:
        tf.nest.assert_same_structure(a, b)
    except (ValueError, TypeError) as error:
        raise ValueError(f"consistency_loss: the two structures do not match: {error}") from None
    pairs = []
    for i, (x, y) in enumerate(zip(tf.nest.flatten(a), tf.nest.flatten(b))):
        if x is None and y is None:
            continue
        if x is None or y is None:
            raise ValueError(f"consistency_loss: leaf {i} is None on one side only")
        pairs.append((x, y))
    return pairs


@gin.configurable
def consistency_loss(a, b):
    """mean((a - b)^2) over all elements, in float32, with gradients through both a and b.

    The consistency term of CR (Zhang et al. 2020, "Consistency Regularization for GANs") and of
    bCR / zCR (Zhao et al. 2020, "Improved Consistency Regularization for GANs"): ``a`` = D(x)
    and ``b`` = D(T(x)) (bCR), or D(G(z)) and D(G(z + noise)) for zCR's D term, etc. No
    stop-gradient on either side, as StudioGAN's public bCR/zCR code.

    ``a`` and ``b`` may be matching nested structures (tuples, lists, dicts, namedtuples), for
    example a D that returns (logits, features): the result is then the SUM over the leaves of
    each leaf's mean squared difference (each output weighted equally, whatever its size).
    Leaves that are None on both sides are ignored; no leaves at all gives 0.
    """
    total = tf.constant(0.0, tf.float32)
    for x, y in _pairs(a, b):
        x, y = tf.cast(x, tf.float32), tf.cast(y, tf.float32)
        total += tf.reduce_mean(tf.square(x - y))
    return total


def _input_gradients(d_fn, images):
    """(logits [B], d logits_i / d images_i [B, ...]) with an inner tape (double-backprop safe)."""
    with tf.GradientTape() as tape:
        tape.watch(images)
        logits = tf.reshape(tf.cast(d_fn(images), tf.float32), tf.shape(images)[:1])
        total = tf.reduce_sum(logits)
    gradients = tape.gradient(total, images)
    if gradients is None:
        raise ValueError("the discriminator's output does not depend on its input images")
    return logits, tf.cast(gradients, tf.float32)


def _squared_norms(gradients):
    """||g_i||^2 over all pixels and channels of each sample: [B]."""
    return tf.reduce_sum(tf.square(gradients), axis=tf.range(1, tf.rank(gradients)))


def _norm_penalty(d_fn, points, target):
    _, gradients = _input_gradients(d_fn, points)
    norms = tf.sqrt(_squared_norms(gradients) + _NORM_EPS)
    return tf.reduce_mean(tf.square(norms - target))


def _per_sample_uniform(images, seed):
    """One U[0, 1) draw per sample, shaped [B, 1, ..., 1] to broadcast over the sample."""
    shape = tf.concat([tf.shape(images)[:1], tf.ones([tf.rank(images) - 1], tf.int32)], axis=0)
    return stateless_uniform(shape, seed)


@gin.configurable
def gradient_penalty(d_fn, real, fake, seed, target=1.0):
    """WGAN-GP (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs"):

        x_hat = eps * real + (1 - eps) * fake,   eps ~ U[0, 1] per sample (from ``seed``),
        penalty = mean_i (||grad_x d_fn(x_hat)_i||_2 - target)^2,

    the norm taken per sample over all pixels and channels. ``target=1`` is the paper's
    (one-centred) penalty; ``target=0`` the zero-centred one. ``real`` and ``fake`` have the same
    shape. Unweighted (the paper: lambda = 10).
    """
    real, fake = tf.cast(real, tf.float32), tf.cast(fake, tf.float32)
    eps = _per_sample_uniform(real, seed)
    return _norm_penalty(d_fn, eps * real + (1.0 - eps) * fake, target)


@gin.configurable
def dragan_penalty(d_fn, real, seed, perturbation=0.5, target=1.0):
    """DRAGAN (Kodali et al. 2017, "On Convergence and Stability of GANs"), as compare_gan's
    DRAGAN model (the one of "Are GANs Created Equal?", Lucic et al. 2018):

        perturbed = real + perturbation * std(real) * u,    u ~ U[0, 1] per element,
        x_hat = real + alpha * (perturbed - real),          alpha ~ U[0, 1] per sample,
        penalty = mean_i (||grad_x d_fn(x_hat)_i||_2 - target)^2.

    std(real) is ONE number, the standard deviation over all elements of the whole batch
    (population std), as compare_gan computes it (``minibatch.std()`` in numpy; its later
    ``penalty_lib`` ``tf.nn.moments`` over all axes): the noise scale is
    a property of the data distribution the penalty smooths around, not of each image (a
    per-sample std would give a flat image no neighbourhood at all and tie the radius to each
    image's contrast). The penalised points are treated as data (no gradient flows into
    ``real`` through them), as in compare_gan, where they are fed in from numpy.

    compare_gan's later ``penalty_lib.dragan_penalty`` uses another variant (x + std * (u - 0.5),
    clipped to [0, 1], without interpolation); this function follows the form above. All
    draws come from ``seed``. Unweighted (the ICR paper's baseline: lambda = 10).
    """
    real = tf.cast(real, tf.float32)
    seed_noise, seed_alpha = (tf.random.experimental.stateless_fold_in(tf.convert_to_tensor(seed), i,
                                                                       alg="philox") for i in (0, 1))
    std = tf.math.reduce_std(real)
    perturbed = real + perturbation * std * stateless_uniform(tf.shape(real), seed_noise)
    alpha = _per_sample_uniform(real, seed_alpha)
    points = tf.stop_gradient(real + alpha * (perturbed - real))
    return _norm_penalty(d_fn, points, target)


@gin.configurable
def jensen_shannon_regularizer(d_fn, real, fake, fake_d_fn=None):
    """JSR (Roth et al. 2017, "Stabilizing Training of Generative Adversarial Networks through
    Regularization"), with D(x) = sigmoid(psi(x)) and psi = ``d_fn`` (the logits):

        Omega = E_real[(1 - D(x))^2 ||grad_x psi(x)||^2] + E_fake[D(x~)^2 ||grad_x~ psi(x~)||^2],

    each expectation the mean over its batch; gradients w.r.t. the logits function's input; no
    stop-gradient (the weights (1 - D)^2, D^2 are differentiated too, as in the authors' code).

    Returns Omega itself, WITHOUT the factor 1/2: the paper and the authors' code add
    ``(gamma / 2) * Omega`` to the discriminator's loss, so a caller reproducing them uses the
    weight gamma / 2 (the ICR paper's JSR baseline: gamma = 0.1). ``fake_d_fn`` (default
    ``d_fn``) scores the fake images, for a conditional D that needs their own labels.
    """
    real, fake = tf.cast(real, tf.float32), tf.cast(fake, tf.float32)
    real_logits, real_gradients = _input_gradients(d_fn, real)
    fake_logits, fake_gradients = _input_gradients(fake_d_fn or d_fn, fake)
    real_term = tf.square(1.0 - tf.sigmoid(real_logits)) * _squared_norms(real_gradients)
    fake_term = tf.square(tf.sigmoid(fake_logits)) * _squared_norms(fake_gradients)
    return tf.reduce_mean(real_term) + tf.reduce_mean(fake_term)


@gin.configurable
def orthogonal_regularization(weights, strength=1e-4):
    """BigGAN's orthogonal regularisation: ``strength * sum_W ||W^T W * (1 - I)||_F^2``, each
    W reshaped to ``(fan_in, filters)`` (a conv kernel [kh, kw, in, out] to [kh*kw*in, out]).

    It pushes the filters apart (pairwise cosine-like products to 0) without constraining
    their norms. ``||W^T W||_F = ||W W^T||_F``, so the Gram matrix is taken on the smaller
    side: a 20 x 24576 linear layer costs a 20 x 20 product, not 24576 x 24576.
    (BigGAN-PyTorch applies the gradient of half this value directly: its strength is 2x ours.)
    """
    total = tf.constant(0.0)
    for w in weights:
        w = tf.cast(w, tf.float32)
        w = tf.reshape(w, [-1, w.shape[-1]])
        if w.shape[1] <= w.shape[0]:
            gram = tf.matmul(w, w, transpose_a=True)
            total += tf.reduce_sum(tf.square(gram * (1.0 - tf.eye(w.shape[1]))))
        else:  # ||W^T W * (1 - I)||^2 = ||W W^T||^2 - sum_j ||w_j||^4
            gram = tf.matmul(w, w, transpose_b=True)
            column_norms = tf.reduce_sum(tf.square(w), axis=0)  # the diagonal of W^T W
            total += tf.reduce_sum(tf.square(gram)) - tf.reduce_sum(tf.square(column_norms))
    return strength * total
