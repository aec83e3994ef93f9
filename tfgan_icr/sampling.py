"""Latents and labels for the generator: what G is fed, in one place.

All draws are stateless: they are a pure function of a seed tensor, so a run that resumes
at step s draws exactly the z and labels an uninterrupted run would have drawn.
"""

import zlib

import gin
import tensorflow as tf

#: Every random stream of the package, in one place: the salt that separates its draws from
#: the others'. Per-step streams are folded into (run seed, step); numbered streams are
#: seed pairs (seed, salt + index). Changing a value changes what a seed reproduces.
SALTS = {
    "d_update_inputs": 0,       # D update i draws z, labels with salts 2i, 2i + 1 (i < n_dis)
    "g_update_inputs": None,    # the G update uses i = n_dis in the same scheme
    "d_terms": 1000,            # + the D update's index, then folded with the term's name
    "g_terms": 2000,            # then folded with the term's name
    "sample_grid": 7919,        # the fixed z of a run's sample grids
    "eval_samples": 7907,       # generated images of an evaluation: image i has seed (seed, salt + i)
    "exported_samples": 100003,  # --mode=sample --num_samples: image i has seed (seed, salt + i)
    "standing_statistics": 7927,  # batch i of the standing-statistics passes: seed (seed, salt + i)
}


@gin.configurable("inference")
def inference_options(truncation=None, standing_statistics=False, standing_batches=16,
                      standing_batch_size=64, seed=0):
    """How generated images are drawn for sampling and evaluation (not for training).

    truncation: BigGAN's truncation trick for z (`truncated_normal`; None: none).
    standing_statistics: re-estimate the batch-norm statistics of the generator before
    sampling (BigGAN-PyTorch's "standing stats"): the average batch statistics of
    `standing_batches` forward passes of `standing_batch_size` samples (at this truncation)
    replace the moving averages while the images are drawn (`training.standing_stats`).
    """
    if truncation is not None and not float(truncation) > 0:
        raise ValueError(f"inference.truncation must be > 0 (or None), got {truncation}")
    return dict(truncation=None if truncation is None else float(truncation),
                standing_statistics=bool(standing_statistics), standing_batches=int(standing_batches),
                standing_batch_size=int(standing_batch_size), seed=int(seed))


def name_salt(name):
    """A stable 31-bit salt for a name (a loss term's), the same in every process."""
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


@gin.configurable
def normal_latents(seed, batch_size, z_dim, truncation=None):
    """z ~ N(0, I), optionally truncated (`truncated_normal`, BigGAN's trick)."""
    shape = tf.stack([batch_size, z_dim])
    if truncation is None:
        return tf.random.stateless_normal(shape, seed=seed)
    return truncated_normal(shape, truncation, seed=seed)


#: Redraw rounds of `truncated_normal`: a value stays outside after all of them with
#: probability P(|x| > t)^(rounds+1), 1e-6 even at t = 0.5 (2e-3 at t = 0.05); those are clipped.
TRUNCATION_ROUNDS = 16


def truncated_normal(shape, truncation, seed=None):
    """Standard normal values; every value with |x| > truncation is redrawn (BigGAN's
    truncation trick). `seed`: a stateless seed pair (reproducible; a tensor is fine) or None
    (a fresh draw). After TRUNCATION_ROUNDS redraws the rare leftovers are clipped, so every
    value lies in [-truncation, truncation]. truncation must be > 0 (None/inf: no truncation)."""
    if truncation is None:
        return _normal(shape, seed, 0)
    if not isinstance(truncation, tf.Tensor) and not float(truncation) > 0:
        raise ValueError(f"truncation must be > 0 (or None for none), got {truncation}")
    truncation = tf.cast(truncation, tf.float32)
    z = _normal(shape, seed, 0)
    for i in range(TRUNCATION_ROUNDS):
        z = tf.where(tf.abs(z) > truncation, _normal(shape, seed, i + 1), z)
    return tf.clip_by_value(z, -truncation, truncation)


def _normal(shape, seed, index):
    if seed is None:
        return tf.random.normal(shape)
    seed = tf.cast(seed, tf.int64)
    if index:
        seed = tf.random.experimental.stateless_fold_in(seed, index)
    return tf.random.stateless_normal(shape, seed=seed)


def uniform_labels(seed, batch_size, num_classes):
    """Class labels drawn uniformly; zeros when the model is unconditional."""
    if not num_classes:
        return tf.zeros([batch_size], tf.int32)
    return tf.random.stateless_uniform([batch_size], seed=seed, minval=0, maxval=num_classes, dtype=tf.int32)


def numbered_inputs(seed, stream, start, count, z_dim, num_classes, truncation=None):
    """z and labels of images number `start` .. `start + count - 1` of a numbered stream of
    samples (evaluation, exported PNGs): z from the seed pair (seed, stream + start), truncated
    when `truncation` is set, and balanced classes (image i has class i mod num_classes;
    zeros when unconditional)."""
    z = truncated_normal([count, z_dim], truncation, seed=tf.constant([seed, stream + start], tf.int64))
    if num_classes:
        labels = tf.range(start, start + count, dtype=tf.int32) % num_classes
    else:
        labels = tf.zeros([count], tf.int32)
    return z, labels


def grid_labels(num_classes, per_class):
    """Labels for a sample grid: one row per class, ``per_class`` columns."""
    return tf.repeat(tf.range(num_classes, dtype=tf.int32), per_class)
