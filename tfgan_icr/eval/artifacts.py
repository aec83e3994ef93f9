"""Detectors for artifacts in generated images.

`has_constant_square`: does an image contain a ``size x size`` square whose pixels all lie
within ``tolerance`` of ``value``? With the fill value of a cutout augmentation it finds
generated samples that copy the augmentation's holes (the ICR paper's Figure 5: with cutout,
CR lets the generator produce the holes, bCR does not). Compare the rate on generated
images with the rate on real images, which have their own flat regions.
"""

import numpy as np

__all__ = ["has_constant_square", "constant_square_fraction"]


def has_constant_square(images, size, value=0.0, tolerance=0.05):
    """``[N]`` bools for images ``[N, H, W, C]`` (or ``[N, H, W]``) in the [-1, 1] range: True
    where some ``size x size`` window has every pixel (every channel) within ``tolerance`` of
    ``value``."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C] or [N, H, W], got shape {images.shape}")
    size = int(size)
    n, height, width, _ = images.shape
    if size < 1 or size > min(height, width):
        return np.zeros([n], bool)
    close = np.all(np.abs(images - value) <= tolerance, axis=-1).astype(np.int64)  # [N, H, W]
    # Summed-area table: the window sum equals size^2 exactly where the whole window is close.
    table = np.zeros([n, height + 1, width + 1], np.int64)
    table[:, 1:, 1:] = close.cumsum(axis=1).cumsum(axis=2)
    windows = (table[:, size:, size:] - table[:, :-size, size:] - table[:, size:, :-size]
               + table[:, :-size, :-size])
    return np.any(windows == size * size, axis=(1, 2))


def constant_square_fraction(images, size, value=0.0, tolerance=0.05):
    """The fraction of `images` for which `has_constant_square` holds."""
    flags = has_constant_square(images, size, value, tolerance)
    return float(flags.mean()) if len(flags) else 0.0
