import functools

import gin
import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr import augment

SEED = tf.constant([7, 11], tf.int32)
OTHER_SEED = tf.constant([7, 12], tf.int32)


def distinct_images(batch=8, size=16, channels=3):
    """A batch of distinct, asymmetric images in [-1, 1] (each sample its own random pattern)."""
    return tf.random.stateless_uniform([batch, size, size, channels], seed=[1, 2], minval=-1.0, maxval=1.0)


JITTER = functools.partial(augment.color_jitter, brightness=0.3, contrast=0.5, saturation=0.5)

TRANSFORMS = {
    "flip": augment.random_flip,
    "translate": augment.random_translate,
    "cutout": functools.partial(augment.cutout, size=6),
    "jitter": JITTER,
    "augment": augment.augment,
    "all": augment.compose(augment.random_flip, augment.random_translate,
                           functools.partial(augment.cutout, size=6), JITTER),
}


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_keeps_shape_dtype_and_range(name, channels):
    images = distinct_images(channels=channels)
    out = TRANSFORMS[name](images, SEED)
    assert out.shape == images.shape
    assert out.dtype == tf.float32
    assert float(tf.reduce_min(out)) >= -1.0 and float(tf.reduce_max(out)) <= 1.0


def test_keeps_a_non_square_shape():
    images = tf.random.stateless_uniform([3, 12, 20, 3], seed=[3, 4], minval=-1.0, maxval=1.0)
    for name, fn in TRANSFORMS.items():
        assert fn(images, SEED).shape == images.shape, name


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_samples_of_one_batch_draw_different_parameters(name):
    # The same image repeated: any difference between the outputs comes from per-sample draws.
    image = distinct_images(batch=1)
    images = tf.repeat(image, 16, axis=0)
    out = TRANSFORMS[name](images, SEED).numpy()
    assert len({out[i].tobytes() for i in range(16)}) > 1, name


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_reproducible_from_the_seed_and_different_for_another(name):
    images = distinct_images()
    fn = TRANSFORMS[name]
    first, again = fn(images, SEED).numpy(), fn(images, tf.identity(SEED)).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, fn(images, OTHER_SEED).numpy())
    # An int64 seed is accepted too.
    assert fn(images, tf.constant([7, 11], tf.int64)).shape == images.shape


@pytest.mark.parametrize("fn", [
    functools.partial(augment.random_flip, probability=0.0),
    functools.partial(augment.random_translate, max_pixels=0),
    functools.partial(augment.cutout, size=0),
    functools.partial(augment.color_jitter, brightness=0.0, contrast=0.0, saturation=0.0),
    functools.partial(augment.augment, transforms=()),
    augment.compose(),
], ids=["flip", "translate", "cutout", "jitter", "augment", "compose"])
def test_identity_when_off(fn):
    images = distinct_images()
    np.testing.assert_array_equal(fn(images, SEED).numpy(), images.numpy())


def test_saturation_is_the_identity_on_one_channel():
    images = distinct_images(channels=1)
    out = augment.color_jitter(images, SEED, saturation=1.0)
    np.testing.assert_array_equal(out.numpy(), images.numpy())


def test_flip_with_probability_one_reverses_the_columns():
    images = distinct_images()
    out = augment.random_flip(images, SEED, probability=1.0)
    np.testing.assert_array_equal(out.numpy(), images.numpy()[:, :, ::-1, :])


def test_flip_is_either_the_image_or_its_mirror():
    images = distinct_images(batch=32).numpy()
    out = augment.random_flip(images, SEED).numpy()
    flipped = [np.array_equal(o, x[:, ::-1]) for o, x in zip(out, images)]
    kept = [np.array_equal(o, x) for o, x in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < 32


def single_pixel_images(batch, size=32, row=16, col=13):
    images = -np.ones([batch, size, size, 1], np.float32)
    images[:, row, col, 0] = 1.0
    return images


@pytest.mark.parametrize("max_pixels", [1, 4])
def test_translate_moves_a_bright_pixel_by_at_most_max_pixels(max_pixels):
    row, col = 16, 13
    out = augment.random_translate(single_pixel_images(64, row=row, col=col), SEED,
                                   max_pixels=max_pixels).numpy()
    offsets = set()
    for sample in out[..., 0]:
        bright = np.argwhere(sample == 1.0)
        assert len(bright) == 1  # the pixel moved, nothing else lit up
        dy, dx = bright[0] - (row, col)
        assert abs(dy) <= max_pixels and abs(dx) <= max_pixels
        offsets.add((int(dy), int(dx)))
        # Pure integer shift: the content is the input moved by (dy, dx), elsewhere background.
        assert np.all(sample[sample != 1.0] == -1.0)
    # Offsets are drawn per sample and cover both directions of both axes.
    assert len(offsets) > 1
    assert {np.sign(dy) for dy, _ in offsets} >= {-1, 1} and {np.sign(dx) for _, dx in offsets} >= {-1, 1}


def test_translate_equals_a_shift_of_the_reflect_padded_image():
    images = distinct_images(batch=16, size=10).numpy()
    m = 3
    out = augment.random_translate(images, SEED, max_pixels=m).numpy()
    padded = np.pad(images, [(0, 0), (m, m), (m, m), (0, 0)], mode="reflect")
    for x, o in zip(padded, out):
        crops = [(dy, dx) for dy in range(-m, m + 1) for dx in range(-m, m + 1)
                 if np.array_equal(o, x[m - dy:m - dy + 10, m - dx:m - dx + 10])]
        assert len(crops) == 1


def test_translate_with_reflect_padding_leaves_no_constant_border():
    # A gradient image: a constant (e.g. zero) border would show up as repeated equal rows/columns.
    ramp = np.linspace(-1, 1, 16, dtype=np.float32)
    images = np.tile(ramp[None, :, None, None] * 0.5 + ramp[None, None, :, None] * 0.5, [32, 1, 1, 1])
    out = augment.random_translate(images, SEED, max_pixels=4).numpy()
    assert not np.any(np.all(out == 0.0, axis=(1, 3)))  # no all-zero column
    assert not np.any(np.all(out == 0.0, axis=(2, 3)))  # no all-zero row
    for sample in out[..., 0]:
        # Reflection never repeats the edge value in two adjacent rows/columns (SYMMETRIC would).
        assert np.all(np.diff(sample, axis=0) != 0) and np.all(np.diff(sample, axis=1) != 0)


def test_translate_accepts_a_fraction_of_the_image_size():
    images = single_pixel_images(64, size=32, row=16, col=16)
    out = augment.random_translate(images, SEED, max_pixels=0.125).numpy()  # 4 px at 32x32
    shifts = [np.argwhere(s == 1.0)[0] - 16 for s in out[..., 0]]
    assert max(int(np.abs(s).max()) for s in shifts) == 4


def test_translate_rejects_shifts_that_reflect_padding_cannot_fill():
    with pytest.raises(ValueError, match="REFLECT"):
        augment.random_translate(distinct_images(size=4), SEED, max_pixels=4)


def test_cutout_writes_a_constant_square_of_the_given_size():
    size, image_size = 6, 32
    images = np.full([64, image_size, image_size, 3], 0.5, np.float32)
    out = augment.cutout(images, SEED, size=size, fill=-0.25).numpy()
    inside = 0
    for sample in out:
        filled = np.all(sample == -0.25, axis=-1)
        assert np.all(filled | np.all(sample == 0.5, axis=-1))  # nothing else changed
        rows, cols = np.nonzero(filled)
        assert len(rows) > 0
        top, bottom, left, right = rows.min(), rows.max(), cols.min(), cols.max()
        # A filled axis-aligned rectangle, at most size x size; exactly size x size when inside.
        height, width = bottom - top + 1, right - left + 1
        assert filled[top:bottom + 1, left:right + 1].all() and filled.sum() == height * width
        assert height <= size and width <= size
        if 0 < top and bottom < image_size - 1 and 0 < left and right < image_size - 1:
            assert (height, width) == (size, size)
            inside += 1
    assert inside > 0


def test_cutout_centre_can_lie_near_the_edge():
    images = np.full([256, 16, 16, 1], 0.5, np.float32)
    out = augment.cutout(images, SEED, size=8).numpy()
    areas = (out[..., 0] == 0.0).sum(axis=(1, 2))
    assert areas.max() == 64 and areas.min() < 64  # some squares are cut by the border


def test_color_jitter_brightness_shifts_by_at_most_the_bound():
    images = np.zeros([64, 4, 4, 3], np.float32)
    out = augment.color_jitter(images, SEED, brightness=0.2).numpy()
    shifts = out[:, 0, 0, 0]
    assert np.all(out == shifts[:, None, None, None])  # one shift per sample, all pixels
    assert np.abs(shifts).max() <= 0.2 and shifts.min() < 0 < shifts.max()


def test_color_jitter_contrast_keeps_the_mean_and_scales_deviations():
    images = distinct_images(batch=16).numpy() * 0.4  # small enough not to clip
    out = augment.color_jitter(images, SEED, contrast=0.5).numpy()
    mean = images.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out.mean(axis=(1, 2), keepdims=True), mean, atol=1e-5)
    factors = (out - mean)[:, 0, 0, 0] / (images - mean)[:, 0, 0, 0]
    np.testing.assert_allclose(out - mean, factors[:, None, None, None] * (images - mean), atol=1e-5)
    assert np.all((factors >= 0.5 - 1e-5) & (factors <= 1.5 + 1e-5))


def test_color_jitter_saturation_zero_factor_range_gives_gray_and_colour_blend():
    images = distinct_images(batch=16).numpy() * 0.4
    out = augment.color_jitter(images, SEED, saturation=1.0).numpy()
    gray = (images * np.array([0.299, 0.587, 0.114], np.float32)).sum(-1, keepdims=True)
    factors = (out - gray)[:, 0, 0, 0] / (images - gray)[:, 0, 0, 0]
    np.testing.assert_allclose(out, np.clip(gray + factors[:, None, None, None] * (images - gray), -1, 1),
                               atol=1e-5)
    assert np.all((factors >= -1e-5) & (factors <= 2 + 1e-5))


def test_color_jitter_rejects_bad_ranges():
    with pytest.raises(ValueError):
        augment.color_jitter(distinct_images(), SEED, contrast=1.5)
    with pytest.raises(ValueError):
        augment.color_jitter(distinct_images(), SEED, brightness=-0.1)


def test_compose_folds_the_seed_with_the_index():
    images = distinct_images()
    flip = functools.partial(augment.random_flip, probability=0.5)
    out = augment.compose(flip, augment.random_translate)(images, SEED)
    by_hand = augment.random_translate(
        flip(images, tf.random.experimental.stateless_fold_in(SEED, 0, alg="philox")),
        tf.random.experimental.stateless_fold_in(SEED, 1, alg="philox"))
    np.testing.assert_array_equal(out.numpy(), by_hand.numpy())
    np.testing.assert_array_equal(augment.augment(images, SEED).numpy(), out.numpy())


def test_augment_is_configured_by_gin():
    gin.parse_config("""
        augment.transforms = [@random_flip, @cutout]
        random_flip.probability = 1.0
        cutout.size = 4
        cutout.fill = 0.5
    """)
    images = distinct_images()
    out = augment.augment(images, SEED).numpy()
    first, second = (tf.random.experimental.stateless_fold_in(SEED, i, alg="philox") for i in (0, 1))
    by_hand = augment.cutout(augment.random_flip(images, first, probability=1.0), second, size=4, fill=0.5)
    np.testing.assert_array_equal(out, by_hand.numpy())


def test_composed_augment_compiles_with_xla_on_cpu():
    transform = augment.compose(augment.random_flip, augment.random_translate,
                                functools.partial(augment.cutout, size=6), JITTER)
    images = distinct_images()
    compiled = tf.function(transform, jit_compile=True)
    with tf.device("/CPU:0"):
        out = compiled(images, SEED)
    # Same draws as without XLA (integer Philox draws); only float rounding may differ.
    np.testing.assert_allclose(out.numpy(), transform(images, SEED).numpy(), atol=1e-6)
    with tf.device("/CPU:0"):
        default = tf.function(augment.augment, jit_compile=True)(images, SEED)
    np.testing.assert_array_equal(default.numpy(), augment.augment(images, SEED).numpy())


def test_works_under_tf_function_with_an_unknown_batch_size():
    transform = augment.compose(augment.random_flip, augment.random_translate,
                                functools.partial(augment.cutout, size=6), JITTER)
    traced = tf.function(transform, input_signature=[tf.TensorSpec([None, 16, 16, 3], tf.float32),
                                                     tf.TensorSpec([2], tf.int32)])
    for batch in (3, 8):
        images = distinct_images(batch=batch)
        np.testing.assert_allclose(traced(images, SEED).numpy(), transform(images, SEED).numpy(), atol=1e-6)
    assert traced.experimental_get_tracing_count() == 1


def test_the_default_transforms_take_their_gin_bindings():
    gin.parse_config("random_flip.probability = 0.0\nrandom_translate.max_pixels = 0")
    images = distinct_images()
    np.testing.assert_array_equal(augment.augment(images, SEED).numpy(), images.numpy())
