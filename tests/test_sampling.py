"""The latents: truncation trick bounds and resampling, reproducibility of numbered inputs."""

import numpy as np
import pytest
import tensorflow as tf

from tfgan_icr import sampling


@pytest.mark.parametrize("threshold", [0.5, 1.0, 2.0])
def test_truncated_normal_stays_within_the_threshold(threshold):
    z = sampling.truncated_normal([4000, 8], threshold, seed=[1, 2]).numpy()
    assert np.abs(z).max() <= threshold
    assert z.std() > 0.2 * threshold  # values were redrawn, not collapsed to 0


def test_truncated_normal_keeps_values_inside_and_redraws_the_rest():
    seed = tf.constant([3, 4], tf.int64)
    plain = sampling.truncated_normal([2000], None, seed=seed).numpy()
    z = sampling.truncated_normal([2000], 1.0, seed=seed).numpy()
    inside = np.abs(plain) <= 1.0
    np.testing.assert_array_equal(z[inside], plain[inside])
    assert not np.any(np.isclose(z[~inside], plain[~inside]))
    # Redrawn values follow the truncated normal, not a clip: few sit on the bound.
    assert np.mean(np.abs(z) > 0.999) < 0.01


def test_truncated_normal_matches_the_truncated_distribution():
    z = sampling.truncated_normal([200000], 1.0, seed=[5, 6]).numpy()
    # The variance of N(0,1) truncated to [-1, 1] is 1 - 2 phi(1) / (2 Phi(1) - 1) = 0.2911.
    assert z.var() == pytest.approx(0.2911, abs=0.005)


def test_truncated_normal_is_reproducible_and_refuses_a_bad_threshold():
    a = sampling.truncated_normal([10], 0.7, seed=[7, 8])
    b = sampling.truncated_normal([10], 0.7, seed=[7, 8])
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="truncation must be > 0"):
        sampling.truncated_normal([10], 0.0, seed=[7, 8])
    assert sampling.truncated_normal([3, 2], 0.5).shape == (3, 2)  # unseeded draw


def test_numbered_inputs_truncation_changes_only_the_latents():
    z, labels = sampling.numbered_inputs(0, 7907, 10, 6, 4, 3)
    zt, labels_t = sampling.numbered_inputs(0, 7907, 10, 6, 4, 3, truncation=0.5)
    np.testing.assert_array_equal(labels, labels_t)
    np.testing.assert_array_equal(labels, [1, 2, 0, 1, 2, 0])
    assert np.abs(zt.numpy()).max() <= 0.5 < np.abs(z.numpy()).max()


def test_sample_grid_latents_follow_the_truncation():
    from tfgan_icr.training.callbacks import fixed_sample_inputs

    class Net:
        z_dim, num_classes = 16, 3

    z, labels, rows = fixed_sample_inputs(Net(), seed=1, per_class=4)
    zt, labels_t, _ = fixed_sample_inputs(Net(), seed=1, per_class=4, truncation=0.5)
    np.testing.assert_array_equal(labels, labels_t)
    assert rows == 3 and np.abs(zt.numpy()).max() <= 0.5 < np.abs(z.numpy()).max()
