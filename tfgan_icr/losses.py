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
