"""Turning generated images into files a person can look at."""

import math

import numpy as np
import tensorflow as tf

from tfgan_icr.files import atomic_path


def to_uint8(images):
    """Float images in [-1, 1] -> uint8 [0, 255] (NumPy)."""
    images = np.asarray(images, dtype=np.float32)
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(images, rows=None, padding=2):
    """Tile [N, H, W, C] images into one [rows*(H+p)+p, cols*(W+p)+p, C] uint8 grid."""
    images = to_uint8(images)
    n, h, w, c = images.shape
    rows = rows or int(math.ceil(math.sqrt(n)))
    cols = int(math.ceil(n / rows))
    grid = np.full((rows * (h + padding) + padding, cols * (w + padding) + padding, c), 255, np.uint8)
    for i in range(n):
        r, k = divmod(i, cols)
        top, left = padding + r * (h + padding), padding + k * (w + padding)
        grid[top:top + h, left:left + w] = images[i]
    return grid


def write_png(path, image_uint8):
    """Write one uint8 [H, W, C] image as PNG, atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        tf.io.write_file(tmp, tf.io.encode_png(image_uint8))
    return path


def write_grid(path, images, rows=None):
    return write_png(path, make_grid(images, rows=rows))
