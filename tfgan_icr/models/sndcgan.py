"""SNDCGAN, in the two layouts in use, chosen by name (``layout=``).

``layout="sngan"`` (the default): the SNGAN paper's Table 3 (Miyato et al. 2018), as
StudioGAN's DCGAN implements it; 2.94M D parameters at ``ch=64``. ``s = image_size // 8``::

    G: z -> Dense(s*s*8ch, no bias) -> reshape [s, s, 8ch] -> BN -> ReLU
         -> ConvT 4x4/2 (4ch) -> BN -> ReLU -> ConvT 4x4/2 (2ch) -> BN -> ReLU
         -> ConvT 4x4/2 (ch) -> BN -> ReLU -> Conv 3x3/1 (channels) -> tanh
    D: conv3x3/1 ch, conv4x4/2 ch, conv3x3/1 2ch, conv4x4/2 2ch,
       conv3x3/1 4ch, conv4x4/2 4ch, conv3x3/1 8ch -> flatten -> SN linear (+ projection)

``layout="compare_gan"``: compare_gan's ``architectures/sndcgan.py`` (Kurach et al. 2019),
the code behind the ICR paper's (Zhao et al. 2020) SNDCGAN numbers; 5,860,865 D parameters
unconditional at ``ch=64``, and 3,828,739 G parameters (z 128, 3 channels)::

    G: z -> Dense(s*s*8ch, with bias) -> BN over the s*s*8ch units -> ReLU -> reshape
         -> ConvT 4x4/2 (4ch) -> BN -> ReLU -> ConvT 4x4/2 (2ch) -> BN -> ReLU
         -> ConvT 4x4/2 (ch) -> BN -> ReLU -> ConvT 3x3/1 (channels) -> tanh
         (every transposed convolution with a bias, as compare_gan's deconv2d)
    D: conv3x3/1 ch, conv4x4/2 2ch, conv3x3/1 2ch, conv4x4/2 4ch,
       conv3x3/1 4ch, conv4x4/2 8ch, conv3x3/1 8ch -> flatten -> SN linear (+ projection)

In both, every D layer is spectrally normalised and followed by LeakyReLU(0.1), with biases.
With ``num_classes > 0`` the generator's BNs are ``ConditionalBatchNorm`` fed with
``one_hot(labels)`` and the discriminator ends in a projection head; with 0 they are plain
BN and a plain SN linear head (``labels`` is then accepted and ignored).

Batch norm: ``bn_momentum`` / ``bn_epsilon`` of the generator's BNs (Keras semantics,
``moving = m * moving + (1 - m) * batch``: PyTorch's momentum 0.1 is 0.9 here). The defaults
(0.99 / 1e-5, ``base.BN_MOMENTUM`` / ``base.BN_EPSILON``) are this project's; each config sets
its reference's (compare_gan 0.999 / 1e-3; PyTorch references 0.9 / 1e-5).

Initialisation: Glorot-uniform for every kernel (the Keras default; SNGAN's reference
code also uses Glorot-uniform initialisers; compare_gan's default is N(0, 0.02), not
reproduced here); biases zero. In the "sngan" layout, layers directly followed by a batch norm
have no bias (the norm removes it anyway).
"""

import gin
import keras
from keras import ops

from tfgan_icr.layers import SNConv2D
from tfgan_icr.models.base import (
    BN_EPSILON,
    BN_MOMENTUM,
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
LAYOUTS = ("sngan", "compare_gan")


def _check_layout(layout):
    if layout not in LAYOUTS:
        raise ValueError(f"unknown SNDCGAN layout {layout!r}: use one of {', '.join(map(repr, LAYOUTS))}")
    return layout


def _check_image_size(image_size):
    if int(image_size) < 8 or int(image_size) % 8 != 0:
        raise ValueError(f"SNDCGAN needs image_size divisible by 8 (three 2x up/down "
                         f"samplings), got {image_size}")


@REGISTER
class SNDCGANGenerator(Generator):
    """``G(z, labels=None, training=False) -> [B, size, size, channels]``, float32 in [-1, 1]."""

    ARCH_CONFIG = ("ch", "layout", "bn_momentum", "bn_epsilon")
    validate_image_size = staticmethod(_check_image_size)

    def __init__(self, z_dim=128, ch=64, num_classes=0, image_size=32, channels=3,
                 layout="sngan", bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON, **kwargs):
        super().__init__(z_dim=z_dim, num_classes=num_classes, image_size=image_size,
                         channels=channels, **kwargs)
        self.ch = int(ch)
        self.layout = _check_layout(layout)
        self.bn_momentum, self.bn_epsilon = float(bn_momentum), float(bn_epsilon)
        self.base_size = self.image_size // 8
        s, ch = self.base_size, self.ch
        bias = self.layout == "compare_gan"  # compare_gan's linear/deconv2d always have one

        def norm(name):
            return class_norm(self.num_classes, name, momentum=self.bn_momentum,
                              epsilon=self.bn_epsilon)

        self.dense = keras.layers.Dense(s * s * 8 * ch, use_bias=bias,
                                        kernel_initializer=KERNEL_INIT, name="dense")
        self.norm0 = norm("norm0")
        # Sub-layers are plain attributes, not lists (see tfgan_icr.models.base).
        for i, mult in enumerate((4, 2, 1)):
            setattr(self, f"deconv{i + 1}", keras.layers.Conv2DTranspose(
                mult * ch, 4, strides=2, padding="same", use_bias=bias,
                kernel_initializer=KERNEL_INIT, name=f"deconv{i + 1}"))
            setattr(self, f"norm{i + 1}", norm(f"norm{i + 1}"))
        out_layer = keras.layers.Conv2DTranspose if bias else keras.layers.Conv2D
        self.conv_out = out_layer(self.channels, 3, padding="same",
                                  kernel_initializer=KERNEL_INIT, name="conv_out")

    def synthesize(self, z, c, training):
        s = self.base_size
        h = self.dense(z)
        if self.layout == "compare_gan":  # BN over the dense units, then the reshape
            h = ops.relu(apply_conditioned(self.norm0, h, c, training))
            h = ops.reshape(h, (-1, s, s, 8 * self.ch))
        else:
            h = ops.reshape(h, (-1, s, s, 8 * self.ch))
            h = ops.relu(apply_conditioned(self.norm0, h, c, training))
        for deconv, norm in ((self.deconv1, self.norm1), (self.deconv2, self.norm2),
                             (self.deconv3, self.norm3)):
            h = ops.relu(apply_conditioned(norm, deconv(h), c, training))
        return self.conv_out(h)


@REGISTER
class SNDCGANDiscriminator(Discriminator):
    """``D(images, labels=None, training=False) -> logits [B]`` (no activation)."""

    ARCH_CONFIG = ("ch", "layout")
    validate_image_size = staticmethod(_check_image_size)
    # (channel multiplier, kernel size, stride) of the seven convolutions, per layout
    CONV_SPECS = {
        "sngan": ((1, 3, 1), (1, 4, 2), (2, 3, 1), (2, 4, 2), (4, 3, 1), (4, 4, 2), (8, 3, 1)),
        "compare_gan": ((1, 3, 1), (2, 4, 2), (2, 3, 1), (4, 4, 2), (4, 3, 1), (8, 4, 2),
                        (8, 3, 1)),
    }

    def __init__(self, ch=64, num_classes=0, image_size=32, channels=3, layout="sngan",
                 **kwargs):
        super().__init__(num_classes=num_classes, image_size=image_size, channels=channels,
                         **kwargs)
        self.ch = int(ch)
        self.layout = _check_layout(layout)
        self.conv_specs = self.CONV_SPECS[self.layout]
        for i, (mult, k, s) in enumerate(self.conv_specs):  # attributes, not a list
            setattr(self, f"conv{i + 1}", SNConv2D(mult * self.ch, k, strides=s, padding="same",
                                                   kernel_initializer=KERNEL_INIT,
                                                   name=f"conv{i + 1}"))
        self.feature_dim = (self.image_size // 8) ** 2 * self.conv_specs[-1][0] * self.ch
        self.head = self.make_head()

    def features(self, x, training):
        h = x
        for i in range(len(self.conv_specs)):
            conv = getattr(self, f"conv{i + 1}")
            h = ops.leaky_relu(conv(h, training=training), negative_slope=LEAKY_SLOPE)
        return ops.reshape(h, (-1, self.feature_dim))


@gin.configurable
def sndcgan_generator(z_dim=128, ch=64, num_classes=0, image_size=32, channels=3,
                      layout="sngan", bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON,
                      output_activation="tanh"):
    """The SNDCGAN generator (unbuilt; call it once on dummy inputs to create variables).

    ``layout``: "sngan" (SNGAN Table 3 / StudioGAN) or "compare_gan" (the ICR paper's);
    ``bn_momentum`` / ``bn_epsilon``: of its batch norms (Keras momentum semantics)."""
    return SNDCGANGenerator(z_dim=z_dim, ch=ch, num_classes=num_classes, image_size=image_size,
                            channels=channels, layout=layout, bn_momentum=bn_momentum,
                            bn_epsilon=bn_epsilon, output_activation=output_activation)


@gin.configurable
def sndcgan_discriminator(ch=64, num_classes=0, image_size=32, channels=3, layout="sngan",
                          head="projection", embedding_dim=512):
    """The SNDCGAN discriminator (unbuilt; call it once on dummy inputs to create variables).

    ``layout``: "sngan" (SNGAN Table 3 / StudioGAN) or "compare_gan" (the ICR paper's);
    ``head``: "projection", "contrastive" (``embedding_dim``) or "acgan" (models.base.HEADS)."""
    return SNDCGANDiscriminator(ch=ch, num_classes=num_classes, image_size=image_size,
                                channels=channels, layout=layout, head=head,
                                embedding_dim=embedding_dim)
