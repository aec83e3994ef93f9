"""The ICR paper's baseline regularisers as discriminator terms: WGAN-GP (Gulrajani et al.
2017), DRAGAN (Kodali et al. 2017) and JSR (Roth et al. 2017). The maths is in
`tfgan_icr.regularizers`; here D is called in training mode with the real images' labels
(interpolates between real and fake images of a conditional model take the real labels, as
StudioGAN does; JSR scores fake images with their own labels)."""

import gin
import tensorflow as tf

from tfgan_icr import regularizers


def _critic(ctx, labels):
    return lambda images: ctx.discriminate(images, labels).logits


@gin.configurable
def wgan_gradient_penalty(ctx, weight=10.0, target=1.0):
    """WGAN-GP: ``weight * mean((||grad D(x_hat)|| - target)^2)`` on real/fake interpolates."""
    if not weight:
        return tf.constant(0.0)
    return weight * regularizers.gradient_penalty(_critic(ctx, ctx.real_labels), ctx.real_images,
                                                  ctx.fake_images, ctx.seed, target=target)


@gin.configurable
def dragan(ctx, weight=10.0, perturbation=0.5, target=1.0):
    """DRAGAN: ``weight * mean((||grad D(x_p)|| - target)^2)`` around perturbed real images."""
    if not weight:
        return tf.constant(0.0)
    return weight * regularizers.dragan_penalty(_critic(ctx, ctx.real_labels), ctx.real_images,
                                                ctx.seed, perturbation=perturbation, target=target)


@gin.configurable
def jensen_shannon(ctx, gamma=0.1):
    """JSR (Roth et al. 2017): ``gamma / 2 * (E_real[(1 - s(D))^2 |grad D|^2] + E_fake[s(D)^2 |grad D|^2])``,
    the ``gamma / 2`` of the authors' code (the ICR paper's baseline: gamma 0.1)."""
    if not gamma:
        return tf.constant(0.0)
    omega = regularizers.jensen_shannon_regularizer(
        _critic(ctx, ctx.real_labels), ctx.real_images, ctx.fake_images,
        fake_d_fn=_critic(ctx, ctx.fake_labels))
    return 0.5 * gamma * omega
