import math

import numpy as np
import pytest

from tfgan_icr import losses

REAL = np.array([2.0, -1.0, 0.5, 0.0], np.float32)
FAKE = np.array([-3.0, 1.0, 0.25, 4.0], np.float32)


def softplus(x):
    return math.log1p(math.exp(x))


def test_non_saturating_matches_hand_computation():
    d = sum(softplus(-r) for r in REAL) / 4 + sum(softplus(f) for f in FAKE) / 4
    g = sum(softplus(-f) for f in FAKE) / 4
    assert float(losses.non_saturating_discriminator_loss(REAL, FAKE)) == pytest.approx(d, rel=1e-6)
    assert float(losses.non_saturating_generator_loss(FAKE)) == pytest.approx(g, rel=1e-6)


def test_non_saturating_is_binary_cross_entropy_of_sigmoid():
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    d = -np.mean([math.log(sig(r)) for r in REAL]) - np.mean([math.log(1 - sig(f)) for f in FAKE])
    assert float(losses.non_saturating_discriminator_loss(REAL, FAKE)) == pytest.approx(d, rel=1e-5)


def test_hinge_matches_hand_computation():
    # relu(1 - r): [0, 2, 0.5, 1] -> 0.875; relu(1 + f): [0, 2, 1.25, 5] -> 2.0625
    assert float(losses.hinge_discriminator_loss(REAL, FAKE)) == pytest.approx(0.875 + 2.0625)
    assert float(losses.hinge_generator_loss(FAKE)) == pytest.approx(-(-3 + 1 + 0.25 + 4) / 4)


def test_wasserstein_matches_hand_computation():
    assert float(losses.wasserstein_discriminator_loss(REAL, FAKE)) == pytest.approx(0.5625 - 0.375)
    assert float(losses.wasserstein_generator_loss(FAKE)) == pytest.approx(-0.5625)


def test_least_squares_on_raw_outputs():
    d = 0.5 * np.mean((REAL - 1) ** 2) + 0.5 * np.mean(FAKE ** 2)
    g = 0.5 * np.mean((FAKE - 1) ** 2)
    assert float(losses.least_squares_discriminator_loss(REAL, FAKE)) == pytest.approx(d, rel=1e-6)
    assert float(losses.least_squares_generator_loss(FAKE)) == pytest.approx(g, rel=1e-6)


@pytest.mark.parametrize("name", ["non_saturating", "hinge", "wasserstein", "least_squares"])
def test_losses_accept_column_logits_and_reduce_to_scalars(name):
    d_fn = getattr(losses, f"{name}_discriminator_loss")
    g_fn = getattr(losses, f"{name}_generator_loss")
    flat = float(d_fn(REAL, FAKE))
    column = d_fn(REAL[:, None], FAKE[:, None])
    assert np.shape(column) == ()
    assert float(column) == pytest.approx(flat)
    assert np.shape(g_fn(FAKE[:, None])) == ()


@pytest.mark.parametrize("name", ["non_saturating", "hinge", "least_squares"])
def test_discriminator_loss_is_lower_when_it_separates_real_from_fake(name):
    d_fn = getattr(losses, f"{name}_discriminator_loss")
    good = float(d_fn(np.full(8, 3.0, np.float32), np.full(8, -3.0, np.float32)))
    bad = float(d_fn(np.full(8, -3.0, np.float32), np.full(8, 3.0, np.float32)))
    assert good < bad


def test_classification_cross_entropy_is_the_mean_negative_log_softmax_of_the_label():
    logits = np.array([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]], np.float32)
    labels = np.array([0, 1])
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -(logp[0, 0] + logp[1, 1]) / 2
    assert float(losses.classification_cross_entropy(logits, labels)) == pytest.approx(expected, rel=1e-6)


def test_conditional_contrastive_loss_refuses_a_non_positive_temperature():
    e = np.eye(2, dtype=np.float32)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        losses.conditional_contrastive_loss(e, e, [0, 1], temperature=0.0)
