"""SNDCGAN (Miyato et al. 2018, Table 3; compare_gan "sndcgan"), as used in the ICR paper.

Generator (``s = image_size // 8``)::

    z -> Dense(s*s*8ch) -> reshape [s, s, 8ch] -> BN -> ReLU
      -> ConvT 4x4/2 (4ch) -> BN -> ReLU -> ConvT 4x4/2 (2ch) -> BN -> ReLU
      -> ConvT 4x4/2 (ch) -> BN -> ReLU -> Conv 3x3/1 (channels) -> tanh

Discriminator (all layers spectrally normalised, LeakyReLU(0.1))::

    conv3x3/1 ch, conv4x4/2 ch, conv3x3/1 2ch, conv4x4/2 2ch,
    conv3x3/1 4ch, conv4x4/2 4ch, conv3x3/1 8ch -> flatten -> SN linear (+ projection)

With ``num_classes > 0`` the generator's BNs are ``ConditionalBatchNorm`` fed with
``one_hot(labels)`` and the discriminator ends in a projection head; with 0 they are plain
BN and a plain SN linear head (``labels`` is then accepted and ignored).

Initialisation: Glorot-uniform for every kernel (the Keras default; SNGAN's reference
code also uses Glorot-uniform initialisers); biases zero. Layers directly followed by a
batch norm have no bias (the norm removes it anyway).
"""

import gin
import keras
from keras import ops

from tfgan_icr.layers import SNConv2D
from tfgan_icr.models.base import (
    KERNEL_INIT,
    REGISTER,
    Discriminator,
    Generator,
    apply_conditioned,
    class_norm,
)

__all__ = [
    "SNDCGANDiscriminator",
    "SNDCGANGenerator",
    "sndcgan_discriminator",
    "sndcgan_generator",
]

LEAKY_SLOPE = 0.1


def _check_image_size(image_size):
    if int(image_size) < 8 or int(image_size) % 8 != 0:
        raise ValueError(f"SNDCGAN needs image_size divisible by 8 (three 2x up/down "
                         f"samplings), got {image_size}")


@REGISTER
class SNDCGANGenerator(Generator):
    """``G(z, labels=None, training=False) -> [B, size, size, channels]``, float32 in [-1, 1]."""

    ARCH_CONFIG = ("ch",)
    validate_image_size = staticmethod(_check_image_size)

    def __init__(self, z_dim=128, ch=64, num_classes=0, image_size=32, channels=3, **kwargs):
        super().__init__(z_dim=z_dim, num_classes=num_classes, image_size=image_size,
                         channels=channels, **kwargs)
        self.ch = int(ch)
        self.base_size = self.image_size // 8
        s, ch = self.base_size, self.ch
        self.dense = keras.layers.Dense(s * s * 8 * ch, use_bias=False,
                                        kernel_initializer=KERNEL_INIT, name="dense")
        self.norm0 = class_norm(self.num_classes, "norm0")
        # Sub-layers are plain attributes, not lists (see tfgan_icr.models.base).
        for i, mult in enumerate((4, 2, 1)):
            setattr(self, f"deconv{i + 1}", keras.layers.Conv2DTranspose(
                mult * ch, 4, strides=2, padding="same", use_bias=False,
                kernel_initializer=KERNEL_INIT, name=f"deconv{i + 1}"))
            setattr(self, f"norm{i + 1}", class_norm(self.num_classes, f"norm{i + 1}"))
        self.conv_out = keras.layers.Conv2D(self.channels, 3, padding="same",
                                            kernel_initializer=KERNEL_INIT, name="conv_out")

    def synthesize(self, z, c, training):
        s = self.base_size
        h = ops.reshape(self.dense(z), (-1, s, s, 8 * self.ch))
        h = ops.relu(apply_conditioned(self.norm0, h, c, training))
        for deconv, norm in ((self.deconv1, self.norm1), (self.deconv2, self.norm2),
                             (self.deconv3, self.norm3)):
            h = ops.relu(apply_conditioned(norm, deconv(h), c, training))
        return self.conv_out(h)


@REGISTER
class SNDCGANDiscriminator(Discriminator):
    """``D(images, labels=None, training=False) -> logits [B]`` (no activation)."""

    ARCH_CONFIG = ("ch",)
    validate_image_size = staticmethod(_check_image_size)
    # (channel multiplier, kernel size, stride) of the seven convolutions
    CONV_SPECS = ((1, 3, 1), (1, 4, 2), (2, 3, 1), (2, 4, 2), (4, 3, 1), (4, 4, 2), (8, 3, 1))

    def __init__(self, ch=64, num_classes=0, image_size=32, channels=3, **kwargs):
        super().__init__(num_classes=num_classes, image_size=image_size, channels=channels,
                         **kwargs)
        self.ch = int(ch)
        for i, (mult, k, s) in enumerate(self.CONV_SPECS):  # attributes, not a list
            setattr(self, f"conv{i + 1}", SNConv2D(mult * self.ch, k, strides=s, padding="same",
                                                   kernel_initializer=KERNEL_INIT,
                                                   name=f"conv{i + 1}"))
        self.feature_dim = (self.image_size // 8) ** 2 * 8 * self.ch
        self.head = self.make_head()

    def features(self, x, training):
        h = x
        for i in range(len(self.CONV_SPECS)):
            conv = getattr(self, f"conv{i + 1}")
            h = ops.leaky_relu(conv(h, training=training), negative_slope=LEAKY_SLOPE)
        return ops.reshape(h, (-1, self.feature_dim))


@gin.configurable
def sndcgan_generator(z_dim=128, ch=64, num_classes=0, image_size=32, channels=3):
    """The SNDCGAN generator (unbuilt; call it once on dummy inputs to create variables)."""
    return SNDCGANGenerator(z_dim=z_dim, ch=ch, num_classes=num_classes,
                            image_size=image_size, channels=channels)


@gin.configurable
def sndcgan_discriminator(ch=64, num_classes=0, image_size=32, channels=3):
    """The SNDCGAN discriminator (unbuilt; call it once on dummy inputs to create variables)."""
    return SNDCGANDiscriminator(ch=ch, num_classes=num_classes, image_size=image_size,
                                channels=channels)
