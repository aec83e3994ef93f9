"""MS-SSIM: the window, single-scale SSIM by hand, the multi-scale product and the metric."""

import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr.eval import ms_ssim


def _pixels(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 255.0, shape)


def test_identical_images_have_ms_ssim_one_at_every_size():
    for size in (4, 8, 32, 64):
        x = _pixels((3, size, size, 3))
        np.testing.assert_allclose(ms_ssim.ms_ssim(x, x), 1.0, atol=1e-12)


def test_single_scale_ssim_equals_the_formula_for_a_window_the_size_of_the_image():
    a, b = _pixels((1, 5, 5, 1), 1), _pixels((1, 5, 5, 1), 2)
    window = ms_ssim.gaussian_window(5, 1.5 * 5 / 11)
    w = np.outer(window, window)[..., None]
    mu_a, mu_b = np.sum(w * a[0]), np.sum(w * b[0])
    var_a = np.sum(w * a[0] ** 2) - mu_a ** 2
    var_b = np.sum(w * b[0] ** 2) - mu_b ** 2
    cov = np.sum(w * a[0] * b[0]) - mu_a * mu_b
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    cs = (2 * cov + c2) / (var_a + var_b + c2)
    ssim = (2 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1) * cs
    got_ssim, got_cs = ms_ssim.ssim_and_contrast_structure(a, b)
    assert got_ssim[0] == pytest.approx(ssim, rel=1e-10) and got_cs[0] == pytest.approx(cs, rel=1e-10)


def test_gaussian_window_is_normalised_and_symmetric():
    w = ms_ssim.gaussian_window(11, 1.5)
    assert w.sum() == pytest.approx(1.0) and np.allclose(w, w[::-1]) and w.argmax() == 5


def test_matches_tensorflows_ms_ssim_where_that_is_defined():
    a = _pixels((3, 192, 192, 3), 3)
    b = np.clip(a + np.random.default_rng(4).normal(0, 25, a.shape), 0, 255)
    expected = tf.image.ssim_multiscale(a.astype(np.float32), b.astype(np.float32), 255.0).numpy()
    np.testing.assert_allclose(ms_ssim.ms_ssim(a, b), expected, rtol=1e-4)


def test_more_different_pairs_have_lower_ms_ssim():
    a = _pixels((4, 32, 32, 1), 5)
    noise = np.random.default_rng(6).normal(size=a.shape)
    values = [ms_ssim.ms_ssim(a, np.clip(a + s * noise, 0, 255)).mean() for s in (5, 20, 80)]
    assert values[0] > values[1] > values[2]
    with pytest.raises(ValueError, match="one shape"):
        ms_ssim.ms_ssim(a, a[:, :16])


def test_the_metric_pairs_consecutive_generated_images_across_batches():
    metric = ms_ssim.MultiScaleSSIM(num_pairs=3)
    metric.start(16, num_images=100)
    x = np.random.default_rng(7).uniform(-1, 1, (7, 16, 16, 1))
    x[1], x[3], x[5] = x[0], x[2], x[4]          # pairs (0,1) (2,3) (4,5) identical
    for batch in (x[:3], x[3:]):                  # a pair split over two batches
        metric.add("generated", batch)
        metric.add("real", batch)
    assert metric.wants("generated") == 0
    results = metric.results("fashion_mnist[test]", ["at 16x16"])
    assert results["ms_ssim"] == pytest.approx(1.0)
    assert 0.0 <= results["ms_ssim_real"] < 1.0   # real pairs are drawn at random
    assert results["ms_ssim_label"] == "MS-SSIM of 3 random generated pairs, at 16x16"
    assert results["ms_ssim_real_label"] == "MS-SSIM of 3 random fashion_mnist[test] pairs, at 16x16"
