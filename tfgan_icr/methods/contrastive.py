"""ContraGAN (Kang & Park, "ContraGAN: Contrastive Learning for Conditional Image
Generation", NeurIPS 2020): the conditional contrastive (2C) loss on the discriminator's
embedding of real images (D side) and of generated images (G side), with the class
proxies of the `ContrastiveHead` (``head = "contrastive"`` on the discriminator factory).

The weight lambda is the term's weight (1.0 in the paper)::

    build_gan.d_terms = [@contrastive/term()]
    build_gan.g_terms = [@contrastive/term()]
    d/contrastive/term.fn = @contrastive_discriminator   # or one scope for both sides
    contrastive_discriminator.temperature = 1.0

The loss is computed over each replica's batch (the global batch on one device).
"""

import gin

from tfgan_icr.errors import ConfigError
from tfgan_icr.losses import conditional_contrastive_loss


def output_with(output, fields, term_name, head):
    """``output`` after checking it has ``fields``; else a one-line ConfigError naming the head."""
    missing = [f for f in fields if getattr(output, f) is None]
    if missing:
        raise ConfigError(
            f"loss term {term_name} needs the discriminator's {' and '.join(missing)}, which its "
            f"head does not output: set head = {head!r} on the discriminator factory (e.g. "
            f"resnet_discriminator.head = {head!r})")
    return output


@gin.configurable
def contrastive_discriminator(ctx, temperature=1.0):
    """2C loss of D's embeddings of the update's REAL images, with their labels. D side."""
    output = output_with(ctx.real_output, ("embedding", "proxy"), "contrastive_discriminator",
                         "contrastive")
    return conditional_contrastive_loss(output.embedding, output.proxy, ctx.real_labels,
                                        temperature)


@gin.configurable
def contrastive_generator(ctx, temperature=1.0):
    """2C loss of D's embeddings of the GENERATED images, with their labels. G side."""
    output = output_with(ctx.fake_output, ("embedding", "proxy"), "contrastive_generator",
                         "contrastive")
    return conditional_contrastive_loss(output.embedding, output.proxy, ctx.fake_labels,
                                        temperature)
