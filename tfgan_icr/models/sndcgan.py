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

from tfgan_icr.layers import BatchNorm, ConditionalBatchNorm, ProjectionHead, SNConv2D, SNDense

__all__ = [
    "SNDCGANDiscriminator",
    "SNDCGANGenerator",
    "sndcgan_discriminator",
    "sndcgan_generator",
]

_REGISTER = keras.saving.register_keras_serializable(package="tfgan_icr")
KERNEL_INIT = "glorot_uniform"
BN_MOMENTUM = 0.99
BN_EPSILON = 1e-5
LEAKY_SLOPE = 0.1


def _check_common(num_classes, image_size, channels):
    if int(num_classes) < 0:
        raise ValueError(f"num_classes must be >= 0, got {num_classes}")
    if int(channels) < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    if int(image_size) < 8 or int(image_size) % 8 != 0:
        raise ValueError(f"SNDCGAN needs image_size divisible by 8 (three 2x up/down "
                         f"samplings), got {image_size}")


def _norm(num_classes, name):
    if num_classes > 0:
        return ConditionalBatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)
    return BatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)


def _one_hot_or_none(labels, num_classes, dtype):
    if num_classes <= 0:
        return None
    if labels is None:
        raise ValueError("This model is class-conditional (num_classes > 0): pass labels.")
    return ops.one_hot(ops.cast(labels, "int32"), num_classes, dtype=dtype)


def _apply_norm(layer, x, c, training):
    if c is None:
        return layer(x, training=training)
    return layer(x, c, training=training)


@_REGISTER
class SNDCGANGenerator(keras.Model):
    """``G(z, labels=None, training=False) -> [B, size, size, channels]``, float32 in [-1, 1]."""

    def __init__(self, z_dim=128, ch=64, num_classes=0, image_size=32, channels=3, **kwargs):
        super().__init__(**kwargs)
        _check_common(num_classes, image_size, channels)
        self.z_dim = int(z_dim)
        self.ch = int(ch)
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        self.channels = int(channels)
        self.base_size = self.image_size // 8
        s, ch = self.base_size, self.ch
        self.dense = keras.layers.Dense(s * s * 8 * ch, use_bias=False,
                                        kernel_initializer=KERNEL_INIT, name="dense")
        self.norm0 = _norm(self.num_classes, "norm0")
        # Sub-layers are plain attributes, not lists: tf.train.Checkpoint does not see layers
        # held in Python lists of a Keras 3 model (they would silently not be saved).
        for i, mult in enumerate((4, 2, 1)):
            setattr(self, f"deconv{i + 1}", keras.layers.Conv2DTranspose(
                mult * ch, 4, strides=2, padding="same", use_bias=False,
                kernel_initializer=KERNEL_INIT, name=f"deconv{i + 1}"))
            setattr(self, f"norm{i + 1}", _norm(self.num_classes, f"norm{i + 1}"))
        self.conv_out = keras.layers.Conv2D(self.channels, 3, padding="same",
                                            kernel_initializer=KERNEL_INIT, name="conv_out")

    def call(self, z, labels=None, training=False):
        training = bool(training)
        c = _one_hot_or_none(labels, self.num_classes, self.compute_dtype)
        s = self.base_size
        h = self.dense(ops.cast(z, self.compute_dtype))
        h = ops.reshape(h, (-1, s, s, 8 * self.ch))
        h = ops.relu(_apply_norm(self.norm0, h, c, training))
        for deconv, norm in ((self.deconv1, self.norm1), (self.deconv2, self.norm2),
                             (self.deconv3, self.norm3)):
            h = ops.relu(_apply_norm(norm, deconv(h), c, training))
        return ops.cast(ops.tanh(self.conv_out(h)), "float32")

    def _build_with_dummy_inputs(self):
        self(ops.zeros((1, self.z_dim)), ops.zeros((1,), "int32"), training=False)

    # .keras files: rebuild the variables by one dummy call before the weights are loaded.
    def get_build_config(self):
        return {"built": True} if self.built else None

    def build_from_config(self, config):
        if config and config.get("built"):
            self._build_with_dummy_inputs()

    def get_config(self):
        return {"z_dim": self.z_dim, "ch": self.ch, "num_classes": self.num_classes,
                "image_size": self.image_size, "channels": self.channels,
                "name": self.name}


@_REGISTER
class SNDCGANDiscriminator(keras.Model):
    """``D(images, labels=None, training=False) -> logits [B]`` (no activation)."""

    # (channel multiplier, kernel size, stride) of the seven convolutions
    CONV_SPECS = ((1, 3, 1), (1, 4, 2), (2, 3, 1), (2, 4, 2), (4, 3, 1), (4, 4, 2), (8, 3, 1))

    def __init__(self, ch=64, num_classes=0, image_size=32, channels=3, **kwargs):
        super().__init__(**kwargs)
        _check_common(num_classes, image_size, channels)
        self.ch = int(ch)
        self.num_classes = int(num_classes)
        self.image_size = int(image_size)
        self.channels = int(channels)
        for i, (mult, k, s) in enumerate(self.CONV_SPECS):  # attributes, not a list (see G)
            setattr(self, f"conv{i + 1}", SNConv2D(mult * self.ch, k, strides=s, padding="same",
                                                   kernel_initializer=KERNEL_INIT,
                                                   name=f"conv{i + 1}"))
        self.feature_dim = (self.image_size // 8) ** 2 * 8 * self.ch
        if self.num_classes > 0:
            self.head = ProjectionHead(self.num_classes, kernel_initializer=KERNEL_INIT,
                                       embeddings_initializer=KERNEL_INIT, name="head")
        else:
            self.head = SNDense(1, kernel_initializer=KERNEL_INIT, name="head")

    def call(self, images, labels=None, training=False):
        training = bool(training)
        if self.num_classes > 0 and labels is None:
            raise ValueError("This model is class-conditional (num_classes > 0): pass labels.")
        h = ops.cast(images, self.compute_dtype)
        for i in range(len(self.CONV_SPECS)):
            conv = getattr(self, f"conv{i + 1}")
            h = ops.leaky_relu(conv(h, training=training), negative_slope=LEAKY_SLOPE)
        h = ops.reshape(h, (-1, self.feature_dim))
        if self.num_classes > 0:
            logits = self.head(h, ops.cast(labels, "int32"), training=training)
        else:
            logits = ops.squeeze(self.head(h, training=training), axis=-1)
        return ops.cast(logits, "float32")

    def _build_with_dummy_inputs(self):
        size = self.image_size
        self(ops.zeros((1, size, size, self.channels)), ops.zeros((1,), "int32"),
             training=False)

    def get_build_config(self):
        return {"built": True} if self.built else None

    def build_from_config(self, config):
        if config and config.get("built"):
            self._build_with_dummy_inputs()

    def get_config(self):
        return {"ch": self.ch, "num_classes": self.num_classes,
                "image_size": self.image_size, "channels": self.channels,
                "name": self.name}


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
