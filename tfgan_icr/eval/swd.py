"""Multi-scale sliced Wasserstein distance (SWD; Karras et al. 2018, section 5 and appendix D).

Each image is decomposed into a Laplacian pyramid (5-tap binomial filter, mirror borders) from
its full resolution down to `min_resolution` (16x16 in the paper); from every level
`descriptors_per_image` random `patch_size` x `patch_size` neighbourhoods are taken (128 of 7x7
in the paper). The descriptors of one side (real or generated) and one level are normalised per
colour channel by their own mean and standard deviation, and the two sides are compared by the
sliced Wasserstein distance: the mean, over `num_projections` random unit directions (512, in
repeats of 128), of the L1 distance between the sorted projections. One distance per level
(finest first) and their average; the paper reports them x 1e3 (`SWD_SCALE`).

Plain numpy (float32 descriptors, float64 sums), streamed batch by batch through
`PyramidDescriptors`, so a large evaluation never holds its images.
"""

import gin
import numpy as np

from tfgan_icr.errors import ConfigError
from tfgan_icr.eval.metrics import count_label

#: The paper's tables give SWD x 1e3.
SWD_SCALE = 1e3
_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(images, gain=1.0):
    """Separable 5x5 binomial filter over H and W of NHWC images, mirrored borders."""
    kernel = _BINOMIAL * gain
    padded = np.pad(images, ((0, 0), (2, 2), (0, 0), (0, 0)), mode="reflect")
    rows = sum(kernel[i] * padded[:, i:i + images.shape[1]] for i in range(5))
    padded = np.pad(rows, ((0, 0), (0, 0), (2, 2), (0, 0)), mode="reflect")
    return sum(kernel[i] * padded[:, :, i:i + images.shape[2]] for i in range(5))


def pyramid_down(images):
    """Blur, then keep every second row and column: [N, H, W, C] -> [N, H/2, W/2, C]."""
    return _blur(images)[:, ::2, ::2]


def pyramid_up(images):
    """Insert zeros between samples and blur with 4x the filter's gain (so a constant stays
    constant): [N, H, W, C] -> [N, 2H, 2W, C]."""
    n, h, w, c = images.shape
    spread = np.zeros((n, 2 * h, 2 * w, c), images.dtype)
    spread[:, ::2, ::2] = images
    return _blur(spread, gain=2.0)  # 2 per axis: 4 in all


def laplacian_pyramid(images, num_levels):
    """`num_levels` levels, finest first: band-pass differences, then the coarsest Gaussian
    level. Summing `pyramid_up` back from the coarsest level rebuilds the images exactly."""
    levels, current = [], np.asarray(images, np.float64)
    for _ in range(num_levels - 1):
        smaller = pyramid_down(current)
        levels.append(current - pyramid_up(smaller))
        current = smaller
    levels.append(current)
    return levels


def reconstruct(levels):
    """The inverse of `laplacian_pyramid`."""
    images = levels[-1]
    for band in reversed(levels[:-1]):
        images = band + pyramid_up(images)
    return images


def pyramid_levels(resolution, min_resolution=16):
    """How many levels a `resolution` image has down to `min_resolution` (at least one: an
    image smaller than `min_resolution` is a single level)."""
    levels, size = 1, int(resolution)
    while size // 2 >= int(min_resolution):
        size //= 2
        levels += 1
    return levels


def random_patches(level, count, patch_size, rng):
    """`count` random `patch_size`^2 neighbourhoods of every image of `level` [N, H, W, C]:
    [N * count, patch_size, patch_size, C]."""
    n, h, w, _ = level.shape
    ys = rng.integers(0, h - patch_size + 1, size=(n, count))
    xs = rng.integers(0, w - patch_size + 1, size=(n, count))
    offsets = np.arange(patch_size)
    rows = (ys[..., None] + offsets)[..., :, None]        # [n, count, p, 1]
    cols = (xs[..., None] + offsets)[..., None, :]        # [n, count, 1, p]
    images = np.arange(n)[:, None, None, None]
    return level[images, rows, cols].reshape(n * count, patch_size, patch_size, level.shape[3])


def normalize_descriptors(patches):
    """Zero mean and unit standard deviation per colour channel over all the patches'
    pixels, flattened to [M, patch_size * patch_size * C]."""
    patches = np.asarray(patches, np.float64)
    mean = patches.mean(axis=(0, 1, 2), keepdims=True)
    std = patches.std(axis=(0, 1, 2), keepdims=True)
    normalized = (patches - mean) / np.maximum(std, 1e-8)
    return normalized.reshape(len(patches), -1).astype(np.float32)


def sliced_wasserstein(a, b, rng, num_projections=512, projections_per_repeat=128):
    """The sliced Wasserstein distance between two equally large sets of descriptors [M, D]:
    the mean over random unit directions of the mean |sorted(a . d) - sorted(b . d)|."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    if a.shape != b.shape:
        raise ValueError(f"sliced_wasserstein needs sets of the same shape, got {a.shape} and {b.shape}")
    distances = []
    for start in range(0, int(num_projections), int(projections_per_repeat)):
        k = min(int(projections_per_repeat), int(num_projections) - start)
        directions = rng.standard_normal((a.shape[1], k)).astype(np.float32)
        directions /= np.sqrt(np.sum(directions ** 2, axis=0, keepdims=True))
        projected_a = np.sort(a @ directions, axis=0)
        projected_b = np.sort(b @ directions, axis=0)
        distances.append(np.mean(np.abs(projected_a - projected_b), dtype=np.float64) * k)
    return float(np.sum(distances) / int(num_projections))


class PyramidDescriptors:
    """Collects the random neighbourhood descriptors of each pyramid level of a stream of
    image batches (float, any range: descriptors are normalised at the end)."""

    def __init__(self, resolution, descriptors_per_image=128, patch_size=7, min_resolution=16, seed=0):
        self.num_levels = pyramid_levels(resolution, min_resolution)
        smallest = int(resolution) // 2 ** (self.num_levels - 1)
        self.patch_size = min(int(patch_size), smallest)
        self.per_image = int(descriptors_per_image)
        self.rng = np.random.default_rng(seed)
        self.patches = [[] for _ in range(self.num_levels)]
        self.count = 0

    def add(self, images):
        images = np.asarray(images, np.float64)
        for i, level in enumerate(laplacian_pyramid(images, self.num_levels)):
            self.patches[i].append(random_patches(level, self.per_image, self.patch_size, self.rng)
                                   .astype(np.float32))
        self.count += len(images)

    def finish(self):
        """The normalised descriptors per level, finest first."""
        return [normalize_descriptors(np.concatenate(p)) for p in self.patches]


def multiscale_swd(real_levels, fake_levels, seed=0, num_projections=512):
    """One sliced Wasserstein distance per level (finest first), from `finish()` of the two
    sides' `PyramidDescriptors`."""
    rng = np.random.default_rng(seed)
    return [sliced_wasserstein(r, f, rng, num_projections) for r, f in zip(real_levels, fake_levels)]


def sliced_wasserstein_images(real, fake, descriptors_per_image=128, patch_size=7, min_resolution=16,
                              num_projections=512, seed=0):
    """SWD per level (finest first) between two equally large image sets [N, H, W, C]."""
    sides = []
    for images in (real, fake):
        collector = PyramidDescriptors(np.shape(images)[1], descriptors_per_image, patch_size,
                                       min_resolution, seed=seed)
        collector.add(images)
        sides.append(collector.finish())
    return multiscale_swd(*sides, seed=seed, num_projections=num_projections)


@gin.configurable
class SlicedWasserstein:
    """The SWD metric for `Evaluator.image_metrics`: `num_images` real and as many generated
    images (the paper: 16384; fewer when the evaluation generates fewer or the split is
    smaller), reported per level and averaged, x 1e3."""

    name = "swd"

    def __init__(self, num_images=16384, descriptors_per_image=128, patch_size=7, min_resolution=16,
                 num_projections=512, seed=0):
        if int(num_images) < 2 or int(patch_size) < 1 or int(num_projections) < 1:
            raise ConfigError("SlicedWasserstein needs num_images >= 2, patch_size >= 1 and "
                              f"num_projections >= 1, got {num_images}, {patch_size}, {num_projections}")
        self.num_images = int(num_images)
        self.options = dict(descriptors_per_image=int(descriptors_per_image), patch_size=int(patch_size),
                            min_resolution=int(min_resolution))
        self.num_projections = int(num_projections)
        self.seed = int(seed)

    def start(self, resolution, num_images):
        """Begin one evaluation of `num_images` per side at `resolution`."""
        self.resolution = int(resolution)
        self.count = min(self.num_images, int(num_images))
        # The same patch positions on both sides (common random numbers): identical image
        # sets are at distance 0 and the estimate's variance is lower.
        self._sides = {kind: PyramidDescriptors(resolution, seed=self.seed, **self.options)
                       for kind in ("real", "generated")}

    def wants(self, kind):
        """How many more images of `kind` ("real" or "generated") this evaluation needs."""
        return self.count - self._sides[kind].count

    def add(self, kind, images):
        images = np.asarray(images)[: self.wants(kind)]
        if len(images):
            self._sides[kind].add(images)

    def results(self, split, qualifiers=()):
        """The results' SWD entries, labelled like FID (`qualifiers`: e.g. "at 16x16")."""
        real, fake = self._sides["real"], self._sides["generated"]
        levels = multiscale_swd(real.finish(), fake.finish(), self.seed, self.num_projections)
        resolutions = [self.resolution // 2 ** i for i in range(len(levels))]
        patch = real.patch_size
        label = ", ".join([f"SWD x 1e3@{count_label(real.count)} vs {split}", *qualifiers,
                           f"levels {'/'.join(map(str, resolutions))} px",
                           f"{real.per_image} {patch}x{patch} descriptors per image and level",
                           f"{self.num_projections} projections"])
        return {"swd": float(np.mean(levels)) * SWD_SCALE,
                "swd_levels": [d * SWD_SCALE for d in levels],
                "swd_level_resolutions": resolutions,
                "swd_label": label}
