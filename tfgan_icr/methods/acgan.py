"""ACGAN (Odena, Olah, Shlens, "Conditional Image Synthesis with Auxiliary Classifier GANs",
ICML 2017): D carries a class classifier (``head = "acgan"`` on the discriminator factory).

With L_C = E[log P(C = c | X_real)] + E[log P(C = c | X_fake)], the paper's D maximises
L_S + L_C and G maximises L_C - L_S. As loss terms (cross-entropy = -log-likelihood)::

    D: CE(class_logits(x_real), y_real) + CE(class_logits(G(z, y)), y)     (include_fake)
    G: CE(class_logits(G(z, y)), y)

StudioGAN's v0.x worker adds the same two cross-entropies to D's loss. ``acgan_discriminator.
include_fake = False`` trains the classifier on real images only. Weights are the terms' (1.0).
"""

import gin

from tfgan_icr.losses import classification_cross_entropy
from tfgan_icr.methods.contrastive import output_with


@gin.configurable
def acgan_discriminator(ctx, include_fake=True):
    """The classifier's cross-entropy on real images (and on the fake ones). D side."""
    real = output_with(ctx.real_output, ("class_logits",), "acgan_discriminator", "acgan")
    loss = classification_cross_entropy(real.class_logits, ctx.real_labels)
    if include_fake:
        fake = output_with(ctx.fake_output, ("class_logits",), "acgan_discriminator", "acgan")
        loss += classification_cross_entropy(fake.class_logits, ctx.fake_labels)
    return loss


@gin.configurable
def acgan_generator(ctx):
    """The classifier's cross-entropy on generated images with their labels. G side."""
    fake = output_with(ctx.fake_output, ("class_logits",), "acgan_generator", "acgan")
    return classification_cross_entropy(fake.class_logits, ctx.fake_labels)
