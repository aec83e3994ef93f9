"""Generator / discriminator networks (no training logic).

Generators: ``G(z, labels=None, training=False) -> [B, H, W, C]`` float32 (in [-1, 1] with
the default tanh output).
Discriminators: ``D(images, labels=None, training=False) -> DiscriminatorOutput`` (raw logits
[B], features, and optional embedding / proxy / class logits).
The factories below are gin-configurable; the model classes themselves are not (gin.configurable on a Keras class breaks its construction in Keras 3).
Every architecture subclasses ``base.Generator`` / ``base.Discriminator``.
"""

from tfgan_icr.models.base import Discriminator, DiscriminatorOutput, Generator

from tfgan_icr.models.biggan import (
    BigGANDiscriminator,
    BigGANGenerator,
    biggan_discriminator,
    biggan_generator,
)
from tfgan_icr.models.pggan import (
    PGGANDiscriminator,
    PGGANGenerator,
    pggan_discriminator,
    pggan_generator,
)
from tfgan_icr.models.resnet import (
    ResNetDiscriminator,
    ResNetGenerator,
    resnet_discriminator,
    resnet_generator,
)
from tfgan_icr.models.sndcgan import (
    SNDCGANDiscriminator,
    SNDCGANGenerator,
    sndcgan_discriminator,
    sndcgan_generator,
)

__all__ = [
    "BigGANDiscriminator",
    "BigGANGenerator",
    "Discriminator",
    "DiscriminatorOutput",
    "Generator",
    "PGGANDiscriminator",
    "PGGANGenerator",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "SNDCGANDiscriminator",
    "SNDCGANGenerator",
    "biggan_discriminator",
    "biggan_generator",
    "pggan_discriminator",
    "pggan_generator",
    "resnet_discriminator",
    "resnet_generator",
    "sndcgan_discriminator",
    "sndcgan_generator",
]
