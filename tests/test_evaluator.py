"""The evaluation job: reference statistics cached and invalidated, labelled results, the
CLI's --mode=eval on a short Fashion-MNIST run, and periodic evaluation keeping the best
checkpoint. The logic tests use a small stand-in feature network; one test uses the real one."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import SMALL, bindings, run_cli
from tfgan_icr import config
from tfgan_icr.data import fashion_mnist, make_dataset
from tfgan_icr.eval.evaluator import Evaluator
from tfgan_icr.eval.inception import quantize_images
from tfgan_icr.eval.metrics import fid_from_activations
from tfgan_icr.jobs.train import train as train_job
from tfgan_icr.training import builder


class StandInNet:
    """Features = 4x4 average-pooled pixels (a stand-in: its numbers are not FIDs)."""

    def __init__(self, logits=False):
        self.name = "stand-in-avgpool"
        self.has_logits = logits
        self.calls = 0

    def __call__(self, images):
        self.calls += 1
        images = tf.convert_to_tensor(images)
        pooled = tf.nn.avg_pool2d(images, 8, 8, "VALID")
        out = {"pool3": tf.reshape(pooled, [tf.shape(images)[0], -1]).numpy().astype(np.float64)}
        if self.has_logits:
            out["logits"] = out["pool3"][:, :10] * 10.0
        return out


class Generator:
    """Replays real images as a 'generator', so its statistics can be checked exactly."""

    z_dim, num_classes, image_size, channels = 4, 0, 32, 1

    def __init__(self, images):
        self.images, self.offset = images, 0

    def __call__(self, z, labels=None, training=False):
        n = int(z.shape[0])
        out = self.images[self.offset:self.offset + n]
        self.offset += n
        return out


@pytest.fixture
def evaluator(tmp_path):
    source = fashion_mnist(split="test", limit=64)
    return Evaluator(reference_source=source, num_samples=32, network=StandInNet(), batch_size=16,
                     kid_subsets=5, kid_subset_size=16, cache_dir=str(tmp_path))


def test_reference_statistics_are_cached_and_reused(evaluator):
    first = evaluator.reference_stats(32, 1)
    path = evaluator.reference_cache_path(32, 1)
    assert os.path.exists(path) and os.path.exists(path + ".json")
    calls, mtime = evaluator.net.calls, os.path.getmtime(path)
    again = evaluator.reference_stats(32, 1)
    assert evaluator.net.calls == calls              # not recomputed
    assert os.path.getmtime(path) == mtime
    np.testing.assert_array_equal(first.mu, again.mu)
    assert first.count == 64
    # The key names dataset, split, resolution, channels, example count, network and resize.
    assert os.path.basename(path) == "fashion_mnist_test_32px_1ch_n64_stand-in-avgpool_tf1_bilinear.npz"
    assert json.load(open(path + ".json"))["resize"] == "tf1_bilinear"
    evaluator.resize = "tf2_bilinear"
    assert evaluator.reference_cache_path(32, 1) == path.replace("tf1_bilinear", "tf2_bilinear")


def test_stale_or_mismatched_cache_is_detected_and_recomputed(evaluator, capsys):
    evaluator.reference_stats(32, 1)
    path = evaluator.reference_cache_path(32, 1)
    meta = json.load(open(path + ".json"))
    meta["fingerprint"] = "0" * 16          # e.g. the data files changed under the same name
    json.dump(meta, open(path + ".json", "w"))
    calls = evaluator.net.calls
    evaluator.reference_stats(32, 1)
    assert "stale (fingerprint was" in capsys.readouterr().out
    assert evaluator.net.calls > calls
    assert json.load(open(path + ".json"))["fingerprint"] != "0" * 16
    # A different resolution or example count is a different cache entry.
    assert evaluator.reference_cache_path(64, 1) != path
    evaluator.reference_limit = 32
    assert evaluator.reference_cache_path(32, 1) != path


def test_results_are_labelled_and_equal_direct_computation(evaluator):
    real = fashion_mnist(split="test", limit=64)
    from tfgan_icr.data import make_dataset
    images = next(iter(make_dataset(real, batch_size=64, repeat=False, shuffle=False)))[0]
    results = evaluator(Generator(images[:32]))
    net = StandInNet()
    expected = fid_from_activations(net(images[:32])["pool3"], net(images)["pool3"])
    assert results["fid"] == pytest.approx(expected, rel=1e-6)
    assert results["fid_label"] == "FID@32 vs fashion_mnist[test], stand-in-avgpool, tf1_bilinear"
    assert results["kid_label"] == ("KID@32 vs fashion_mnist[test], stand-in-avgpool, tf1_bilinear, "
                                    "5 subsets of 16")
    assert results["kid_std"] > 0 and results["kid_estimator"] == "subsets"
    assert results["inception_score"] is None and "unavailable" in results["inception_score_label"]
    assert results["seconds_per_1k_generated"] > 0


class RecordingNet(StandInNet):
    """A stand-in that, like InceptionNet, takes the resize; records inputs and resizes."""

    RESIZES = ("tf1_bilinear", "tf2_bilinear", "bicubic_antialias")

    def __init__(self):
        super().__init__()
        self.inputs, self.resizes = [], []

    def __call__(self, images, resize="tf1_bilinear"):
        self.inputs.append(np.asarray(images))
        self.resizes.append(resize)
        return super().__call__(images)


def test_generated_images_are_quantised_before_the_network(evaluator):
    evaluator._net = RecordingNet()
    evaluator.reference_stats(32, 1)
    off_level = tf.random.stateless_uniform([32, 32, 32, 1], seed=[3, 4], minval=-1.2, maxval=1.2)
    evaluator.net.inputs.clear()
    results = evaluator(Generator(off_level))
    seen = np.concatenate(evaluator.net.inputs)
    levels = np.clip(np.round((off_level.numpy().astype(np.float64) + 1) * 127.5), 0, 255)
    np.testing.assert_allclose(seen, levels / 127.5 - 1, atol=1e-6)
    assert len(np.unique(np.round((seen + 1) * 127.5, 3))) <= 256
    assert set(evaluator.net.resizes) == {"tf1_bilinear"}
    # Off: the raw generator output reaches the network, and the labels say so.
    evaluator.quantize, evaluator.resize = False, "tf2_bilinear"
    evaluator.reference_stats(32, 1)  # a new cache entry for the other resize
    evaluator.net.inputs.clear()
    results = evaluator(Generator(off_level))
    np.testing.assert_array_equal(np.concatenate(evaluator.net.inputs), off_level.numpy())
    assert evaluator.net.resizes[-1] == "tf2_bilinear"
    assert results["fid_label"] == "FID@32 vs fashion_mnist[test], stand-in-avgpool, tf2_bilinear, unquantised"
    assert results["kid_label"].startswith("KID@32 vs fashion_mnist[test], stand-in-avgpool, tf2_bilinear, unquantised")


def test_kid_spread_only_when_subsets_differ_and_the_block_estimator(tmp_path):
    from tfgan_icr.eval.evaluator import log_results
    source = fashion_mnist(split="test", limit=32)
    images = next(iter(make_dataset(source, batch_size=32, repeat=False, shuffle=False)))[0]
    ev = Evaluator(reference_source=source, num_samples=32, network=StandInNet(), batch_size=16,
                   kid_subsets=5, kid_subset_size=1000, cache_dir=str(tmp_path))
    results = ev(Generator(images[::-1]))
    assert results["kid_std"] is None  # 32 vs 32 with subsets of 32: every subset the same
    log_results(str(tmp_path), 0, results, stream=open(os.devnull, "w"))
    ev.kid_estimator, ev.kid_block_size = "blocks", 8
    results = ev(Generator(images[::-1]))
    assert results["kid_estimator"] == "blocks" and results["kid_std"] > 0
    assert results["kid_label"].endswith("TF-GAN blocks, 4 of <= 8")
    import io
    out = io.StringIO()
    log_results(str(tmp_path), 1, results, stream=out)
    assert f"{results['kid'] * 1e3:.2f} ± {results['kid_std'] * 1e3:.2f} (x 1e-3)" in out.getvalue()
    from tfgan_icr.errors import ConfigError
    with pytest.raises(ConfigError, match="Evaluator.kid_estimator"):
        Evaluator(reference_source=source, kid_estimator="tfgan")
    with pytest.raises(ConfigError, match="Evaluator.resize"):
        Evaluator(reference_source=source, resize="bilinear")


def test_inception_score_reported_when_the_network_has_logits(evaluator):
    evaluator._net = StandInNet(logits=True)
    images = tf.random.stateless_uniform([32, 32, 32, 1], seed=[1, 2], minval=-1, maxval=1)
    results = evaluator(Generator(images))
    assert results["inception_score"] >= 1.0 and results["inception_score_label"].startswith("IS@32")


def test_missing_reference_is_a_config_error():
    from tfgan_icr.errors import ConfigError
    with pytest.raises(ConfigError, match="Evaluator.reference_source"):
        Evaluator()


def test_periodic_evaluation_keeps_the_best_checkpoint(tmp_path):
    import gin
    config.parse(["quickstart"], [*SMALL, "train.steps = 4", "train.eval_every = 2",
                                  "Evaluator.num_samples = 16", "Evaluator.reference_limit = 32",
                                  "Evaluator.batch_size = 16", "train.log_every = 100"])
    with gin.unlock_config():
        gin.bind_parameter("Evaluator.network", StandInNet())
        gin.bind_parameter("Evaluator.cache_dir", str(tmp_path / "cache"))
    train_job(str(tmp_path / "run"))
    records = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")]
    evals = [r for r in records if r.get("event") == "eval"]
    assert [r["step"] for r in evals] == [2, 4]
    best = json.load(open(tmp_path / "run" / "best" / "best.json"))
    assert best["fid"] == min(r["fid"] for r in evals)
    assert os.path.exists(best["checkpoint"] + ".index")


def test_cli_eval_with_the_real_inception_network(tmp_path):
    model_dir = str(tmp_path / "run")
    cache = str(tmp_path / "cache")
    env_bindings = ["Evaluator.reference_limit = 24", "Evaluator.batch_size = 12",
                    f"Evaluator.cache_dir = '{cache}'"]
    result = run_cli(f"--model_dir={model_dir}", "--steps=2", *bindings(*env_bindings))
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_cli("--mode=eval", f"--model_dir={model_dir}", "--num_samples=12")
    assert result.returncode == 0, result.stderr[-3000:]
    record = [json.loads(line) for line in open(os.path.join(model_dir, "metrics.jsonl"))][-1]
    assert record["event"] == "eval" and record["step"] == 2
    assert record["fid_label"] == "FID@12 vs fashion_mnist[test], inception-2015-12-05, tf1_bilinear"
    assert np.isfinite(record["fid"]) and record["fid"] > 0
    assert record["inception_score"] is None
    assert "FID@12 vs fashion_mnist[test], inception-2015-12-05, tf1_bilinear =" in result.stdout
    assert "(x 1e-3)" in result.stdout
    assert "img/s" in result.stdout
    # The one-off work is announced, with where it goes and how big it is; KID has its unit.
    assert f"converting the FID Inception weights once (about 90 MB)" in result.stdout
    assert f"cached {cache}" in result.stdout and " MB)" in result.stdout
    assert "computing the reference statistics of 24 fashion_mnist[test] images once" in result.stdout
    assert "(x 1e-3)" in result.stdout


def test_truncation_reaches_the_latents_and_the_label(evaluator):
    images = tf.random.stateless_uniform([32, 32, 32, 1], seed=[3, 4], minval=-1, maxval=1)
    seen = []

    class Recording(Generator):
        def __call__(self, z, labels=None, training=False):
            seen.append(np.asarray(z))
            return super().__call__(z, labels, training)

    results = evaluator(Recording(images), truncation=0.5)
    assert np.abs(np.concatenate(seen)).max() <= 0.5
    assert results["truncation"] == 0.5 and "z truncated at 0.5" in results["fid_label"]
    plain = evaluator(Generator(images))
    assert plain["truncation"] is None and "truncated" not in plain["fid_label"]


def _real_images(limit=64):
    real = fashion_mnist(split="test", limit=limit)
    return next(iter(make_dataset(real, batch_size=limit, repeat=False, shuffle=False)))[0]


def test_image_metrics_ride_along_and_are_zero_for_the_reference_images_themselves(tmp_path):
    from tfgan_icr.eval.ms_ssim import MultiScaleSSIM
    from tfgan_icr.eval.swd import SlicedWasserstein
    evaluator = Evaluator(reference_source=fashion_mnist(split="test", limit=64), num_samples=32,
                          network=StandInNet(), batch_size=16, kid_subsets=5, kid_subset_size=16,
                          cache_dir=str(tmp_path), image_metrics=[SlicedWasserstein(descriptors_per_image=16),
                                                                  MultiScaleSSIM(num_pairs=8)])
    images = _real_images()
    results = evaluator(Generator(images[:32]))    # the first 32 real images, in the reference's order
    assert results["swd"] == 0.0 and results["swd_levels"] == [0.0, 0.0]
    assert results["swd_label"].startswith("SWD x 1e3@32 vs fashion_mnist[test], levels 32/16 px")
    assert 0.0 < results["ms_ssim"] < 1.0 and 0.0 < results["ms_ssim_real"] < 1.0
    assert results["ms_ssim_label"].startswith("MS-SSIM of 8 random generated pairs")
    shifted = evaluator(Generator(tf.roll(images[:32], 3, axis=2)))
    assert shifted["swd"] > 0.0


def test_growing_generator_is_evaluated_at_its_resolution_against_downsampled_reals(evaluator):
    from tfgan_icr.eval.swd import SlicedWasserstein
    evaluator.image_metrics = [SlicedWasserstein(descriptors_per_image=16)]
    evaluator._net = RecordingNet()
    images = _real_images()
    small = quantize_images(tf.nn.avg_pool2d(images, 2, 2, "VALID"))   # 16x16 8-bit images

    class Growing(Generator):
        output_resolution = 16

    results = evaluator(Growing(small[:32]))
    assert evaluator.net.inputs[-1].shape[1:3] == (16, 16)   # the network saw 16x16 images
    assert all(x.shape[1:3] == (16, 16) for x in evaluator.net.inputs)
    assert results["resolution"] == 16 and results["swd"] == 0.0
    assert results["fid_label"] == "FID@32 vs fashion_mnist[test], at 16x16, stand-in-avgpool, tf1_bilinear"
    assert "at 16x16" in results["kid_label"] and "levels 16 px" in results["swd_label"]
    direct = fid_from_activations(StandInNet()(small[:32])["pool3"], StandInNet()(small)["pool3"])
    assert results["fid"] == pytest.approx(direct, rel=1e-6)
    path = evaluator.reference_cache_path(32, 1, 16)
    assert os.path.basename(path).startswith("fashion_mnist_test_32px_to16px_1ch") and os.path.exists(path)
    assert not os.path.exists(evaluator.reference_cache_path(32, 1))  # full-size statistics not mixed in


def test_best_checkpoint_prefers_a_higher_resolution_then_a_lower_fid(tmp_path):
    from types import SimpleNamespace
    from tfgan_icr.training.callbacks import PeriodicEvaluation
    periodic = PeriodicEvaluation(None, 10, SimpleNamespace(directory=str(tmp_path)), str(tmp_path))
    periodic.best_fid, periodic.best_resolution = 20.0, 8
    assert periodic._is_better({"fid": 90.0, "resolution": 16})       # the first at 16x16 wins
    assert not periodic._is_better({"fid": 5.0, "resolution": 4})      # a low FID at 4x4 does not
    assert periodic._is_better({"fid": 19.0, "resolution": 8})
    assert not periodic._is_better({"fid": 21.0, "resolution": 8})
    periodic.best_resolution = None                                    # a best.json of a fixed-size model
    assert periodic._is_better({"fid": 19.0, "resolution": 32}) and not periodic._is_better({"fid": 21.0})
