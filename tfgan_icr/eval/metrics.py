"""Sample-quality metrics: FID, Inception Score, KID, each named for the estimator it is.

Pure numpy functions computed in float64 (no scipy), plus :class:`FeatureStats`, a streaming
accumulator of activation statistics so that tens of thousands of samples never need to sit
in memory at once.

* FID (Heusel et al. 2017): ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))`` with covariances
  of ddof=1; the trace of the square root comes from the eigenvalues of the symmetric matrix
  ``sqrt(S1) S2 sqrt(S1)`` (same eigenvalues as ``S1 S2``), as in TF-GAN's
  ``trace_sqrt_product``. The same quantity as the original FID code and TF-GAN.
* Inception Score (Salimans et al. 2016): ``exp(E_x KL(p(y|x) || p(y)))`` from logits, mean
  and std over 10 splits -- the OpenAI code's convention (also torch-fidelity's and
  StudioGAN's). TF-GAN's ``classifier_score`` is the whole-set score (one split); pass
  ``splits=1`` for that.
* KID (Binkowski et al. 2018): unbiased MMD^2 with the kernel ``(x.y / d + 1)^3``, with one of
  two estimators:

  - ``"subsets"`` (the default): the mean over 100 random subsets of 1,000 samples from each
    set, drawn without replacement, and the std of those 100 values -- the estimator of
    Binkowski et al.'s code and torch-fidelity (``kid_subsets`` / ``kid_subset_size``). The
    std is the spread of subset estimates, not a standard error.
  - ``"blocks"``: TF-GAN's ``kernel_classifier_distance_and_std_from_activations``: both sets
    cut in order into ``ceil(max(n1, n2) / max_block_size)`` disjoint blocks of near-equal
    size, the unbiased MMD^2 of each block pair, their mean, and as spread TF-GAN's
    standard-error estimate ``sqrt(var_ddof1(blocks) / n_blocks)``.

  Where the spread means nothing it is NaN: one block; or subsets that are always the whole
  of both sets (neither set larger than the subset size), or a single subset.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = [
    "frechet_distance",
    "fid_from_activations",
    "inception_score_from_logits",
    "kid_from_activations",
    "KID_ESTIMATORS",
    "polynomial_mmd2_unbiased",
    "activation_statistics",
    "FeatureStats",
]


def count_label(n):
    """How a sample count appears in a metric's label: 10000 -> "10k", 500 -> "500"."""
    return f"{n // 1000}k" if n % 1000 == 0 and n >= 1000 else str(n)


def _as_matrix(a, name):
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D [num_samples, dim], got shape {a.shape}")
    return a


def _sqrtm_psd(mat):
    """Symmetric square root of a symmetric positive semi-definite matrix (eigh, clipped)."""
    w, v = np.linalg.eigh((mat + mat.T) / 2)
    w = np.clip(w, 0.0, None)
    return (v * np.sqrt(w)) @ v.T


def trace_sqrt_product(sigma1, sigma2) -> float:
    """Tr((S1 S2)^(1/2)) for symmetric PSD S1, S2, via the eigenvalues of sqrt(S1) S2 sqrt(S1)."""
    sqrt1 = _sqrtm_psd(np.asarray(sigma1, np.float64))
    m = sqrt1 @ np.asarray(sigma2, np.float64) @ sqrt1
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sum(np.sqrt(np.clip(eig, 0.0, None))))


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), in float64.

    ``|mu1 - mu2|^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2))``; tiny negative eigenvalues
    (round-off) are clipped to zero.
    """
    mu1 = np.atleast_1d(np.asarray(mu1, np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(
            f"shape mismatch: mu1 {mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, "
            f"sigma2 {sigma2.shape}"
        )
    diff = mu1 - mu2
    tr_covmean = trace_sqrt_product(sigma1, sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def activation_statistics(activations):
    """(mean, covariance with ddof=1) of [N, D] activations, float64."""
    a = _as_matrix(activations, "activations")
    if a.shape[0] < 2:
        raise ValueError("need at least 2 activations for a covariance")
    return a.mean(axis=0), np.cov(a, rowvar=False, ddof=1).reshape(a.shape[1], a.shape[1])


def fid_from_activations(activations1, activations2) -> float:
    """FID between two sets of activations [N1, D] and [N2, D] (covariances with ddof=1)."""
    mu1, s1 = activation_statistics(activations1)
    mu2, s2 = activation_statistics(activations2)
    return frechet_distance(mu1, s1, mu2, s2)


def _log_softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))


def _logsumexp(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def inception_score_from_logits(logits, splits: int = 10):
    """Inception Score from classifier logits [N, C]: (mean, std) over ``splits`` splits.

    ``splits=10`` is the OpenAI convention; ``splits=1`` is TF-GAN's ``classifier_score``
    (then the std is 0 and means nothing).

    Per split: ``exp(mean_x KL(p(y|x) || p(y)))`` with ``p(y)`` the split's mean of
    ``p(y|x)``, computed from log-softmax in float64. The samples are cut into ``splits``
    contiguous parts of near-equal size (``np.array_split``); std has ddof=0.
    """
    logits = _as_matrix(logits, "logits")
    n = logits.shape[0]
    if splits < 1 or n < splits:
        raise ValueError(f"need splits >= 1 and at least one sample per split (N={n}, splits={splits})")
    logp = _log_softmax(logits)
    scores = []
    for part in np.array_split(logp, splits, axis=0):
        log_py = _logsumexp(part, axis=0) - np.log(part.shape[0])  # log of the mean of p(y|x)
        kl = np.sum(np.exp(part) * (part - log_py[None, :]), axis=1)
        scores.append(np.exp(np.mean(kl)))
    scores = np.asarray(scores)
    return float(np.mean(scores)), float(np.std(scores))


def polynomial_mmd2_unbiased(x, y) -> float:
    """Unbiased MMD^2 between samples x [m, d] and y [n, d], kernel (x.y / d + 1)^3."""
    x = _as_matrix(x, "x")
    y = _as_matrix(y, "y")
    m, n, d = x.shape[0], y.shape[0], x.shape[1]
    if m < 2 or n < 2:
        raise ValueError("need at least 2 samples in each set")
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    term_xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    term_yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(term_xx + term_yy - 2.0 * k_xy.mean())


KID_ESTIMATORS = ("subsets", "blocks")


def _kid_subsets(a1, a2, num_subsets, subset_size, seed):
    m = min(int(subset_size), a1.shape[0], a2.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    if int(num_subsets) < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}")
    rng = np.random.default_rng(seed)
    values = np.empty(int(num_subsets), np.float64)
    for i in range(int(num_subsets)):
        x = a1[rng.choice(a1.shape[0], m, replace=False)]
        y = a2[rng.choice(a2.shape[0], m, replace=False)]
        values[i] = polynomial_mmd2_unbiased(x, y)
    subsets_differ = values.shape[0] > 1 and max(a1.shape[0], a2.shape[0]) > m
    return float(values.mean()), (float(values.std()) if subsets_differ else float("nan"))


def _block_bounds(n, n_blocks):
    """TF-GAN's split of n samples into n_blocks contiguous blocks: the last n % n_blocks
    blocks get one sample more."""
    small = n // n_blocks
    plus_one = n - small * n_blocks
    sizes = [small] * (n_blocks - plus_one) + [small + 1] * plus_one
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _kid_blocks(a1, a2, max_block_size):
    if int(max_block_size) < 2:
        raise ValueError(f"max_block_size must be >= 2, got {max_block_size}")
    n_blocks = int(np.ceil(max(a1.shape[0], a2.shape[0]) / int(max_block_size)))
    b1, b2 = _block_bounds(a1.shape[0], n_blocks), _block_bounds(a2.shape[0], n_blocks)
    if min(np.diff(b1).min(), np.diff(b2).min()) < 2:
        raise ValueError(f"KID blocks need at least 2 samples of each set per block "
                         f"({a1.shape[0]} and {a2.shape[0]} samples in {n_blocks} blocks)")
    values = np.array([polynomial_mmd2_unbiased(a1[b1[i]:b1[i + 1]], a2[b2[i]:b2[i + 1]])
                       for i in range(n_blocks)])
    mean = float(values.mean())
    if n_blocks <= 1:
        return mean, float("nan")
    var = float(np.sum((values - mean) ** 2) / (n_blocks - 1))
    return mean, float(np.sqrt(var / n_blocks))


def kid_from_activations(activations1, activations2, num_subsets: int = 100,
                         subset_size: int = 1000, seed: int = 0, estimator: str = "subsets",
                         max_block_size: int = 1024):
    """Kernel Inception Distance: (estimate, spread) of the unbiased polynomial-kernel MMD^2.

    ``estimator="subsets"``: ``num_subsets`` times, ``subset_size`` samples are drawn without
    replacement from each set (``subset_size`` is clipped to the smaller set's size) with a
    generator seeded by ``seed``; returns the mean and the std (ddof=0) of those values.
    ``estimator="blocks"``: TF-GAN's disjoint-block estimator with blocks of at most
    ``max_block_size`` (the order of the samples matters; they should be in random order);
    returns the mean over blocks and TF-GAN's standard-error estimate. The spread is NaN
    where it means nothing (see the module docstring).
    """
    a1 = _as_matrix(activations1, "activations1")
    a2 = _as_matrix(activations2, "activations2")
    if a1.shape[1] != a2.shape[1]:
        raise ValueError(f"dimension mismatch: {a1.shape[1]} vs {a2.shape[1]}")
    if estimator == "subsets":
        return _kid_subsets(a1, a2, num_subsets, subset_size, seed)
    if estimator == "blocks":
        return _kid_blocks(a1, a2, max_block_size)
    raise ValueError(f"unknown KID estimator {estimator!r}: use one of {KID_ESTIMATORS}")


class FeatureStats:
    """Streaming mean/covariance of activations, in float64.

    ``add(batch)`` accumulates the count, the sum and the sum of outer products of
    ``batch - shift`` (``shift`` is the first batch's mean, which keeps the covariance free of
    cancellation). Up to ``max_features`` raw activations (the first ones seen) are kept as
    float32 for KID; 0 keeps none. ``mu``/``sigma`` (ddof=1) are available at any time;
    :meth:`save`/:meth:`load` write and read an ``.npz`` file (which also carries ``mu`` and
    ``sigma`` for other tools; an ``.npz`` holding only ``mu`` and ``sigma`` loads as fixed
    reference statistics).
    """

    def __init__(self, dim: int | None = None, max_features: int = 0):
        self.dim = dim
        self.max_features = int(max_features)
        self.count = 0
        self._shift = None
        self._sum = None
        self._outer = None
        self._features: list[np.ndarray] = []
        self._num_kept = 0
        self._fixed = None  # (mu, sigma) for reference statistics loaded without accumulators

    def _init(self, dim):
        if self.dim is not None and dim != self.dim:
            raise ValueError(f"expected activations of dim {self.dim}, got {dim}")
        self.dim = dim
        self._sum = np.zeros(dim, np.float64)
        self._outer = np.zeros((dim, dim), np.float64)

    def add(self, activations) -> "FeatureStats":
        """Add a batch [B, D] (anything numpy can read, e.g. a tf.Tensor)."""
        if self._fixed is not None:
            raise ValueError("these statistics were loaded without accumulators: cannot add")
        a = np.asarray(activations)
        a = a.reshape(a.shape[0], -1) if a.ndim != 2 else a
        if a.shape[0] == 0:
            return self
        if self._sum is None:
            self._init(a.shape[1])
        elif a.shape[1] != self.dim:
            raise ValueError(f"expected activations of dim {self.dim}, got {a.shape[1]}")
        a64 = a.astype(np.float64)
        if self._shift is None:
            self._shift = a64.mean(axis=0)
        centred = a64 - self._shift
        self._sum += centred.sum(axis=0)
        self._outer += centred.T @ centred
        self.count += a.shape[0]
        if self._num_kept < self.max_features:
            take = a[: self.max_features - self._num_kept].astype(np.float32)
            self._features.append(take)
            self._num_kept += take.shape[0]
        return self

    @property
    def mu(self) -> np.ndarray:
        if self._fixed is not None:
            return self._fixed[0]
        if self.count < 1:
            raise ValueError("no activations added")
        return self._shift + self._sum / self.count

    @property
    def sigma(self) -> np.ndarray:
        if self._fixed is not None:
            return self._fixed[1]
        if self.count < 2:
            raise ValueError("need at least 2 activations for a covariance")
        mean_c = self._sum / self.count
        cov = (self._outer - self.count * np.outer(mean_c, mean_c)) / (self.count - 1)
        return (cov + cov.T) / 2

    @property
    def features(self) -> np.ndarray:
        """The raw activations kept (at most ``max_features``), [K, D] float32."""
        if not self._features:
            return np.zeros((0, self.dim or 0), np.float32)
        if len(self._features) > 1:
            self._features = [np.concatenate(self._features)]
        return self._features[0]

    def fid(self, other: "FeatureStats") -> float:
        return frechet_distance(self.mu, self.sigma, other.mu, other.sigma)

    def kid(self, other: "FeatureStats", **kwargs):
        """KID from the kept raw activations (both sides need ``max_features`` > 0)."""
        if len(self.features) < 2 or len(other.features) < 2:
            raise ValueError("KID needs raw activations: create FeatureStats(max_features=...)")
        return kid_from_activations(self.features, other.features, **kwargs)

    def save(self, path: str | os.PathLike) -> None:
        if self._fixed is not None:
            np.savez(path, mu=self._fixed[0], sigma=self._fixed[1], count=np.int64(self.count))
            return
        if self.count == 0:
            raise ValueError("nothing to save: no activations added")
        data = dict(
            count=np.int64(self.count), shift=self._shift, sum=self._sum, outer=self._outer,
            max_features=np.int64(self.max_features), features=self.features, mu=self.mu,
        )
        if self.count >= 2:
            data["sigma"] = self.sigma
        np.savez(path, **data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        with np.load(path, allow_pickle=False) as f:
            files = set(f.files)
            if {"shift", "sum", "outer", "count"} <= files:
                stats = cls(dim=int(f["sum"].shape[0]),
                            max_features=int(f["max_features"]) if "max_features" in files else 0)
                stats.count = int(f["count"])
                stats._shift = f["shift"].astype(np.float64)
                stats._sum = f["sum"].astype(np.float64)
                stats._outer = f["outer"].astype(np.float64)
                if "features" in files and f["features"].size:
                    stats._features = [f["features"].astype(np.float32)]
                    stats._num_kept = stats._features[0].shape[0]
                return stats
            if {"mu", "sigma"} <= files:
                mu = f["mu"].astype(np.float64)
                stats = cls(dim=int(mu.shape[0]))
                stats._fixed = (mu, f["sigma"].astype(np.float64))
                stats.count = int(f["count"]) if "count" in files else 0
                return stats
        raise ValueError(f"{path}: neither FeatureStats accumulators nor mu/sigma inside")

    def __repr__(self):
        return f"FeatureStats(dim={self.dim}, count={self.count}, kept={self._num_kept})"
