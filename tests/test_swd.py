"""The multi-scale sliced Wasserstein distance: the pyramid, the descriptors, the distance."""

import numpy as np
import pytest

from tfgan_icr.eval import swd


def _images(n=16, size=32, channels=3, seed=0):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, (n, size, size, channels))


def test_laplacian_pyramid_levels_shapes_and_exact_reconstruction():
    x = _images(4, 64)
    levels = swd.laplacian_pyramid(x, swd.pyramid_levels(64))
    assert [level.shape[1] for level in levels] == [64, 32, 16]
    np.testing.assert_allclose(swd.reconstruct(levels), x, atol=1e-12)
    assert [swd.pyramid_levels(r) for r in (8, 16, 32, 128, 1024)] == [1, 1, 2, 4, 7]


def test_pyramid_filters_keep_a_constant_image_constant_to_the_border():
    x = np.full((1, 16, 16, 1), 0.3)
    np.testing.assert_allclose(swd.pyramid_down(x), 0.3, atol=1e-12)
    np.testing.assert_allclose(swd.pyramid_up(swd.pyramid_down(x)), 0.3, atol=1e-12)
    # So the band-pass levels of a constant image are 0 and its coarsest level is the constant.
    levels = swd.laplacian_pyramid(x, 2)
    np.testing.assert_allclose(levels[0], 0.0, atol=1e-12)


def test_the_binomial_filter_by_hand():
    x = np.zeros((1, 8, 8, 1))
    x[0, 4, 4, 0] = 1.0
    blurred = swd._blur(x)
    kernel = np.array([1, 4, 6, 4, 1]) / 16
    np.testing.assert_allclose(blurred[0, 2:7, 2:7, 0], np.outer(kernel, kernel), atol=1e-15)


def test_random_patches_are_the_neighbourhoods_at_the_drawn_positions():
    level = _images(3, 16, 2)
    patches = swd.random_patches(level, 5, 7, np.random.default_rng(1))
    rng = np.random.default_rng(1)
    ys, xs = rng.integers(0, 10, size=(3, 5)), rng.integers(0, 10, size=(3, 5))
    assert patches.shape == (15, 7, 7, 2)
    for n in range(3):
        for k in range(5):
            y, x = ys[n, k], xs[n, k]
            np.testing.assert_array_equal(patches[n * 5 + k], level[n, y:y + 7, x:x + 7])


def test_descriptors_are_normalised_per_channel():
    patches = _images(100, 7, 3) * np.array([1.0, 5.0, 0.1]) + np.array([3.0, -2.0, 0.5])
    d = swd.normalize_descriptors(patches).reshape(100, 7, 7, 3)
    np.testing.assert_allclose(d.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(d.std(axis=(0, 1, 2)), 1.0, atol=1e-5)


def test_sliced_wasserstein_in_one_dimension_is_the_sorted_l1_distance():
    a = np.array([[2.0], [0.0], [1.0]])
    b = np.array([[3.0], [4.0], [1.0]])  # sorted pairs (0,1) (1,3) (2,4): mean |diff| = 5/3
    rng = np.random.default_rng(0)
    assert swd.sliced_wasserstein(a, b, rng, num_projections=8) == pytest.approx(5.0 / 3.0, rel=1e-6)
    # Order within a set does not matter; the sets' sizes must agree.
    assert swd.sliced_wasserstein(a[::-1], b, rng, 8) == pytest.approx(5.0 / 3.0, rel=1e-6)
    with pytest.raises(ValueError, match="same shape"):
        swd.sliced_wasserstein(a, b[:2], rng)


def test_swd_is_zero_for_identical_sets_and_grows_with_added_noise():
    x = _images(32, 32, 3)
    assert swd.sliced_wasserstein_images(x, x) == [0.0, 0.0]
    noise = np.random.default_rng(5).normal(size=x.shape)
    by_level = np.array([swd.sliced_wasserstein_images(x, x + s * noise) for s in (0.05, 0.2, 0.5)])
    assert by_level.shape == (3, 2)
    assert np.all(np.diff(by_level, axis=0) > 0), by_level   # larger noise, larger distance, per level
    assert np.all(by_level[0] > 0)


def test_small_images_use_one_level_and_a_patch_that_fits():
    collector = swd.PyramidDescriptors(4, descriptors_per_image=3, patch_size=7)
    collector.add(_images(5, 4, 1))
    (level,) = collector.finish()
    assert collector.num_levels == 1 and collector.patch_size == 4 and level.shape == (15, 16)


def test_the_metric_collects_as_many_images_per_side_and_labels_its_levels():
    metric = swd.SlicedWasserstein(num_images=20, descriptors_per_image=16)
    metric.start(32, num_images=50)
    x = _images(30, 32, 1)
    for batch in (x[:12], x[12:]):
        metric.add("generated", batch)
        metric.add("real", batch)
    assert metric.wants("generated") == 0 and metric.wants("real") == 0
    results = metric.results("fashion_mnist[test]", ["at 32x32"])
    assert results["swd"] == 0.0 and results["swd_level_resolutions"] == [32, 16]
    assert results["swd_label"].startswith("SWD x 1e3@20 vs fashion_mnist[test], at 32x32, levels 32/16 px")
