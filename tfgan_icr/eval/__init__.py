"""Evaluation: FID / Inception Score / KID and the standard FID Inception network.

The resize to 299x299 is a named choice (``RESIZES``; default ``"tf1_bilinear"``, the original
FID code's), and the Evaluator rounds generated images to 8-bit levels (``quantize_images``)
before the network; both are in every result's label.

The metric functions are plain numpy (float64); the network lives in
:mod:`tfgan_icr.eval.inception` and is imported (with TensorFlow) on first use.
"""

from tfgan_icr.eval.metrics import (
    KID_ESTIMATORS,
    FeatureStats,
    activation_statistics,
    fid_from_activations,
    frechet_distance,
    inception_score_from_logits,
    kid_from_activations,
    polynomial_mmd2_unbiased,
)

__all__ = [
    "KID_ESTIMATORS",
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
    "quantize_images",
    "resize_images",
    "RESIZES",
    "DEFAULT_RESIZE",
]

_LAZY = {"InceptionNet", "load_inception", "preprocess_for_inception", "build_inception_pool3",
         "quantize_images", "resize_images", "RESIZES", "DEFAULT_RESIZE"}


def __getattr__(name):
    if name in _LAZY:
        from tfgan_icr.eval import inception

        return getattr(inception, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
