"""Multi-scale structural similarity (MS-SSIM; Wang, Simoncelli & Bovik 2003) between random
pairs of generated images: a diversity measure (Odena et al. 2017; Karras et al. 2018), lower is
more diverse; the same number for pairs of real images is its yardstick.

The original definition: an 11-tap Gaussian window (sigma 1.5), K1 0.01 and K2 0.03, five
scales weighted (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2x2 average downsampling between
scales. Images smaller than the window at some scale use a window of the image's size (sigma
scaled alike), as the Progressive GAN code does, so 4x4 to 1024x1024 all have a value. A
negative contrast-structure term is clipped to 0 before its fractional power (as TensorFlow's
`tf.image.ssim_multiscale` does) instead of making the product NaN.
"""

import gin
import numpy as np

from tfgan_icr.errors import ConfigError
from tfgan_icr.eval.metrics import count_label

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def gaussian_window(size, sigma):
    """The normalised 1-D Gaussian of `size` taps (centred between taps when size is even)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x ** 2) / (2.0 * sigma ** 2))
    return g / g.sum()


def _filter_valid(images, window):
    """Separable 'valid' filtering of [N, H, W, C] by the outer product of `window`."""
    k = len(window)
    h, w = images.shape[1] - k + 1, images.shape[2] - k + 1
    rows = sum(window[i] * images[:, i:i + h] for i in range(k))
    return sum(window[i] * rows[:, :, i:i + w] for i in range(k))


def ssim_and_contrast_structure(a, b, max_value=255.0, window_size=11, sigma=1.5, k1=0.01, k2=0.03):
    """Per image pair: (SSIM, contrast-structure term), each averaged over the valid window
    positions and the channels."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    size = min(int(window_size), a.shape[1], a.shape[2])
    window = gaussian_window(size, sigma * size / int(window_size))
    mu_a, mu_b = _filter_valid(a, window), _filter_valid(b, window)
    var_a = _filter_valid(a * a, window) - mu_a ** 2
    var_b = _filter_valid(b * b, window) - mu_b ** 2
    cov = _filter_valid(a * b, window) - mu_a * mu_b
    c1, c2 = (k1 * max_value) ** 2, (k2 * max_value) ** 2
    contrast_structure = (2.0 * cov + c2) / (var_a + var_b + c2)
    luminance = (2.0 * mu_a * mu_b + c1) / (mu_a ** 2 + mu_b ** 2 + c1)
    axes = (1, 2, 3)
    return np.mean(luminance * contrast_structure, axis=axes), np.mean(contrast_structure, axis=axes)


def _average_down(images):
    """2x2 average with mirrored borders (odd sizes keep their last row/column), then every
    second pixel: the scale step of MS-SSIM."""
    padded = np.pad(images, ((0, 0), (0, images.shape[1] % 2), (0, images.shape[2] % 2), (0, 0)),
                    mode="reflect")
    return 0.25 * (padded[:, 0::2, 0::2] + padded[:, 1::2, 0::2] + padded[:, 0::2, 1::2] + padded[:, 1::2, 1::2])


def ms_ssim(a, b, max_value=255.0, weights=MS_SSIM_WEIGHTS, window_size=11, sigma=1.5):
    """MS-SSIM of each pair (a[i], b[i]) of [N, H, W, C] images in [0, max_value]: [N]."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"ms_ssim needs two [N, H, W, C] arrays of one shape, got {a.shape} and {b.shape}")
    weights = np.asarray(weights, np.float64)
    value = np.ones(len(a))
    for scale, weight in enumerate(weights):
        ssim, contrast_structure = ssim_and_contrast_structure(a, b, max_value, window_size, sigma)
        if scale == len(weights) - 1:
            value *= np.maximum(ssim, 0.0) ** weight
        else:
            value *= np.maximum(contrast_structure, 0.0) ** weight
            a, b = _average_down(a), _average_down(b)
    return value


def to_pixel_levels(images):
    """Float images in [-1, 1] -> [0, 255] levels (float), as a saved 8-bit image has."""
    return np.round((np.clip(np.asarray(images, np.float64), -1.0, 1.0) + 1.0) * 127.5)


@gin.configurable
class MultiScaleSSIM:
    """The MS-SSIM metric for `Evaluator.image_metrics`: the mean MS-SSIM of `num_pairs` pairs
    of generated images (images 2i and 2i + 1 of the evaluation: independent samples) and of as
    many pairs of real images (with a fixed random pairing), both in 8-bit levels."""

    name = "ms_ssim"

    def __init__(self, num_pairs=5000, seed=0):
        if int(num_pairs) < 1:
            raise ConfigError(f"MultiScaleSSIM.num_pairs must be >= 1, got {num_pairs}")
        self.num_pairs = int(num_pairs)
        self.seed = int(seed)

    def start(self, resolution, num_images):
        self.count = 2 * min(self.num_pairs, int(num_images) // 2)
        self._values = {"real": [], "generated": []}
        self._seen = {"real": 0, "generated": 0}
        self._pending = {"real": None, "generated": None}
        self._rng = np.random.default_rng(self.seed)

    def wants(self, kind):
        return self.count - self._seen[kind]

    def add(self, kind, images):
        images = to_pixel_levels(np.asarray(images)[: self.wants(kind)])
        self._seen[kind] += len(images)
        if self._pending[kind] is not None:  # an odd image left from the last batch
            images = np.concatenate([self._pending[kind], images])
            self._pending[kind] = None
        if len(images) % 2:
            images, self._pending[kind] = images[:-1], images[-1:]
        if kind == "real":  # data order may be sorted by class: pair at random
            images = images[self._rng.permutation(len(images))]
        if len(images):
            self._values[kind].append(ms_ssim(images[0::2], images[1::2]))

    def results(self, split, qualifiers=()):
        """The results' MS-SSIM entries (`qualifiers`: e.g. "at 16x16")."""
        generated = np.concatenate(self._values["generated"])
        real = np.concatenate(self._values["real"])
        label = ", ".join([f"MS-SSIM of {count_label(len(generated))} random generated pairs", *qualifiers])
        return {"ms_ssim": float(np.mean(generated)), "ms_ssim_real": float(np.mean(real)),
                "ms_ssim_label": label, "ms_ssim_real_label": f"MS-SSIM of {count_label(len(real))} random "
                                                              f"{split} pairs, {', '.join(qualifiers)}".rstrip(", ")}
