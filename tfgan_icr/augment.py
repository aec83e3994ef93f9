"""Image transforms T(x) for consistency regularization (CR, bCR; Zhang et al. 2020, Zhao et al. 2020).

Every transform is a function ``fn(images, seed) -> images``:

- ``images``: float32 NHWC in [-1, 1], any height, width and channel count (1 or 3); the batch
  size may be unknown (``None``) when traced; height, width and channels must be static where a
  transform needs them (translate with a fractional ``max_pixels``, colour saturation).
- ``seed``: a stateless seed, a shape-[2] int32/int64 tensor as taken by ``tf.random.stateless_*``.
  The same images and seed give the same output, eager, in tf.function or under XLA (the draws
  are integer Philox draws, see ``stateless_uniform``); no stateful random op is used anywhere.
- The output has the shape and dtype of the input and stays in [-1, 1].

Each sample of a batch draws its own parameters. The transforms are built from plain TensorFlow
ops (pad, gather, reverse, where, comparisons): no ``ImageProjectiveTransform``, so they compile
under XLA (``tf.function(jit_compile=True)``) on CPU as well as on accelerators.

Each transform is registered with gin, and ``augment`` applies a configurable list of them:
``augment.transforms = [@random_flip, @random_translate]`` (the ICR paper's default: horizontal
flip + shift by up to 4 px at 32x32, 16 px at 128x128: ``random_translate.max_pixels = 16``).
"""

import gin
import tensorflow as tf


def _seed(seed):
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise TypeError(f"a stateless seed must be an integer tensor of shape [2], got {seed.dtype}")
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    return seed


def _split(seed, num):
    """``num`` independent stateless seeds derived from ``seed``."""
    seed = _seed(seed)
    return [tf.random.experimental.stateless_fold_in(seed, i, alg=_ALG) for i in range(num)]


def _check_images(images):
    images = tf.convert_to_tensor(images)
    if images.shape.rank is not None and images.shape.rank != 4:
        raise ValueError(f"images must be NHWC (rank 4), got shape {images.shape}")
    return images


def _per_sample(batch, rank=4):
    """Shape [B, 1, 1, 1]: a per-sample value broadcast over pixels and channels."""
    return tf.stack([batch] + [1] * (rank - 1))


# The stateless draws name their algorithm (Philox) and draw integers only: with the default
# "auto_select" XLA picks another algorithm, and even with Philox XLA turns random bits into floats
# differently from the TensorFlow kernels. Integer Philox draws agree across eager, tf.function and
# XLA, so the transforms and penalties give the same numbers whether they are compiled or not.
_ALG = "philox"
_FLOAT_BITS = 24  # float32 holds every multiple of 2**-24 in [0, 1) exactly


def _uniform_int(shape, seed, low, high):
    """Integers uniform in [low, high] (both ends included)."""
    return tf.random.stateless_uniform(shape, seed=_seed(seed), minval=low, maxval=high + 1, dtype=tf.int32,
                                       alg=_ALG)


def stateless_uniform(shape, seed, minval=0.0, maxval=1.0):
    """float32 uniform in [minval, maxval), a function of ``seed`` alone (Philox, 24 random bits).

    Unlike ``tf.random.stateless_uniform``, the same under XLA as without it.
    """
    bits = tf.random.stateless_uniform(shape, seed=_seed(seed), minval=0, maxval=1 << _FLOAT_BITS,
                                       dtype=tf.int32, alg=_ALG)
    unit = tf.cast(bits, tf.float32) * (1.0 / (1 << _FLOAT_BITS))
    return minval + (maxval - minval) * unit


@gin.configurable
def random_flip(images, seed, probability=0.5):
    """Flips each sample left-right with the given probability (drawn per sample).

    ``probability=0`` is the identity, ``probability=1`` flips every sample.
    """
    images = _check_images(images)
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"random_flip: probability must be in [0, 1], got {probability}")
    if probability == 0:
        return images
    batch = tf.shape(images)[0]
    flip = stateless_uniform([batch], seed) < probability
    return tf.where(tf.reshape(flip, _per_sample(batch)), tf.reverse(images, axis=[2]), images)


def _shift_pixels(max_pixels, size, axis_name):
    if isinstance(max_pixels, float) and 0.0 < max_pixels < 1.0:
        if size is None:
            raise ValueError(f"random_translate: a fractional max_pixels ({max_pixels}) needs a static "
                             f"image {axis_name}")
        return int(round(max_pixels * size))
    if max_pixels < 0 or int(max_pixels) != max_pixels:
        raise ValueError(f"random_translate: max_pixels must be a non-negative integer or a fraction "
                         f"in (0, 1), got {max_pixels}")
    return int(max_pixels)


@gin.configurable
def random_translate(images, seed, max_pixels=4, padding="REFLECT"):
    """Shifts each sample by integers (dy, dx), each uniform in [-max_pixels, max_pixels].

    Content at (row, col) moves to (row + dy, col + dx); the pixels uncovered at the border are
    filled as ``tf.pad`` fills them in mode ``padding``: "REFLECT" (default, mirror without
    repeating the edge pixel; needs max_pixels < height and < width), "SYMMETRIC" (mirror
    repeating it) or "CONSTANT" (0.0, mid-grey in [-1, 1]). Implemented as pad + per-sample crop
    with ``tf.gather``, so it compiles under XLA.

    ``max_pixels`` is a number of pixels (the ICR paper: 4 at 32x32, 16 at 128x128), or, given as
    a float in (0, 1), a fraction of the image size: ``round(max_pixels * height)`` rows and
    ``round(max_pixels * width)`` columns (0.125 is 4 px at 32x32 and 16 px at 128x128).
    ``max_pixels=0`` is the identity.
    """
    images = _check_images(images)
    height, width = images.shape[1], images.shape[2]
    max_dy = _shift_pixels(max_pixels, height, "height")
    max_dx = _shift_pixels(max_pixels, width, "width")
    if max_dy == 0 and max_dx == 0:
        return images
    mode = padding.upper()
    if mode not in ("REFLECT", "SYMMETRIC", "CONSTANT"):
        raise ValueError(f"random_translate: padding must be REFLECT, SYMMETRIC or CONSTANT, got {padding!r}")
    for shift, size, name in ((max_dy, height, "height"), (max_dx, width, "width")):
        limit = size - 1 if mode == "REFLECT" else size
        if size is not None and shift > limit:
            raise ValueError(f"random_translate: a shift of {shift} px does not fit {mode} padding of an "
                             f"image {name} of {size}")
    batch = tf.shape(images)[0]
    seed_y, seed_x = _split(seed, 2)
    dy = _uniform_int([batch], seed_y, -max_dy, max_dy)
    dx = _uniform_int([batch], seed_x, -max_dx, max_dx)
    padded = tf.pad(images, [[0, 0], [max_dy, max_dy], [max_dx, max_dx], [0, 0]], mode=mode)
    # out[b, i, j] = images[b, i - dy, j - dx] = padded[b, i - dy + max_dy, j - dx + max_dx]
    rows = tf.range(tf.shape(images)[1])[None, :] + (max_dy - dy)[:, None]
    cols = tf.range(tf.shape(images)[2])[None, :] + (max_dx - dx)[:, None]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(out, cols, axis=2, batch_dims=1)


@gin.configurable
def cutout(images, seed, size=16, fill=0.0):
    """Fills one ``size`` x ``size`` square per sample with ``fill`` (DeVries & Taylor 2017).

    The centre is uniform over the image's pixels, so the square may be partly outside the image
    (then only its inside part is filled), as in DeVries & Taylor. The square covers rows
    [cy - size // 2, cy - size // 2 + size) and likewise columns. ``fill=0.0`` is mid-grey in
    [-1, 1] (the zero of data normalised to mean 0). ``size=0`` is the identity.
    """
    images = _check_images(images)
    if size < 0 or int(size) != size:
        raise ValueError(f"cutout: size must be a non-negative integer, got {size}")
    if size == 0:
        return images
    batch, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    seed_y, seed_x = _split(seed, 2)
    top = _uniform_int([batch], seed_y, 0, height - 1) - size // 2
    left = _uniform_int([batch], seed_x, 0, width - 1) - size // 2
    rows = tf.range(height)[None, :] - top[:, None]
    cols = tf.range(width)[None, :] - left[:, None]
    in_rows = (rows >= 0) & (rows < size)
    in_cols = (cols >= 0) & (cols < size)
    mask = in_rows[:, :, None, None] & in_cols[:, None, :, None]
    return tf.where(mask, tf.cast(fill, images.dtype), images)


_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as tf.image.rgb_to_grayscale


@gin.configurable
def color_jitter(images, seed, brightness=0.0, contrast=0.0, saturation=0.0):
    """Per-sample random brightness, contrast and saturation, in this order; clipped to [-1, 1].

    - brightness: adds a shift uniform in [-brightness, brightness] **in [-1, 1] units** (the
      images' own scale: brightness=0.2 is a shift of up to 0.1 in [0, 1] units).
    - contrast: x -> mean + f * (x - mean), f uniform in [1 - contrast, 1 + contrast], mean per
      sample and channel over the pixels (as ``tf.image.adjust_contrast``).
    - saturation: x -> gray + f * (x - gray), f uniform in [1 - saturation, 1 + saturation], gray the
      BT.601 luma of the pixel (a blend with the grayscale image, as torchvision's
      ``adjust_saturation``). Only for 3 channels; the identity for 1 channel.

    contrast and saturation must be in [0, 1]. The result is clipped to [-1, 1] after each step.
    All three at 0 is the identity.
    """
    images = _check_images(images)
    if brightness < 0:
        raise ValueError(f"color_jitter: brightness must be >= 0, got {brightness}")
    for name, value in (("contrast", contrast), ("saturation", saturation)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"color_jitter: {name} must be in [0, 1], got {value}")
    channels = images.shape[-1]
    if saturation and channels is None:
        raise ValueError("color_jitter: saturation needs a static channel count")
    batch = tf.shape(images)[0]
    shape = _per_sample(batch)
    seed_b, seed_c, seed_s = _split(seed, 3)
    if brightness:
        shift = stateless_uniform(shape, seed_b, -brightness, brightness)
        images = tf.clip_by_value(images + tf.cast(shift, images.dtype), -1.0, 1.0)
    if contrast:
        factor = stateless_uniform(shape, seed_c, 1.0 - contrast, 1.0 + contrast)
        mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
        images = tf.clip_by_value(mean + tf.cast(factor, images.dtype) * (images - mean), -1.0, 1.0)
    if saturation and channels == 3:
        factor = stateless_uniform(shape, seed_s, 1.0 - saturation, 1.0 + saturation)
        gray = tf.reduce_sum(images * tf.constant(_LUMA, images.dtype), axis=-1, keepdims=True)
        images = tf.clip_by_value(gray + tf.cast(factor, images.dtype) * (images - gray), -1.0, 1.0)
    return images


def compose(*transforms):
    """One transform ``fn(images, seed)`` applying ``transforms`` in order.

    Transform i gets the seed ``stateless_fold_in(seed, i)``, so each draws independently and
    adding a transform at the end leaves the draws of the earlier ones unchanged. No transforms:
    the identity.
    """
    transforms = tuple(transforms)

    def composed(images, seed):
        images = _check_images(images)
        if not transforms:
            return images
        for i, (transform, sub_seed) in enumerate(zip(transforms, _split(seed, len(transforms)))):
            if not callable(transform):
                raise TypeError(f"augment: transform {i} ({transform!r}) is not callable")
            images = transform(images, sub_seed)
        return images

    return composed


@gin.configurable
def augment(images, seed, transforms=(random_flip, random_translate)):
    """T(x): ``transforms`` applied in order (see ``compose``); the default is the ICR paper's
    random horizontal flip + translation. ``transforms=()`` is the identity.
    """
    return compose(*transforms)(images, seed)
