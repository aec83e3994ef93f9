"""The constant-square detector of the cutout experiment."""

import numpy as np
import pytest

from tfgan_icr.eval.artifacts import constant_square_fraction, has_constant_square


def noise(n=4, size=32, channels=1, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, channels))


def test_finds_a_square_of_the_value_anywhere_and_only_of_full_size():
    images = noise()
    images[1, 3:15, 20:32] = 0.02           # 12x12 grey square touching the border
    images[2, 10:21, 5:16] = 0.0            # 11x11 only
    images[3, 0:12, 0:12] = -1.0            # 12x12 black: another value
    assert has_constant_square(images, 12, value=0.0, tolerance=0.05).tolist() == [False, True, False, False]
    assert has_constant_square(images, 11, value=0.0, tolerance=0.05).tolist() == [False, True, True, False]
    assert has_constant_square(images, 12, value=-1.0, tolerance=0.05).tolist() == [False, False, False, True]


def test_every_channel_must_be_close_and_fraction():
    images = noise(channels=3)
    images[0, 4:12, 4:12, :2] = 0.0         # one channel still noisy: no square
    images[1, 4:12, 4:12, :] = 0.0
    assert has_constant_square(images, 8).tolist() == [False, True, False, False]
    assert constant_square_fraction(images, 8) == pytest.approx(0.25)
    assert has_constant_square(images[..., 0], 8).tolist() == [True, True, False, False]  # [N, H, W]


def test_sizes_outside_the_image_find_nothing_and_bad_shapes_raise():
    assert not has_constant_square(np.zeros((2, 8, 8, 1)), 9).any()
    assert has_constant_square(np.zeros((2, 8, 8, 1)), 8).all()
    with pytest.raises(ValueError):
        has_constant_square(np.zeros((8, 8)), 2)
