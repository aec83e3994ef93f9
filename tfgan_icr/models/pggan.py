"""Progressive GAN networks (Karras et al. 2018): a generator and a discriminator that grow
from 4x4 to ``image_size`` (a power of two up to 1024), mirror images of each other.

Every resolution's layers are built at construction, so the variable set is the same at every
stage and any stage's checkpoint restores into the same model. What the networks compute is
chosen by their `LevelOfDetail`: ``resolution`` (a Python int, fixed for a traced train step,
so a 4x4 step runs only the 4x4 layers) and the fade-in ``alpha`` (a variable, set in the
graph from the step by `tfgan_icr.methods.progressive.ProgressiveGrowth`). At resolution r
with alpha < 1 the generator outputs ``alpha * toRGB_r(block_r(h)) + (1 - alpha) *
upsample(toRGB_{r/2}(h))``, and the discriminator blends ``block_r(fromRGB_r(x))`` with
``fromRGB_{r/2}(avgpool(x))`` the same way.

Per block: nearest 2x upsampling / 2x2 average pooling, two 3x3 equalized convolutions with
leaky ReLU (0.2); in G a pixel norm after each (and on the latent). The 4x4 generator block is
a dense layer to 4x4 (gain sqrt(2)/4, as the reference) and a 3x3 conv; the discriminator ends
in minibatch stddev (group 4), a 3x3 conv, a dense layer and the one-logit dense head (gain 1).
Channels per resolution: ``min(fmap_base / 2^(level + 1), fmap_max)`` with level 0 at 4x4
(the paper: fmap_base 8192, fmap_max 512). The output is linear (the paper has no tanh).
Conditional models (``num_classes > 0``) concatenate the one-hot label to z in G and end in
the projection head in D.
"""

import math

import gin
import tensorflow as tf
from keras import ops

from tfgan_icr.layers import EqualizedConv2D, EqualizedDense, MinibatchStdDev, PixelNormalization
from tfgan_icr.models.base import REGISTER, Discriminator, Generator

__all__ = ["LevelOfDetail", "PGGANDiscriminator", "PGGANGenerator", "pggan_discriminator",
           "pggan_generator", "resolutions_to", "downsample", "upsample"]

LEAKY_SLOPE = 0.2
START_RESOLUTION = 4
MAX_RESOLUTION = 1024


def _check_image_size(image_size):
    size = int(image_size)
    if size < START_RESOLUTION or size > MAX_RESOLUTION or size & (size - 1):
        raise ValueError(f"PGGAN needs image_size a power of two from {START_RESOLUTION} to "
                         f"{MAX_RESOLUTION}, got {image_size}")


def resolutions_to(image_size):
    """4, 8, ..., image_size."""
    _check_image_size(image_size)
    return [START_RESOLUTION * 2 ** i for i in range(int(math.log2(int(image_size) // START_RESOLUTION)) + 1)]


def upsample(x, factor=2):
    """Nearest-neighbour upsampling of NHWC images by an integer factor."""
    return ops.repeat(ops.repeat(x, factor, axis=1), factor, axis=2) if factor > 1 else x


def downsample(x, factor=2):
    """Box (average-pool) downsampling of NHWC images by an integer factor."""
    return ops.average_pool(x, factor, strides=factor, padding="valid") if factor > 1 else x


def _lerp(a, b, t):
    return a + (b - a) * ops.cast(t, a.dtype)


def _lrelu(x):
    return ops.leaky_relu(x, negative_slope=LEAKY_SLOPE)


class LevelOfDetail:
    """What a growing network computes now: ``resolution`` (a Python int: changing it means a
    new trace) and the fade-in ``alpha`` (a float32 variable, assigned inside the step).

    A plain object, so Keras does not count ``alpha`` as a weight of the network: it is a
    function of the step and the schedule, not trained, averaged or checkpointed state.
    """

    def __init__(self, resolutions):
        self.resolutions = list(resolutions)
        self.resolution = self.resolutions[-1]
        self.alpha = tf.Variable(1.0, trainable=False, dtype=tf.float32, name="fade_in_alpha",
                                 aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    @property
    def level(self):
        return self.resolutions.index(self.resolution)

    def set(self, resolution, alpha=None):
        if resolution not in self.resolutions:
            raise ValueError(f"resolution {resolution} is not one of {self.resolutions}")
        self.resolution = int(resolution)
        if alpha is not None:
            self.alpha.assign(float(alpha))


def _filters(level, fmap_base, fmap_max):
    return int(min(fmap_base // 2 ** (level + 1), fmap_max))


class _Growing:
    """The level-of-detail plumbing G and D share."""

    def _init_growth(self, fmap_base, fmap_max):
        self.fmap_base, self.fmap_max = int(fmap_base), int(fmap_max)
        self.level_of_detail = LevelOfDetail(resolutions_to(self.image_size))

    def nf(self, level):
        return _filters(level, self.fmap_base, self.fmap_max)

    @property
    def output_resolution(self):
        """The resolution the network works at now (images out of G / into D)."""
        return self.level_of_detail.resolution


@REGISTER
class PGGANGenerator(_Growing, Generator):
    """``G(z, labels=None) -> [B, r, r, channels]`` at the current resolution r."""

    ARCH_CONFIG = ("fmap_base", "fmap_max", "pixel_norm_epsilon")
    validate_image_size = staticmethod(_check_image_size)

    def __init__(self, z_dim=512, num_classes=0, image_size=32, channels=3, fmap_base=8192,
                 fmap_max=512, pixel_norm_epsilon=1e-8, output_activation="linear", **kwargs):
        super().__init__(z_dim=z_dim, num_classes=num_classes, image_size=image_size,
                         channels=channels, output_activation=output_activation, **kwargs)
        self._init_growth(fmap_base, fmap_max)
        self.pixel_norm_epsilon = float(pixel_norm_epsilon)
        self.pixel_norm = PixelNormalization(self.pixel_norm_epsilon, name="pixel_norm")
        levels = len(self.level_of_detail.resolutions)
        nf0 = self.nf(0)
        self.dense = EqualizedDense(16 * nf0, gain=math.sqrt(2.0) / 4, name="dense")
        self.dense.build((None, self.z_dim + self.num_classes))
        self.conv_first = EqualizedConv2D(nf0, 3, name="conv_first")
        self.conv_first.build((None, 4, 4, nf0))
        # Index l - 1 holds the block into level l (resolution 4 * 2^l).
        self.conv_up = []
        self.conv = []
        for level in range(1, levels):
            a = EqualizedConv2D(self.nf(level), 3, name=f"conv_up_{level}")
            a.build((None, None, None, self.nf(level - 1)))
            b = EqualizedConv2D(self.nf(level), 3, name=f"conv_{level}")
            b.build((None, None, None, self.nf(level)))
            self.conv_up.append(a)
            self.conv.append(b)
        self.to_rgb = []
        for level in range(levels):
            layer = EqualizedConv2D(self.channels, 1, gain=1.0, name=f"to_rgb_{level}")
            layer.build((None, None, None, self.nf(level)))
            self.to_rgb.append(layer)

    def _norm_act(self, x):
        return self.pixel_norm(_lrelu(x))

    def synthesize(self, z, c, training):
        x = z if c is None else ops.concatenate([z, c], axis=-1)
        h = self.dense(self.pixel_norm(x))
        h = self._norm_act(ops.reshape(h, (-1, 4, 4, self.nf(0))))
        h = self._norm_act(self.conv_first(h))
        level = self.level_of_detail.level
        previous = None
        for i in range(1, level + 1):
            previous = h
            h = self._norm_act(self.conv_up[i - 1](upsample(h)))
            h = self._norm_act(self.conv[i - 1](h))
        out = self.to_rgb[level](h)
        if level > 0:  # fade-in: alpha 1 is the new network, 0 the previous one upsampled
            out = _lerp(upsample(self.to_rgb[level - 1](previous)), out, self.level_of_detail.alpha)
        return out


@REGISTER
class PGGANDiscriminator(_Growing, Discriminator):
    """``D(images [B, r, r, channels], labels=None) -> DiscriminatorOutput`` at the current
    resolution r."""

    ARCH_CONFIG = ("fmap_base", "fmap_max", "group_size")
    validate_image_size = staticmethod(_check_image_size)

    def __init__(self, num_classes=0, image_size=32, channels=3, fmap_base=8192, fmap_max=512,
                 group_size=4, **kwargs):
        super().__init__(num_classes=num_classes, image_size=image_size, channels=channels,
                         **kwargs)
        self._init_growth(fmap_base, fmap_max)
        self.group_size = int(group_size)
        levels = len(self.level_of_detail.resolutions)
        self.from_rgb = []
        for level in range(levels):
            layer = EqualizedConv2D(self.nf(level), 1, name=f"from_rgb_{level}")
            layer.build((None, None, None, self.channels))
            self.from_rgb.append(layer)
        # Index l - 1 holds the block out of level l (down to level l - 1).
        self.conv = []
        self.conv_down = []
        for level in range(1, levels):
            a = EqualizedConv2D(self.nf(level), 3, name=f"conv_{level}")
            a.build((None, None, None, self.nf(level)))
            b = EqualizedConv2D(self.nf(level - 1), 3, name=f"conv_down_{level}")
            b.build((None, None, None, self.nf(level)))
            self.conv.append(a)
            self.conv_down.append(b)
        nf0 = self.nf(0)
        self.minibatch_stddev = MinibatchStdDev(self.group_size, name="minibatch_stddev")
        self.conv_last = EqualizedConv2D(nf0, 3, name="conv_last")
        self.conv_last.build((None, 4, 4, nf0 + 1))
        self.dense = EqualizedDense(nf0, name="dense")
        self.dense.build((None, 16 * nf0))
        self.feature_dim = nf0
        self.head = self.make_head()
        if self.num_classes == 0:
            self.head.build((None, nf0))

    def make_head(self):
        if self.num_classes > 0:
            return super().make_head()
        return EqualizedDense(1, gain=1.0, name="head")

    def _down(self, level, h):
        h = _lrelu(self.conv[level - 1](h))
        return downsample(_lrelu(self.conv_down[level - 1](h)))

    def features(self, x, training):
        level = self.level_of_detail.level
        h = _lrelu(self.from_rgb[level](x))
        if level > 0:
            h = self._down(level, h)
            skip = _lrelu(self.from_rgb[level - 1](downsample(x)))
            h = _lerp(skip, h, self.level_of_detail.alpha)
            for i in range(level - 1, 0, -1):
                h = self._down(i, h)
        h = _lrelu(self.conv_last(self.minibatch_stddev(h)))
        return _lrelu(self.dense(ops.reshape(h, (-1, 16 * self.nf(0)))))

    def _build_with_dummy_inputs(self):
        size = self.output_resolution
        self(ops.zeros((1, size, size, self.channels)), ops.zeros((1,), "int32"), training=False)


@gin.configurable
def pggan_generator(z_dim=512, num_classes=0, image_size=32, channels=3, fmap_base=8192,
                    fmap_max=512, pixel_norm_epsilon=1e-8, output_activation="linear"):
    """The PGGAN generator, all resolutions' layers built (the paper: z 512, fmap_base 8192,
    fmap_max 512, linear output)."""
    return PGGANGenerator(z_dim=z_dim, num_classes=num_classes, image_size=image_size,
                          channels=channels, fmap_base=fmap_base, fmap_max=fmap_max,
                          pixel_norm_epsilon=pixel_norm_epsilon, output_activation=output_activation)


@gin.configurable
def pggan_discriminator(num_classes=0, image_size=32, channels=3, fmap_base=8192, fmap_max=512,
                        group_size=4):
    """The PGGAN discriminator, all resolutions' layers built (minibatch stddev group 4)."""
    return PGGANDiscriminator(num_classes=num_classes, image_size=image_size, channels=channels,
                              fmap_base=fmap_base, fmap_max=fmap_max, group_size=group_size)
