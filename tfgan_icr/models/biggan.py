"""BigGAN (Brock, Donahue & Simonyan, ICLR 2019) for 32, 64, 128 and 256 px, with the
channel layouts of StudioGAN's ``big_resnet`` / BigGAN-PyTorch.

Generator (``ch`` times the multipliers of ``GENERATOR_LAYOUTS``)::

    z = [z_0, z_1, ..., z_N]                       (hierarchical z: N + 1 equal chunks)
    shared = Embedding(num_classes, shared_dim)(labels)          (plain, no spectral norm)
    h = SNLinear(z_0) -> reshape [4, 4, ch * m_0]
    block i (N of them):  CBN-ReLU-up2-SNconv3-CBN-ReLU-SNconv3  +  up2-SNconv1   (2x up)
        each CBN conditioned on concat(shared, z_{i+1}):
        (1 + SNLinear_gain(c)) * BN(x) + SNLinear_bias(c)
    [self-attention after the block whose output has an attention resolution]
    BN -> ReLU -> SNconv3 (channels) -> tanh

Discriminator (``ch`` times ``DISCRIMINATOR_LAYOUTS``)::

    optimized block: SNconv3-ReLU-SNconv3-avgpool  +  avgpool-SNconv1
    block:  ReLU-SNconv3-ReLU-SNconv3[-avgpool]  +  SNconv1[-avgpool] when the channels
            change or it downsamples, else identity
    [self-attention after the first block whose output has an attention resolution]
    ReLU -> global SUM pooling -> head (``make_head``: projection when conditional)

Conditioning: without classes (``num_classes = 0``) the CBNs see their z chunk only; without
hierarchical z all of z goes to the linear layer and the CBNs see the shared embedding only;
with neither, the block norms are plain (affine) batch norms. Every convolution, linear map
and the CBN projections are spectrally normalised and orthogonally initialised (the head's
initialisation is ``make_head``'s; ``initializer`` picks another one); the final BN
is a plain affine one; the generator's batch norms are cross-replica ("synchronized", as
BigGAN's) by default.

Parameters: built as StudioGAN's BigGAN these nets have exactly its trainable parameter
counts (CIFAR-10: G 9,416,196 / D 2,415,170; ImageNet 128: G 70,433,988 / D 87,982,370).
Like PyTorch, the count leaves out the spectral-norm ``u`` vectors and the BN moving
statistics (non-trainable variables here, buffers there).

The generator takes the integer labels itself (its ``call`` looks them up in the shared
embedding): ``synthesize(z, shared, training)`` gets that embedding, not a one-hot vector.
"""

import gin
import keras
from keras import ops

from tfgan_icr.layers import BatchNorm, ConditionalBatchNorm, SelfAttention, SNConv2D, SNDense
from tfgan_icr.models.base import (
    OUTPUT_ACTIVATIONS,
    REGISTER,
    Discriminator,
    Generator,
)
from tfgan_icr.models.resnet import avgpool2x, upsample2x

__all__ = [
    "BigGANDBlock",
    "BigGANDiscriminator",
    "BigGANGBlock",
    "BigGANGenerator",
    "DISCRIMINATOR_LAYOUTS",
    "GENERATOR_LAYOUTS",
    "SUPPORTED_SIZES",
    "biggan_discriminator",
    "biggan_generator",
]

INIT = "orthogonal"
#: StudioGAN's batch norm (PyTorch momentum 0.1 = Keras 0.9, eps 1e-4).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-4

#: Channel multipliers of ``ch``: entry 0 is the 4x4 input of the first block, entry i the
#: output of block i (each block doubles the resolution).
GENERATOR_LAYOUTS = {
    32: (4, 4, 4, 4),
    64: (16, 8, 4, 2, 1),
    128: (16, 16, 8, 4, 2, 1),
    256: (16, 16, 8, 8, 4, 2, 1),
}
#: Output channel multipliers of each block and whether it halves the resolution.
DISCRIMINATOR_LAYOUTS = {
    32: ((2, 2, 2, 2), (True, True, False, False)),
    64: ((1, 2, 4, 8, 16), (True, True, True, True, False)),
    128: ((1, 2, 4, 8, 16, 16), (True, True, True, True, True, False)),
    256: ((1, 2, 4, 8, 8, 16, 16), (True, True, True, True, True, True, False)),
}
SUPPORTED_SIZES = tuple(sorted(GENERATOR_LAYOUTS))

_NEEDS_LABELS = "This model is class-conditional (num_classes > 0): pass labels."


def _check_image_size(image_size):
    if int(image_size) not in SUPPORTED_SIZES:
        raise ValueError(f"BigGAN is defined for image sizes {', '.join(map(str, SUPPORTED_SIZES))}; "
                         f"got image_size={image_size} (pad or resize the data to one of them).")


def _resolutions(value):
    """``attention_resolutions`` as a sorted tuple of ints: None / 0 / () mean none."""
    if value is None:
        return ()
    if isinstance(value, (int, float)):
        value = (value,)
    return tuple(sorted({int(r) for r in value if int(r) > 0}))


def _sn_conv(filters, kernel_size, initializer, name):
    padding = "same" if kernel_size > 1 else "valid"
    return SNConv2D(filters, kernel_size, padding=padding, kernel_initializer=initializer,
                    name=name)


def _block_norm(cond_dim, bn, initializer, name):
    """CBN on a ``cond_dim`` vector (SN projections), or a plain affine BN."""
    if cond_dim:
        return ConditionalBatchNorm(use_spectral_norm=True, gain_initializer=initializer,
                                    bias_initializer=initializer, name=name, **bn)
    return BatchNorm(name=name, **bn)


@REGISTER
class BigGANGBlock(keras.layers.Layer):
    """Residual up-block. Call: ``block(x, c=None, training=None)``, ``c [B, cond_dim]``
    (None when ``cond_dim`` is 0: plain batch norms)."""

    def __init__(self, filters, cond_dim=0, bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON,
                 synchronized_bn=True, initializer=INIT, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.cond_dim = int(cond_dim)
        self.initializer = initializer
        self.bn_momentum, self.bn_epsilon = float(bn_momentum), float(bn_epsilon)
        self.synchronized_bn = bool(synchronized_bn)
        bn = dict(momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                  synchronized=self.synchronized_bn)
        self.norm1 = _block_norm(self.cond_dim, bn, initializer, "norm1")
        self.conv1 = _sn_conv(self.filters, 3, initializer, "conv1")
        self.norm2 = _block_norm(self.cond_dim, bn, initializer, "norm2")
        self.conv2 = _sn_conv(self.filters, 3, initializer, "conv2")
        self.shortcut = _sn_conv(self.filters, 1, initializer, "shortcut")

    def build(self, x_shape, c_shape=None):
        # Explicit shapes: Keras' default build would trace call() once more, symbolically.
        in_shape = tuple(x_shape)
        up = in_shape[:1] + tuple(None if n is None else 2 * n for n in in_shape[1:3])
        out_shape = up + (self.filters,)
        if self.cond_dim:
            self.norm1.build(in_shape, tuple(c_shape))
            self.norm2.build(out_shape, tuple(c_shape))
        else:
            self.norm1.build(in_shape)
            self.norm2.build(out_shape)
        self.conv1.build(up + in_shape[3:])
        self.conv2.build(out_shape)
        self.shortcut.build(up + in_shape[3:])

    def _norm(self, layer, x, c, training):
        if self.cond_dim:
            return layer(x, c, training=training)
        return layer(x, training=training)

    def call(self, x, c=None, training=None):
        training = bool(training)
        h = ops.relu(self._norm(self.norm1, x, c, training))
        h = self.conv1(upsample2x(h), training=training)
        h = ops.relu(self._norm(self.norm2, h, c, training))
        h = self.conv2(h, training=training)
        return h + self.shortcut(upsample2x(x), training=training)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "cond_dim": self.cond_dim,
                       "bn_momentum": self.bn_momentum, "bn_epsilon": self.bn_epsilon,
                       "synchronized_bn": self.synchronized_bn,
                       "initializer": self.initializer})
        return config


@REGISTER
class BigGANDBlock(keras.layers.Layer):
    """Residual discriminator block (see the module docstring). ``optimized``: the first
    block, on the images (no leading ReLU, always downsamples, shortcut avgpool-conv1x1).
    Call: ``block(x, training=None)``."""

    def __init__(self, filters, downsample=True, optimized=False, initializer=INIT, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.initializer = initializer
        self.downsample = bool(downsample)
        self.optimized = bool(optimized)
        if self.optimized and not self.downsample:
            raise ValueError("The optimized (first) BigGAN D block always downsamples.")
        self.conv1 = _sn_conv(self.filters, 3, initializer, "conv1")
        self.conv2 = _sn_conv(self.filters, 3, initializer, "conv2")

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        self.learnable_shortcut = (self.optimized or self.downsample
                                   or in_channels != self.filters)
        self.shortcut = (_sn_conv(self.filters, 1, self.initializer, "shortcut")
                         if self.learnable_shortcut else None)
        # Explicit shapes: Keras' default build would trace call() once more, symbolically.
        out_shape = tuple(input_shape[:3]) + (self.filters,)
        self.conv1.build(tuple(input_shape))
        self.conv2.build(out_shape)
        if self.shortcut is not None:
            self.shortcut.build(tuple(input_shape))  # a 1x1 kernel: only channels matter

    def call(self, x, training=None):
        training = bool(training)
        h = x if self.optimized else ops.relu(x)
        h = self.conv1(h, training=training)
        h = self.conv2(ops.relu(h), training=training)
        if self.downsample:
            h = avgpool2x(h)
        if self.optimized:
            return h + self.shortcut(avgpool2x(x), training=training)
        skip = x
        if self.shortcut is not None:
            skip = self.shortcut(skip, training=training)
        if self.downsample:
            skip = avgpool2x(skip)
        return h + skip

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "downsample": self.downsample,
                       "optimized": self.optimized, "initializer": self.initializer})
        return config


def _attention_after(block_resolutions, attention_resolutions, who):
    """Indices of the blocks followed by self-attention: the first block whose output has
    each requested resolution. ValueError for a resolution no block produces."""
    indices = []
    for resolution in attention_resolutions:
        if resolution not in block_resolutions:
            available = sorted(set(block_resolutions))
            raise ValueError(f"BigGAN {who}: no block outputs {resolution}x{resolution} for "
                             f"attention; choose attention_resolutions among {available} "
                             f"(or 0 / None for none).")
        indices.append(block_resolutions.index(resolution))
    return sorted(indices)


@REGISTER
class BigGANGenerator(Generator):
    """``G(z, labels=None, training=False) -> [B, size, size, channels]`` in [-1, 1]."""

    ARCH_CONFIG = ("ch", "shared_dim", "attention_resolutions", "hierarchical_z",
                   "bn_momentum", "bn_epsilon", "synchronized_bn", "channel_multipliers",
                   "initializer")
    validate_image_size = staticmethod(_check_image_size)

    def __init__(self, z_dim=120, ch=96, shared_dim=128, attention_resolutions=(64,),
                 hierarchical_z=True, bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON,
                 synchronized_bn=True, channel_multipliers=None, initializer=INIT,
                 num_classes=0, image_size=128, channels=3, **kwargs):
        super().__init__(z_dim=z_dim, num_classes=num_classes, image_size=image_size,
                         channels=channels, **kwargs)
        self.ch = int(ch)
        self.shared_dim = int(shared_dim)
        self.attention_resolutions = list(_resolutions(attention_resolutions))
        self.hierarchical_z = bool(hierarchical_z)
        self.bn_momentum, self.bn_epsilon = float(bn_momentum), float(bn_epsilon)
        self.synchronized_bn = bool(synchronized_bn)
        self.initializer = initializer
        default = GENERATOR_LAYOUTS[self.image_size]
        multipliers = tuple(default if channel_multipliers is None else channel_multipliers)
        if len(multipliers) != len(default):
            raise ValueError(f"BigGAN generator at {self.image_size} px has {len(default) - 1} "
                             f"blocks: channel_multipliers needs {len(default)} entries (the 4x4 "
                             f"input, then each block's output), got {list(multipliers)}")
        self.channel_multipliers = None if channel_multipliers is None else list(multipliers)
        widths = [self.ch * int(m) for m in multipliers]
        self.num_blocks = len(widths) - 1
        if self.num_classes > 0 and self.shared_dim < 1:
            raise ValueError(f"a conditional BigGAN needs shared_dim >= 1, got {shared_dim}")

        if self.hierarchical_z:
            chunks = self.num_blocks + 1
            if self.z_dim % chunks:
                raise ValueError(f"hierarchical z splits z into {chunks} equal chunks at "
                                 f"{self.image_size} px: z_dim must be a multiple of {chunks}, "
                                 f"got {self.z_dim}")
            self.chunk_dim = self.z_dim // chunks
        else:
            self.chunk_dim = 0
        shared = self.shared_dim if self.num_classes > 0 else 0
        cond_dim = shared + self.chunk_dim

        self.shared = (keras.layers.Embedding(self.num_classes, self.shared_dim,
                                              embeddings_initializer=initializer,
                                              name="shared")
                       if self.num_classes > 0 else None)
        self.bottom_channels = widths[0]
        self.linear = SNDense(4 * 4 * widths[0], kernel_initializer=initializer, name="linear")
        bn = dict(bn_momentum=self.bn_momentum, bn_epsilon=self.bn_epsilon,
                  synchronized_bn=self.synchronized_bn, initializer=initializer)
        self.blocks = [BigGANGBlock(widths[i + 1], cond_dim=cond_dim, name=f"block{i + 1}", **bn)
                       for i in range(self.num_blocks)]
        resolutions = [4 * 2 ** (i + 1) for i in range(self.num_blocks)]
        self.attention = {str(i): SelfAttention(kernel_initializer=initializer,
                                                name=f"attention{i + 1}")
                          for i in _attention_after(resolutions, self.attention_resolutions,
                                                    "generator")}
        self.norm_out = BatchNorm(momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                                  synchronized=self.synchronized_bn, name="norm_out")
        self.conv_out = _sn_conv(self.channels, 3, initializer, "conv_out")

    def call(self, z, labels=None, training=False):
        training = bool(training)
        shared = None
        if self.num_classes > 0:
            if labels is None:
                raise ValueError(_NEEDS_LABELS)
            shared = self.shared(ops.cast(labels, "int32"))
        x = self.synthesize(ops.cast(z, self.compute_dtype), shared, training)
        return ops.cast(OUTPUT_ACTIVATIONS[self.output_activation](x), "float32")

    def synthesize(self, z, shared, training):
        """Images before the output activation; ``shared`` is the class embedding [B, E]
        (None when unconditional)."""
        if self.hierarchical_z:
            chunks = ops.split(z, self.num_blocks + 1, axis=-1)
            z0, block_z = chunks[0], chunks[1:]
        else:
            z0, block_z = z, [None] * self.num_blocks
        h = ops.reshape(self.linear(z0, training=training), (-1, 4, 4, self.bottom_channels))
        for i, block in enumerate(self.blocks):
            parts = [p for p in (shared, block_z[i]) if p is not None]
            if parts:
                c = parts[0] if len(parts) == 1 else ops.concatenate(
                    [ops.cast(p, self.compute_dtype) for p in parts], axis=-1)
                h = block(h, c, training=training)
            else:
                h = block(h, training=training)
            if str(i) in self.attention:
                h = self.attention[str(i)](h, training=training)
        h = ops.relu(self.norm_out(h, training=training))
        return self.conv_out(h, training=training)


@REGISTER
class BigGANDiscriminator(Discriminator):
    """``D(images, labels=None, training=False) -> DiscriminatorOutput`` (logits [B])."""

    ARCH_CONFIG = ("ch", "attention_resolutions", "channel_multipliers", "downsample",
                   "initializer")
    validate_image_size = staticmethod(_check_image_size)

    def __init__(self, ch=96, attention_resolutions=(64,), channel_multipliers=None,
                 downsample=None, initializer=INIT, num_classes=0, image_size=128, channels=3,
                 **kwargs):
        super().__init__(num_classes=num_classes, image_size=image_size, channels=channels,
                         **kwargs)
        self.ch = int(ch)
        self.initializer = initializer
        self.attention_resolutions = list(_resolutions(attention_resolutions))
        default_multipliers, default_down = DISCRIMINATOR_LAYOUTS[self.image_size]
        multipliers = tuple(default_multipliers if channel_multipliers is None
                            else channel_multipliers)
        down = tuple(default_down if downsample is None else (bool(d) for d in downsample))
        if len(multipliers) != len(down):
            raise ValueError(f"BigGAN discriminator: channel_multipliers ({len(multipliers)}) "
                             f"and downsample ({len(down)}) need one entry per block; give both")
        if not down[0]:
            raise ValueError("BigGAN discriminator: the first block always downsamples "
                             "(downsample[0] must be True)")
        if 2 ** sum(down) > self.image_size:
            raise ValueError(f"BigGAN discriminator: {sum(down)} downsampling blocks are too many "
                             f"for {self.image_size} px")
        self.channel_multipliers = None if channel_multipliers is None else list(multipliers)
        self.downsample = None if downsample is None else list(down)
        self.blocks = [BigGANDBlock(self.ch * int(m), downsample=d, optimized=(i == 0),
                                    initializer=initializer, name=f"block{i + 1}")
                       for i, (m, d) in enumerate(zip(multipliers, down))]
        resolutions, size = [], self.image_size
        for d in down:
            size //= 2 if d else 1
            resolutions.append(size)
        self.attention = {str(i): SelfAttention(kernel_initializer=initializer,
                                                name=f"attention{i + 1}")
                          for i in _attention_after(resolutions, self.attention_resolutions,
                                                    "discriminator")}
        self.head = self.make_head()

    def features(self, x, training):
        h = x
        for i, block in enumerate(self.blocks):
            h = block(h, training=training)
            if str(i) in self.attention:
                h = self.attention[str(i)](h, training=training)
        return ops.sum(ops.relu(h), axis=(1, 2))  # global sum pooling -> [B, F]


@gin.configurable
def biggan_generator(z_dim=120, ch=96, shared_dim=128, attention_resolutions=(64,),
                     hierarchical_z=True, bn_momentum=BN_MOMENTUM, bn_epsilon=BN_EPSILON,
                     synchronized_bn=True, channel_multipliers=None, initializer=INIT,
                     num_classes=0, image_size=128, channels=3, output_activation="tanh"):
    """The BigGAN generator (unbuilt). ``attention_resolutions``: a resolution or a list
    (0 / None: no attention); ``channel_multipliers`` overrides the layout of
    ``GENERATOR_LAYOUTS[image_size]`` (same length); ``bn_momentum`` in Keras semantics;
    ``synchronized_bn``: cross-replica batch statistics; ``initializer``: of every kernel and
    the shared embedding (a Keras initializer name; BigGAN's is orthogonal)."""
    return BigGANGenerator(z_dim=z_dim, ch=ch, shared_dim=shared_dim,
                           attention_resolutions=attention_resolutions,
                           hierarchical_z=hierarchical_z, bn_momentum=bn_momentum,
                           bn_epsilon=bn_epsilon, synchronized_bn=synchronized_bn,
                           channel_multipliers=channel_multipliers, initializer=initializer,
                           num_classes=num_classes,
                           image_size=image_size, channels=channels,
                           output_activation=output_activation)


@gin.configurable
def biggan_discriminator(ch=96, attention_resolutions=(64,), channel_multipliers=None,
                         downsample=None, initializer=INIT, num_classes=0, image_size=128,
                         channels=3, **kwargs):
    """The BigGAN discriminator (unbuilt). ``channel_multipliers`` / ``downsample`` override
    ``DISCRIMINATOR_LAYOUTS[image_size]`` (one entry per block each); other keyword
    arguments go to ``Discriminator`` (e.g. the head's options)."""
    return BigGANDiscriminator(ch=ch, attention_resolutions=attention_resolutions,
                               channel_multipliers=channel_multipliers, downsample=downsample,
                               initializer=initializer, num_classes=num_classes, image_size=image_size,
                               channels=channels, **kwargs)
