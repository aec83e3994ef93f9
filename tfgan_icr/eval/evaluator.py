"""Evaluating a generator: FID and KID against a real split (and IS when the network has
logits), with the real split's statistics computed once and cached.

Every number is labelled with what it depends on, e.g. "FID@10k vs fashion_mnist[test],
inception-2015-12-05, tf1_bilinear": the sample count, the reference split, the network and
the resize to 299x299 (plus ", unquantised" when generated images were not rounded to 8-bit
levels, and the estimator for KID). The reference statistics' cache key carries the network
and the resize too, so numbers from different pipelines are never mixed.
"""

import math

import hashlib
import json
import os
import re
import sys
import time

import gin
import numpy as np
import tensorflow as tf

from tfgan_icr import sampling
from tfgan_icr.data import make_dataset
from tfgan_icr.errors import ConfigError
from tfgan_icr.files import atomic_path, write_text_atomically
from tfgan_icr.models.pggan import downsample
import tfgan_icr.eval.ms_ssim  # noqa: F401  (registers MultiScaleSSIM with gin)
import tfgan_icr.eval.swd  # noqa: F401  (registers SlicedWasserstein)
from tfgan_icr.eval.inception import DEFAULT_RESIZE, RESIZES, quantize_images
from tfgan_icr.eval.metrics import KID_ESTIMATORS, FeatureStats, count_label, inception_score_from_logits
from tfgan_icr.eval.weights import cache_dir as default_cache_dir

STATS_VERSION = 1
#: KID is reported in these units (x 1e-3) on the console and in the README.
KID_SCALE = 1e3


def _slug(text):
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


class Progress:
    """A one-line progress report for feature extraction: images, images/s, ETA."""

    def __init__(self, what, total, stream=None, every_seconds=10.0):
        self.what, self.total = what, total
        self.stream = stream or sys.stdout
        self.every = every_seconds
        self.start = self.last = time.perf_counter()
        self.done = 0

    def update(self, n):
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every or self.done >= self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            print(f"  {self.what}: {self.done}/{self.total} images, {rate:.1f} img/s, ETA {eta:.0f} s",
                  file=self.stream, flush=True)

    @property
    def seconds(self):
        return time.perf_counter() - self.start


def _fingerprint(images):
    """A short hash of the first real images: a different data set or preprocessing changes it."""
    quantised = np.round((np.asarray(images, np.float32) + 1.0) * 127.5).astype(np.uint8)
    return hashlib.sha1(quantised.tobytes()).hexdigest()[:16]


@gin.configurable
class Evaluator:
    """Computes FID, KID (and IS with logits) of generators against a real split.

    reference_source: the real data (e.g. @reference/fashion_mnist() with
    reference/fashion_mnist.split = "test"). num_samples: generated images per evaluation.
    network: the FID network source for `load_inception` ("auto": the offline port of the
    2015-12-05 Inception graph). reference_limit: use at most this many real images.
    resize: the resize to 299x299, one of `inception.RESIZES` ("tf1_bilinear", the original
    FID code's and compare_gan's, by default). quantize: round generated images to the 256
    levels of a saved 8-bit image before the network, as real images are (default True).
    kid_estimator: "subsets" (kid_subsets random subsets of kid_subset_size; Binkowski et al.,
    torch-fidelity) or "blocks" (TF-GAN's disjoint blocks of at most kid_block_size).
    image_metrics: metrics computed on the images themselves besides the network's features,
    e.g. ``[@SlicedWasserstein(), @MultiScaleSSIM()]`` (`tfgan_icr.eval.swd`, `.ms_ssim`).

    A growing generator (one with ``output_resolution``, e.g. PGGAN's) is evaluated at its
    current resolution: the real images are box-downsampled to it as its training data is,
    and every label says "at RxR".
    """

    def __init__(self, reference_source=None, num_samples=10000, network="auto",
                 batch_size=50, reference_limit=None, kid_subsets=100, kid_subset_size=1000,
                 cache_dir=None, seed=0, stream=None, resize=DEFAULT_RESIZE, quantize=True,
                 kid_estimator="subsets", kid_block_size=1024, image_metrics=()):
        if reference_source is None:
            raise ConfigError("no reference data for evaluation: bind Evaluator.reference_source, e.g. "
                              "`Evaluator.reference_source = @reference/fashion_mnist()` and "
                              "`reference/fashion_mnist.split = 'test'`")
        if resize not in RESIZES:
            raise ConfigError(f"unknown Evaluator.resize {resize!r}: use one of "
                              f"{', '.join(map(repr, RESIZES))}")
        if kid_estimator not in KID_ESTIMATORS:
            raise ConfigError(f"unknown Evaluator.kid_estimator {kid_estimator!r}: use one of "
                              f"{', '.join(map(repr, KID_ESTIMATORS))}")
        self.resize = resize
        self.image_metrics = list(image_metrics or ())
        for metric in self.image_metrics:
            if not all(hasattr(metric, a) for a in ("name", "start", "wants", "add", "results")):
                raise ConfigError(f"Evaluator.image_metrics: {metric!r} is not an image metric: use e.g. "
                                  f"@SlicedWasserstein() or @MultiScaleSSIM()")
        self.quantize = bool(quantize)
        self.kid_estimator = kid_estimator
        self.kid_block_size = int(kid_block_size)
        self.reference_source = reference_source
        self.num_samples = int(num_samples)
        self.network = network
        self.batch_size = int(batch_size)
        self.reference_limit = reference_limit
        self.kid_subsets = int(kid_subsets)
        self.kid_subset_size = int(kid_subset_size)
        self.cache_dir = cache_dir
        self.seed = int(seed)
        self._stream = stream
        self._net = None

    @property
    def stream(self):
        return self._stream or sys.stdout

    @property
    def net(self):
        """The feature network: loaded from `network` (a `load_inception` source), or `network`
        itself when it is already a network object (name, has_logits, __call__)."""
        if self._net is None:
            if isinstance(self.network, str):
                from tfgan_icr.eval.inception import load_inception
                self._net = load_inception(self.network, cache_dir=self.cache_dir)
            else:
                self._net = self.network
        return self._net

    def features(self, images):
        """The network's outputs for float images in [-1, 1], resized with `self.resize`.

        A network with a ``RESIZES`` attribute (an `InceptionNet`) is given the resize; any
        other network object gets the images as they are and does its own preprocessing."""
        if getattr(self.net, "RESIZES", None) is not None:
            return self.net(images, resize=self.resize)
        return self.net(images)

    @property
    def pipeline_label(self):
        """What the numbers depend on besides the data: network, resize, quantisation."""
        label = f"{self.net.name}, {self.resize}"
        return label if self.quantize else label + ", unquantised"

    # -- the real side -------------------------------------------------------------------
    def reference_count(self):
        n = self.reference_source.num_examples
        return min(n, int(self.reference_limit)) if self.reference_limit else n

    def reference_cache_path(self, image_size, channels, resolution=None):
        size = f"{image_size}px" if resolution in (None, image_size) else f"{image_size}px_to{resolution}px"
        name = (f"{_slug(self.reference_source.name)}_{size}_{channels}ch_"
                f"n{self.reference_count()}_{_slug(self.net.name)}_{self.resize}.npz")
        return os.path.join(default_cache_dir(self.cache_dir), "reference_stats", name)

    def _reference_batches(self, image_size, channels, resolution=None):
        count = self.reference_count()
        dataset = make_dataset(self.reference_source, batch_size=self.batch_size, image_size=image_size,
                               channels=channels, repeat=False, shuffle=False, drop_remainder=False)
        factor = image_size // resolution if resolution else 1
        seen = 0
        for images, _ in dataset:
            images = images[: count - seen]
            if factor > 1:  # as a growing model's training data at this resolution
                images = downsample(images, factor)
                if self.quantize:  # back on 8-bit levels, like the generated images
                    images = quantize_images(images)
            seen += int(images.shape[0])
            yield images
            if seen >= count:
                return

    def reference_stats(self, image_size, channels, resolution=None):
        """The real split's statistics (its images box-downsampled to `resolution` when given),
        from the cache when it matches, else computed and cached."""
        path = self.reference_cache_path(image_size, channels, resolution)
        first = next(self._reference_batches(image_size, channels, resolution))
        meta = dict(version=STATS_VERSION, source=self.reference_source.name,
                    num_examples=self.reference_count(), image_size=int(image_size),
                    channels=int(channels), network=self.net.name, resize=self.resize,
                    fingerprint=_fingerprint(first))
        if resolution not in (None, image_size):
            meta["resolution"] = int(resolution)
        if os.path.exists(path):
            reason = self._stale_reason(path, meta)
            if reason is None:
                return FeatureStats.load(path)
            print(f"reference statistics {path} are stale ({reason}); recomputing", file=self.stream,
                  flush=True)
        print(f"computing the reference statistics of {self.reference_count()} {self.reference_source.name} "
              f"images once; they are cached in {path}", file=self.stream, flush=True)
        stats = FeatureStats(max_features=self.reference_count())
        progress = Progress(f"features of {self.reference_source.name}", self.reference_count(), self.stream)
        for images in self._reference_batches(image_size, channels, resolution):
            stats.add(self.features(images)["pool3"])
            progress.update(int(images.shape[0]))
        with atomic_path(path, suffix=".npz") as tmp:  # np.savez wants the extension
            stats.save(tmp)
        # Written last: without it the cache counts as stale.
        write_text_atomically(path + ".json", json.dumps(meta, indent=1))
        print(f"cached {path} ({os.path.getsize(path) / 1e6:.0f} MB)", file=self.stream, flush=True)
        return stats

    @staticmethod
    def _stale_reason(path, meta):
        try:
            with open(path + ".json") as f:
                saved = json.load(f)
        except (OSError, ValueError):
            return "no readable metadata"
        for key, value in meta.items():
            if saved.get(key) != value:
                return f"{key} was {saved.get(key)!r}, now {value!r}"
        return None

    # -- the generated side --------------------------------------------------------------
    def generated_features(self, generator, num_samples=None, truncation=None):
        """pool3 statistics (and logits when available) of `num_samples` generated images.

        Class-conditional generators get balanced labels (sample i has class i mod K). With
        `quantize` the images are rounded to 8-bit levels first (`inception.quantize_images`).
        """
        num_samples = int(num_samples or self.num_samples)
        stats = FeatureStats(max_features=num_samples)
        logits = []
        progress = Progress("features of generated images", num_samples, self.stream)
        for start in range(0, num_samples, self.batch_size):
            n = min(self.batch_size, num_samples - start)
            z, labels = sampling.numbered_inputs(self.seed, sampling.SALTS["eval_samples"], start, n, generator.z_dim,
                                                 generator.num_classes, truncation=truncation)
            images = generator(z, labels, training=False)
            if self.quantize:
                images = quantize_images(images)
            for metric in self.image_metrics:
                if metric.wants("generated") > 0:
                    metric.add("generated", images)
            out = self.features(images)
            stats.add(out["pool3"])
            if "logits" in out:
                logits.append(out["logits"])
            progress.update(n)
        return stats, (np.concatenate(logits) if logits else None), progress.seconds

    def __call__(self, generator, num_samples=None, truncation=None):
        """Evaluate `generator` (z truncated at `truncation` when set); returns a dict of
        results with labels and timings."""
        num_samples = int(num_samples or self.num_samples)
        resolution = getattr(generator, "output_resolution", None)
        real = self.reference_stats(generator.image_size, generator.channels, resolution)
        for metric in self.image_metrics:
            metric.start(resolution or generator.image_size, min(num_samples, self.reference_count()))
        fake, logits, seconds = self.generated_features(generator, num_samples, truncation)
        self._feed_real_images(generator.image_size, generator.channels, resolution)
        count, split = count_label(num_samples), self.reference_source.name
        where = [f"at {resolution}x{resolution}"] if resolution is not None else []
        sampled = [f"z truncated at {truncation:g}"] if truncation else []
        pipeline = ", ".join(where + [self.pipeline_label] + sampled)
        # The image metrics see no network: their labels name the rest.
        image_pipeline = where + ([] if self.quantize else ["unquantised"]) + sampled
        results = {
            "fid": fake.fid(real),
            "fid_label": f"FID@{count} vs {split}, {pipeline}",
            "num_samples": num_samples,
            "reference": split,
            "reference_examples": self.reference_count(),
            "network": self.net.name,
            "resize": self.resize,
            "quantize": self.quantize,
            "truncation": truncation,
            "resolution": int(resolution or generator.image_size),
            "seconds_per_1k_generated": 1000.0 * seconds / num_samples,
        }
        for metric in self.image_metrics:
            results.update(metric.results(split, image_pipeline))
        results.update(self.kid(fake, real, count, split, pipeline))
        if logits is not None:
            splits = 10
            mean, std = inception_score_from_logits(logits, splits=splits)
            results.update(inception_score=mean, inception_score_std=std,
                           inception_score_label=f"IS@{count}, {pipeline}, {splits} splits")
        else:
            results["inception_score"] = None
            results["inception_score_label"] = f"IS unavailable: {self.net.name} has no logits"
        return results

    def _feed_real_images(self, image_size, channels, resolution):
        """Give the image metrics the real images they want (not cached: they are the images)."""
        if not any(metric.wants("real") > 0 for metric in self.image_metrics):
            return
        for images in self._reference_batches(image_size, channels, resolution):
            for metric in self.image_metrics:
                if metric.wants("real") > 0:
                    metric.add("real", images)
            if not any(metric.wants("real") > 0 for metric in self.image_metrics):
                return

    def kid(self, fake, real, count, split, pipeline=None):
        """The KID entries of the results: kid, kid_std (None where the spread means
        nothing), kid_estimator and kid_label; empty when there are too few features."""
        pipeline = pipeline or self.pipeline_label
        n_fake, n_real = len(fake.features), len(real.features)
        if self.kid_estimator == "subsets":
            subset = min(self.kid_subset_size, n_fake, n_real)
            if subset < 2:
                return {}
            kid, spread = fake.kid(real, num_subsets=self.kid_subsets, subset_size=subset,
                                   seed=self.seed)
            how = f"{self.kid_subsets} subsets of {subset}"
        else:
            n_blocks = math.ceil(max(n_fake, n_real) / self.kid_block_size)
            if min(n_fake, n_real) < 2 * n_blocks:
                return {}
            kid, spread = fake.kid(real, estimator="blocks", max_block_size=self.kid_block_size)
            how = f"TF-GAN blocks, {n_blocks} of <= {self.kid_block_size}"
        return {"kid": kid, "kid_std": None if math.isnan(spread) else spread,
                "kid_estimator": self.kid_estimator,
                "kid_label": f"KID@{count} vs {split}, {pipeline}, {how}"}


def format_kid(kid, kid_std=None):
    """KID in units of 1e-3, with the unit stated: ``51.90 ± 1.30 (x 1e-3)``; the spread only
    when there is one."""
    text = f"{kid * KID_SCALE:.2f}"
    if kid_std is not None:
        text += f" ± {kid_std * KID_SCALE:.2f}"
    return text + " (x 1e-3)"


def log_results(model_dir, step, results, writer=None, stream=None):
    """Append an evaluation to metrics.jsonl, TensorBoard and the console."""
    stream = stream or sys.stdout
    record = {"step": int(step), "event": "eval", **results, "time": time.time()}
    with open(os.path.join(model_dir, "metrics.jsonl"), "a") as f:
        f.write(json.dumps(record) + "\n")
    if writer is not None:
        with writer.as_default(step=int(step)):
            for key in ("fid", "kid", "inception_score", "swd", "ms_ssim"):
                if results.get(key) is not None:
                    tf.summary.scalar(f"eval/{key}", results[key])
        writer.flush()
    line = f"step {step}: {results['fid_label']} = {results['fid']:.3f}"
    if "kid" in results:
        line += f"; {results['kid_label']} = {format_kid(results['kid'], results.get('kid_std'))}"
    line += f"; {results['inception_score_label']}"
    if results.get("inception_score") is not None:
        line += f" = {results['inception_score']:.3f}"
    if "swd" in results:
        levels = ", ".join(f"{d:.2f}" for d in results["swd_levels"])
        line += f"; {results['swd_label']} = {results['swd']:.2f} (per level: {levels})"
    if "ms_ssim" in results:
        line += (f"; {results['ms_ssim_label']} = {results['ms_ssim']:.4f} "
                 f"(real: {results['ms_ssim_real']:.4f})")
    print(line, file=stream, flush=True)
