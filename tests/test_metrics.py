"""Tests of tfgan_icr.eval.metrics against scipy and independent numpy references."""

import numpy as np
import pytest
import scipy.linalg

from tfgan_icr.eval import (
    FeatureStats,
    fid_from_activations,
    frechet_distance,
    inception_score_from_logits,
    kid_from_activations,
)
from tfgan_icr.eval.metrics import polynomial_mmd2_unbiased


def _activations(seed, n=400, d=32, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    return (rng.normal(size=(n, d)) @ mix) * scale + shift


def _fid_scipy(a1, a2):
    """The pytorch-fid / TTUR route: scipy.linalg.sqrtm of S1 S2."""
    mu1, mu2 = a1.mean(0), a2.mean(0)
    s1, s2 = np.cov(a1, rowvar=False), np.cov(a2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


@pytest.mark.parametrize("shift,scale", [(0.0, 1.0), (0.3, 1.0), (0.5, 2.0)])
def test_fid_matches_scipy_sqrtm(shift, scale):
    a1 = _activations(0)
    a2 = _activations(1, shift=shift, scale=scale)
    ours = fid_from_activations(a1, a2)
    ref = _fid_scipy(a1, a2)
    assert isinstance(ours, float)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_frechet_distance_closed_form():
    # Diagonal covariances: FID = |dmu|^2 + sum (sqrt(a) - sqrt(b))^2.
    a = np.array([1.0, 4.0, 9.0])
    b = np.array([4.0, 1.0, 9.0])
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    expected = 5.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)


def test_fid_of_a_set_with_itself_is_zero():
    a = _activations(2, n=300, d=64)
    assert abs(fid_from_activations(a, a)) < 1e-8
    # Rank-deficient covariance (N < D): still ~0 (round-off of sqrt of ~1e-16 eigenvalues),
    # no NaN from tiny negative eigenvalues.
    b = _activations(3, n=20, d=64)
    value = fid_from_activations(b, b)
    assert np.isfinite(value) and abs(value) < 1e-6 * np.trace(np.cov(b, rowvar=False))


def test_fid_shape_checks():
    with pytest.raises(ValueError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError):
        fid_from_activations(np.zeros(5), np.zeros(5))


def test_inception_score_uniform_logits_is_one():
    mean, std = inception_score_from_logits(np.zeros((100, 1008)), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12)
    assert std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("num_classes", [2, 10, 1000])
def test_inception_score_confident_balanced_is_num_classes(num_classes):
    splits = 5
    labels = np.tile(np.arange(num_classes), 2 * splits)  # every split holds each class twice
    logits = np.full((labels.size, num_classes), -50.0)
    logits[np.arange(labels.size), labels] = 50.0
    mean, std = inception_score_from_logits(logits, splits=splits)
    assert mean == pytest.approx(num_classes, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9 * num_classes)


def test_inception_score_matches_direct_formula_and_is_shift_invariant():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(60, 7)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    scores = []
    for part in np.array_split(p, 3):
        py = part.mean(0)
        scores.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(py)), 1))))
    mean, std = inception_score_from_logits(logits + 1000.0, splits=3)  # stable log-softmax
    assert mean == pytest.approx(np.mean(scores), rel=1e-10)
    assert std == pytest.approx(np.std(scores), rel=1e-8)


def _mmd2_loops(x, y):
    """Independent reference: explicit sums over pairs of the cubic polynomial kernel."""
    d = x.shape[1]
    k = lambda a, b: (float(np.dot(a, b)) / d + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return sxx + syy - 2 * sxy


def test_kid_against_independent_implementation():
    x = _activations(4, n=30, d=8)
    y = _activations(5, n=30, d=8, shift=0.5)
    ref = _mmd2_loops(x, y)
    assert polynomial_mmd2_unbiased(x, y) == pytest.approx(ref, rel=1e-10)
    # subset_size >= N: every subset is the whole set (permuted), so each value equals ref,
    # and there is no spread to report (NaN, not a misleading 0).
    mean, std = kid_from_activations(x, y, num_subsets=5, subset_size=1000)
    assert mean == pytest.approx(ref, rel=1e-10)
    assert np.isnan(std)
    # One set larger than the subset: subsets differ, the spread is their std.
    mean, std = kid_from_activations(x, np.concatenate([y, y[:5] + 1.0]), num_subsets=5,
                                     subset_size=30)
    assert np.isfinite(std) and std > 0
    assert np.isnan(kid_from_activations(x, y, num_subsets=1, subset_size=10)[1])


def test_kid_block_estimator_is_tf_gans():
    # TF-GAN's kernel_classifier_distance_and_std_from_activations, written out: n_blocks =
    # ceil(max(n1, n2) / max_block_size); each set is cut in order, the LAST n % n_blocks
    # blocks one sample larger; mean of the per-block unbiased MMD^2; spread
    # sqrt(var_ddof1 / n_blocks).
    x = _activations(11, n=23, d=6)
    y = _activations(12, n=17, d=6, shift=0.3)
    n_blocks = 3  # ceil(23 / 8)
    bx, by = [0, 7, 15, 23], [0, 5, 11, 17]  # 23 = 7 + 8 + 8, 17 = 5 + 6 + 6
    ests = np.array([_mmd2_loops(x[bx[i]:bx[i + 1]], y[by[i]:by[i + 1]]) for i in range(n_blocks)])
    mean, se = kid_from_activations(x, y, estimator="blocks", max_block_size=8)
    assert mean == pytest.approx(ests.mean(), rel=1e-10)
    assert se == pytest.approx(np.sqrt(ests.var(ddof=1) / n_blocks), rel=1e-10)
    # One block: the whole sets, no spread (TF-GAN returns NaN too).
    mean, se = kid_from_activations(x, y, estimator="blocks", max_block_size=1024)
    assert mean == pytest.approx(_mmd2_loops(x, y), rel=1e-10) and np.isnan(se)
    with pytest.raises(ValueError, match="at least 2 samples"):
        kid_from_activations(x, y[:5], estimator="blocks", max_block_size=8)
    with pytest.raises(ValueError, match="unknown KID estimator"):
        kid_from_activations(x, y, estimator="tfgan")


def test_kid_of_identical_sets_is_near_zero_and_separates_distributions():
    a = _activations(6, n=600, d=16)
    mean, _ = kid_from_activations(a, a, num_subsets=20, subset_size=200, seed=1)
    far, _ = kid_from_activations(a, _activations(7, n=600, d=16, shift=1.0), num_subsets=20,
                                  subset_size=200, seed=1)
    assert abs(mean) < 0.02 * far
    assert far > 0.1
    # Same seed, same answer; subset_size is clipped to the smaller set.
    assert kid_from_activations(a, a[:50], num_subsets=3, seed=3) == kid_from_activations(
        a, a[:50], num_subsets=3, seed=3)


def test_feature_stats_streaming_equals_batch():
    a = _activations(8, n=1000, d=48, shift=3.0)
    stats = FeatureStats(max_features=150)
    for i in range(0, len(a), 64):  # uneven last batch
        stats.add(a[i:i + 64].astype(np.float32))
    a32 = a.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(stats.mu, a32.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(stats.sigma, np.cov(a32, rowvar=False), rtol=1e-10, atol=1e-12)
    assert stats.count == 1000
    assert stats.features.shape == (150, 48)
    np.testing.assert_array_equal(stats.features, a[:150].astype(np.float32))
    other = FeatureStats().add(_activations(9, n=500, d=48))
    assert stats.fid(other) == pytest.approx(
        fid_from_activations(a32, _activations(9, n=500, d=48)), rel=1e-9)


def test_feature_stats_npz_round_trip(tmp_path):
    stats = FeatureStats(max_features=10)
    stats.add(_activations(10, n=100, d=12))
    path = tmp_path / "stats.npz"
    stats.save(path)
    back = FeatureStats.load(path)
    np.testing.assert_array_equal(back.mu, stats.mu)
    np.testing.assert_array_equal(back.sigma, stats.sigma)
    np.testing.assert_array_equal(back.features, stats.features)
    assert back.count == 100 and back.max_features == 10
    # Loaded accumulators keep streaming.
    more = _activations(11, n=50, d=12)
    back.add(more)
    stats.add(more)
    np.testing.assert_allclose(back.sigma, stats.sigma, rtol=1e-12)
    # An npz with only mu/sigma (reference statistics) loads as fixed statistics.
    ref = tmp_path / "ref.npz"
    np.savez(ref, mu=stats.mu, sigma=stats.sigma)
    fixed = FeatureStats.load(ref)
    assert fixed.fid(stats) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError):
        fixed.add(more)
