"""BigGAN's orthogonal regularisation as a loss term (Brock et al. 2019, section 3.1): added to
G's loss only, strength 1e-4, over every weight matrix and conv kernel of G except the shared
class embedding (BigGAN-PyTorch's blacklist). The maths is `regularizers.orthogonal_regularization`."""

import gin

from tfgan_icr import regularizers
from tfgan_icr.errors import ConfigError
from tfgan_icr.training.variables import named_variables


def regularized_weights(network, exclude=("shared",)):
    """The trainable weights of rank >= 2 of ``network`` (kernels, embeddings), in name order,
    without those whose attribute path contains one of ``exclude``; spectrally normalised
    layers contribute their raw kernel, as in BigGAN."""
    weights = [v for path, v in sorted(named_variables(network).items())
               if v.trainable and len(v.shape) >= 2 and not any(part in path for part in exclude)]
    return weights


@gin.configurable
def orthogonal(ctx, strength=1e-4, exclude=("shared",)):
    """``strength * sum_W ||W^T W * (1 - I)||_F^2`` over the weights of the side's network."""
    network = ctx.generator if ctx.side == "g" else ctx.discriminator
    weights = regularized_weights(network, exclude)
    if not weights:
        raise ConfigError(f"orthogonal: the {'generator' if ctx.side == 'g' else 'discriminator'} has no "
                          f"weight matrix left after excluding {list(exclude)}: check orthogonal.exclude")
    return regularizers.orthogonal_regularization(weights, strength)
