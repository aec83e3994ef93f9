"""SNGAN ResNet for 32x32 images (Miyato et al. 2018, appendix "ResNet" for CIFAR-10;
compare_gan ``resnet_cifar``).

Generator::

    z -> Dense(4*4*ch) -> reshape [4, 4, ch]
      -> 3 x GBlock(ch):  BN-ReLU-up2-conv3x3-BN-ReLU-conv3x3  +  up2-conv1x1   (4 -> 32)
      -> BN -> ReLU -> conv3x3 (channels) -> tanh

Discriminator (every conv / dense spectrally normalised)::

    OptimizedBlock(ch): conv3x3-ReLU-conv3x3-avgpool  +  avgpool-conv1x1       (32 -> 16)
    DBlock(ch, down):   ReLU-conv3x3-ReLU-conv3x3-avgpool  +  conv1x1-avgpool  (16 -> 8)
    DBlock(ch) x 2:     ReLU-conv3x3-ReLU-conv3x3  +  identity                 (8 -> 8)
    ReLU -> global SUM pooling -> SN linear (+ projection when conditional)

"up2" is nearest-neighbour 2x upsampling, "avgpool" 2x2 average pooling. With
``num_classes > 0`` the generator's BNs are ``ConditionalBatchNorm`` on ``one_hot(labels)``
and the discriminator ends in a projection head.

Initialisation: Glorot-uniform for every kernel (the Keras default; SNGAN's reference
code also uses Glorot-uniform initialisers), zero biases. The first conv of each generator
block has no bias (a batch norm follows it).
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
    "DBlock",
    "GBlock",
    "ResNetDiscriminator",
    "ResNetGenerator",
    "resnet_discriminator",
    "resnet_generator",
]


def _check_image_size(image_size):
    if int(image_size) != 32:
        raise ValueError(f"The SNGAN ResNet architecture is defined for 32x32 images only; "
                         f"got image_size={image_size} (pad or resize the data to 32).")


def upsample2x(x):
    """Nearest-neighbour 2x upsampling of ``[B, H, W, C]``."""
    return ops.repeat(ops.repeat(x, 2, axis=1), 2, axis=2)


def avgpool2x(x):
    """2x2 average pooling, stride 2, of ``[B, H, W, C]``."""
    return ops.average_pool(x, pool_size=2, strides=2, padding="valid")


@REGISTER
class GBlock(keras.layers.Layer):
    """Residual up-block. Call: ``block(x, c=None, training=None)``."""

    def __init__(self, filters, num_classes=0, bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.num_classes = int(num_classes)
        self.bn_momentum, self.bn_epsilon = float(bn_momentum), float(bn_epsilon)
        bn = dict(momentum=self.bn_momentum, epsilon=self.bn_epsilon)
        self.norm1 = class_norm(self.num_classes, "norm1", **bn)
        self.conv1 = keras.layers.Conv2D(self.filters, 3, padding="same", use_bias=False,
                                         kernel_initializer=KERNEL_INIT, name="conv1")
        self.norm2 = class_norm(self.num_classes, "norm2", **bn)
        self.conv2 = keras.layers.Conv2D(self.filters, 3, padding="same",
                                         kernel_initializer=KERNEL_INIT, name="conv2")
        self.shortcut = keras.layers.Conv2D(self.filters, 1, padding="valid",
                                            kernel_initializer=KERNEL_INIT, name="shortcut")

    def call(self, x, c=None, training=None):
        training = bool(training)
        h = ops.relu(apply_conditioned(self.norm1, x, c, training))
        h = self.conv1(upsample2x(h))
        h = ops.relu(apply_conditioned(self.norm2, h, c, training))
        h = self.conv2(h)
        return h + self.shortcut(upsample2x(x))

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "num_classes": self.num_classes,
                       "bn_momentum": self.bn_momentum, "bn_epsilon": self.bn_epsilon})
        return config


@REGISTER
class DBlock(keras.layers.Layer):
    """Residual discriminator block with spectrally normalised convolutions.

    ``optimized=True``: the first block (no leading ReLU; shortcut avgpool -> conv1x1).
    Otherwise ``ReLU-conv-ReLU-conv[-avgpool]`` with shortcut ``conv1x1[-avgpool]`` when
    ``learnable_shortcut`` (default: when downsampling), else identity.
    Call: ``block(x, training=None)``.
    """

    def __init__(self, filters, downsample=False, optimized=False, learnable_shortcut=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.downsample = bool(downsample)
        self.optimized = bool(optimized)
        if learnable_shortcut is None:
            learnable_shortcut = self.downsample or self.optimized
        self.learnable_shortcut = bool(learnable_shortcut)
        if self.optimized and not (self.downsample and self.learnable_shortcut):
            raise ValueError("An optimized DBlock downsamples and has a learnable shortcut.")
        self.conv1 = SNConv2D(self.filters, 3, kernel_initializer=KERNEL_INIT, name="conv1")
        self.conv2 = SNConv2D(self.filters, 3, kernel_initializer=KERNEL_INIT, name="conv2")
        self.shortcut = (SNConv2D(self.filters, 1, padding="valid",
                                  kernel_initializer=KERNEL_INIT, name="shortcut")
                         if self.learnable_shortcut else None)

    def call(self, x, training=None):
        training = bool(training)
        h = x if self.optimized else ops.relu(x)
        h = self.conv1(h, training=training)
        h = self.conv2(ops.relu(h), training=training)
        if self.downsample:
            h = avgpool2x(h)
        if self.optimized:
            sc = self.shortcut(avgpool2x(x), training=training)
        else:
            sc = x
            if self.shortcut is not None:
                sc = self.shortcut(sc, training=training)
            if self.downsample:
                sc = avgpool2x(sc)
        return h + sc

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "downsample": self.downsample,
                       "optimized": self.optimized,
                       "learnable_shortcut": self.learnable_shortcut})
        return config


@REGISTER
class ResNetGenerator(Generator):
    """``G(z, labels=None, training=False) -> [B, 32, 32, channels]`` in [-1, 1]."""

    ARCH_CONFIG = ("ch", "bn_momentum", "bn_epsilon")
    validate_image_size = staticmethod(_check_image_size)

    def __init__(self, z_dim=128, ch=256, num_classes=0, image_size=32, channels=3,
                 bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON, **kwargs):
        super().__init__(z_dim=z_dim, num_classes=num_classes, image_size=image_size,
                         channels=channels, **kwargs)
        self.ch = int(ch)
        self.bn_momentum, self.bn_epsilon = float(bn_momentum), float(bn_epsilon)
        bn = dict(bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon)
        self.dense = keras.layers.Dense(4 * 4 * self.ch, kernel_initializer=KERNEL_INIT,
                                        name="dense")
        # Sub-layers are plain attributes, not lists (see tfgan_icr.models.base).
        self.block1 = GBlock(self.ch, num_classes=self.num_classes, name="block1", **bn)
        self.block2 = GBlock(self.ch, num_classes=self.num_classes, name="block2", **bn)
        self.block3 = GBlock(self.ch, num_classes=self.num_classes, name="block3", **bn)
        self.norm_out = class_norm(self.num_classes, "norm_out", momentum=self.bn_momentum,
                                   epsilon=self.bn_epsilon)
        self.conv_out = keras.layers.Conv2D(self.channels, 3, padding="same",
                                            kernel_initializer=KERNEL_INIT, name="conv_out")

    def synthesize(self, z, c, training):
        h = ops.reshape(self.dense(z), (-1, 4, 4, self.ch))
        for block in (self.block1, self.block2, self.block3):
            h = apply_conditioned(block, h, c, training)
        h = ops.relu(apply_conditioned(self.norm_out, h, c, training))
        return self.conv_out(h)


@REGISTER
class ResNetDiscriminator(Discriminator):
    """``D(images, labels=None, training=False) -> logits [B]`` (no activation)."""

    ARCH_CONFIG = ("ch",)
    validate_image_size = staticmethod(_check_image_size)

    def __init__(self, ch=128, num_classes=0, image_size=32, channels=3, **kwargs):
        super().__init__(num_classes=num_classes, image_size=image_size, channels=channels,
                         **kwargs)
        self.ch = int(ch)
        # attributes, not a list
        self.block1 = DBlock(self.ch, downsample=True, optimized=True, name="block1")
        self.block2 = DBlock(self.ch, downsample=True, name="block2")
        self.block3 = DBlock(self.ch, name="block3")
        self.block4 = DBlock(self.ch, name="block4")
        self.head = self.make_head()

    def features(self, x, training):
        h = x
        for block in (self.block1, self.block2, self.block3, self.block4):
            h = block(h, training=training)
        return ops.sum(ops.relu(h), axis=(1, 2))  # global sum pooling -> [B, ch]


@gin.configurable
def resnet_generator(z_dim=128, ch=256, num_classes=0, image_size=32, channels=3,
                     output_activation="tanh", bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON):
    """The SNGAN ResNet generator for 32x32 (unbuilt; call once on dummy inputs);
    ``bn_momentum`` / ``bn_epsilon`` of its batch norms (Keras momentum semantics)."""
    return ResNetGenerator(z_dim=z_dim, ch=ch, num_classes=num_classes,
                           image_size=image_size, channels=channels,
                           output_activation=output_activation, bn_momentum=bn_momentum,
                           bn_epsilon=bn_epsilon)


@gin.configurable
def resnet_discriminator(ch=128, num_classes=0, image_size=32, channels=3, head="projection",
                         embedding_dim=512):
    """The SNGAN ResNet discriminator for 32x32 (unbuilt; call once on dummy inputs);
    ``head``: "projection", "contrastive" (``embedding_dim``) or "acgan" (models.base.HEADS)."""
    return ResNetDiscriminator(ch=ch, num_classes=num_classes, image_size=image_size,
                               channels=channels, head=head, embedding_dim=embedding_dim)
