"""Evaluation: FID / Inception Score / KID and the standard FID Inception network.

The metric functions are plain numpy (float64); the network lives in
:mod:`tfgan_icr.eval.inception` and is imported (with TensorFlow) on first use.
"""

from tfgan_icr.eval.metrics import (
    FeatureStats,
    activation_statistics,
    fid_from_activations,
    frechet_distance,
    inception_score_from_logits,
    kid_from_activations,
    polynomial_mmd2_unbiased,
)

__all__ = [
    "FeatureStats",
    "activation_statistics",
    "fid_from_activations",
    "frechet_distance",
    "inception_score_from_logits",
    "kid_from_activations",
    "polynomial_mmd2_unbiased",
    "InceptionNet",
    "load_inception",
    "preprocess_for_inception",
    "build_inception_pool3",
]

_LAZY = {"InceptionNet", "load_inception", "preprocess_for_inception", "build_inception_pool3"}


def __getattr__(name):
    if name in _LAZY:
        from tfgan_icr.eval import inception

        return getattr(inception, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
