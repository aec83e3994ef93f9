"""Adversarial losses: small pure functions of the discriminator's raw outputs (logits).

Every function reduces with the mean over the batch. Discriminator losses take
``(real_logits, fake_logits)``; generator losses take ``fake_logits``. They are written
with ``keras.ops`` so they run on any Keras backend and inside ``tf.function``.
Each is registered with gin, so configs name them: ``build_gan.discriminator_loss = @hinge_discriminator_loss``.
"""

import gin
from keras import ops


def _flat(logits):
    return ops.reshape(ops.cast(logits, "float32"), (-1,))


@gin.configurable
def non_saturating_discriminator_loss(real_logits, fake_logits):
    """-log D(x) - log(1 - D(G(z))) with D = sigmoid(logits) (Goodfellow et al. 2014)."""
    real_logits, fake_logits = _flat(real_logits), _flat(fake_logits)
    return ops.mean(ops.softplus(-real_logits)) + ops.mean(ops.softplus(fake_logits))


@gin.configurable
def non_saturating_generator_loss(fake_logits):
    """-log D(G(z)): the non-saturating generator objective."""
    return ops.mean(ops.softplus(-_flat(fake_logits)))


@gin.configurable
def hinge_discriminator_loss(real_logits, fake_logits):
    """mean(relu(1 - D(x))) + mean(relu(1 + D(G(z)))) (Lim & Ye 2017; Miyato et al. 2018)."""
    real_logits, fake_logits = _flat(real_logits), _flat(fake_logits)
    return ops.mean(ops.relu(1.0 - real_logits)) + ops.mean(ops.relu(1.0 + fake_logits))


@gin.configurable
def hinge_generator_loss(fake_logits):
    """-mean(D(G(z)))."""
    return -ops.mean(_flat(fake_logits))


@gin.configurable
def wasserstein_discriminator_loss(real_logits, fake_logits):
    """mean(D(G(z))) - mean(D(x)) (Arjovsky et al. 2017); pair it with a Lipschitz constraint."""
    return ops.mean(_flat(fake_logits)) - ops.mean(_flat(real_logits))


@gin.configurable
def wasserstein_generator_loss(fake_logits):
    """-mean(D(G(z)))."""
    return -ops.mean(_flat(fake_logits))


@gin.configurable
def least_squares_discriminator_loss(real_logits, fake_logits):
    """0.5 mean((D(x) - 1)^2) + 0.5 mean(D(G(z))^2) on raw outputs (Mao et al. 2017)."""
    real_logits, fake_logits = _flat(real_logits), _flat(fake_logits)
    return 0.5 * ops.mean(ops.square(real_logits - 1.0)) + 0.5 * ops.mean(ops.square(fake_logits))


@gin.configurable
def least_squares_generator_loss(fake_logits):
    """0.5 mean((D(G(z)) - 1)^2)."""
    return 0.5 * ops.mean(ops.square(_flat(fake_logits) - 1.0))


# -- class-conditional auxiliary losses (ContraGAN, ACGAN) ---------------------------------

_MASKED = -1e9  # a log-similarity that exp() sends to exactly 0, finite so gradients stay finite


def _l2_normalized(x, epsilon=1e-12):
    x = ops.cast(x, "float32")
    return x / ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), epsilon))


@gin.configurable
def conditional_contrastive_loss(embeddings, proxies, labels, temperature=1.0):
    """ContraGAN's 2C loss (Kang & Park 2020; StudioGAN v0.4's definition).

    With e_i = embeddings_i / |embeddings_i| [B, E], p_i = proxies_i / |proxies_i| (the
    embedding of sample i's class) and t the temperature::

        num_i = exp(e_i.p_i / t) + sum_{k != i, y_k = y_i} exp(e_i.e_k / t)
        den_i = exp(e_i.p_i / t) + sum_{k != i}            exp(e_i.e_k / t)
        loss  = mean_i -log(num_i / den_i)

    computed as ``softplus(log neg_i - log num_i)`` with log-sum-exps, ``neg_i = den_i - num_i``
    (stable and accurate for small t). StudioGAN writes
    ``-log(t * num / den)``: that differs by the constant ``-log t`` (0 at its t = 1), no
    gradient, and is not followed here.
    """
    temperature = float(temperature)
    if temperature <= 0:
        raise ValueError(f"conditional_contrastive_loss: temperature must be > 0, got {temperature}")
    e = _l2_normalized(embeddings)
    p = _l2_normalized(proxies)
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    size = ops.shape(e)[0]
    to_proxy = ops.sum(e * p, axis=-1, keepdims=True) / temperature           # [B, 1]
    to_others = ops.matmul(e, ops.transpose(e)) / temperature                  # [B, B]
    others = ops.logical_not(ops.cast(ops.eye(size), "bool"))
    positives = ops.logical_and(others, ops.equal(labels[:, None], labels[None, :]))
    negatives = ops.logical_and(others, ops.logical_not(positives))
    log_num = ops.logsumexp(ops.concatenate(
        [to_proxy, ops.where(positives, to_others, _MASKED)], axis=1), axis=1)
    log_neg = ops.logsumexp(ops.where(negatives, to_others, _MASKED), axis=1)
    # -log(num / den) = log(1 + neg / num): softplus keeps it accurate when neg << num.
    return ops.mean(ops.softplus(log_neg - log_num))


@gin.configurable
def classification_cross_entropy(class_logits, labels):
    """mean -log softmax(class_logits)[label]: an auxiliary classifier's loss (ACGAN)."""
    labels = ops.reshape(ops.cast(labels, "int32"), (-1,))
    return ops.mean(ops.sparse_categorical_crossentropy(labels, ops.cast(class_logits, "float32"),
                                                        from_logits=True))
