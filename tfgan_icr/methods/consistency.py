"""Consistency regularisation: CR (Zhang et al. 2020) and its improved forms bCR and zCR
(Zhao, Singh, Lee, Zhang, Odena, Zhang: "Improved Consistency Regularization for GANs", 2021).
ICR is bCR + zCR: list both.

With D(x) the discriminator's output before any activation (its logits, and its embedding
when the head has one), T an image augmentation and d(a, b) = mean((a - b)^2) over all
elements (`regularizers.consistency_loss`, gradients through both sides, as the only public
implementation does):

- CR:  D loss += lambda_cr * d(D(x), D(T(x)))                                 (real x only)
- bCR: D loss += lambda_real * d(D(x), D(T(x))) + lambda_fake * d(D(G(z)), D(T(G(z))))
- zCR: T(z) = z + dz, dz ~ N(0, sigma^2 I);
       D loss += lambda_dis * d(D(G(z)), D(G(T(z))));  G loss -= lambda_gen * d(G(z), G(T(z)))

Forward passes are shared through the step context: D on the augmented real batch and on the
augmented fake batch run once per update whichever terms ask for them (CR and bCR's real
half share one), and G(T(z)) once. A weight of 0 skips the term's passes entirely, so the
step is then exactly the unregularised one. With `build_gan.joint_discriminator_call` the D
terms' extra passes join the update's one D call on the real and fake batches (one call on five
batches for ICR; each term is first run on a planning context, `training.terms`).
"""

import gin
import tensorflow as tf

from tfgan_icr import augment as augment_lib
from tfgan_icr.regularizers import consistency_loss
from tfgan_icr.training.terms import plans_discriminator_passes


def consistency_view(output):
    """What consistency compares of a discriminator output: its logits and, when present,
    its embedding (ContraGAN's head)."""
    return tuple(x for x in (output.logits, output.embedding) if x is not None)


def _augmented_output(ctx, side, augment_fn):
    """D(T(x)) for x the update's real (side="real") or fake images: one pass per update."""
    images, labels = ((ctx.real_images, ctx.real_labels) if side == "real"
                      else (ctx.fake_images, ctx.fake_labels))

    def compute():
        seed = ctx.shared_seed(f"augment_{side}")
        return ctx.discriminate(augment_fn(images, seed), labels)

    return ctx.shared(("d_augmented", side, augment_fn), compute)


def _perturbed_latents(ctx, sigma):
    def compute():
        noise = tf.random.stateless_normal(tf.shape(ctx.z), seed=ctx.shared_seed("latent_noise"))
        return ctx.z + sigma * noise
    return ctx.shared(("z_perturbed", float(sigma)), compute)


def _side_consistency(ctx, side, augment_fn):
    output = ctx.real_output if side == "real" else ctx.fake_output
    return consistency_loss(consistency_view(output),
                            consistency_view(_augmented_output(ctx, side, augment_fn)))


@gin.configurable
@plans_discriminator_passes
def consistency(ctx, weight=10.0, augment_fn=augment_lib.augment):
    """CR (Zhang et al. 2020): ``weight * d(D(x), D(T(x)))`` on real images. D side."""
    if not weight:
        return tf.constant(0.0)
    return weight * _side_consistency(ctx, "real", augment_fn)


@gin.configurable
@plans_discriminator_passes
def balanced_consistency(ctx, real_weight=10.0, fake_weight=10.0, augment_fn=augment_lib.augment):
    """bCR: ``real_weight * d(D(x), D(T(x))) + fake_weight * d(D(G(z)), D(T(G(z))))``. D side."""
    total = tf.constant(0.0)
    if real_weight:
        total += real_weight * _side_consistency(ctx, "real", augment_fn)
    if fake_weight:
        total += fake_weight * _side_consistency(ctx, "fake", augment_fn)
    return total


@gin.configurable
@plans_discriminator_passes
def latent_consistency_discriminator(ctx, weight=5.0, sigma=0.03):
    """zCR, D side: ``weight * d(D(G(z)), D(G(z + dz)))``, dz ~ N(0, sigma^2): D should not
    tell apart the images of nearby latents."""
    if not weight:
        return tf.constant(0.0)

    def compute():
        images = ctx.generate(_perturbed_latents(ctx, sigma), ctx.fake_labels)
        return ctx.discriminate(tf.stop_gradient(images), ctx.fake_labels)

    perturbed = ctx.shared(("d_fake_perturbed", float(sigma)), compute)
    return weight * consistency_loss(consistency_view(ctx.fake_output), consistency_view(perturbed))


@gin.configurable
def latent_consistency_generator(ctx, weight=0.5, sigma=0.03):
    """zCR, G side: ``-weight * d(G(z), G(z + dz))``: G should make nearby latents differ
    (against mode collapse)."""
    if not weight:
        return tf.constant(0.0)
    perturbed = ctx.shared(("g_perturbed", float(sigma)),
                           lambda: ctx.generate(_perturbed_latents(ctx, sigma), ctx.fake_labels))
    return -weight * consistency_loss(ctx.fake_images, perturbed)
