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
from tfgan_icr.data import fashion_mnist
from tfgan_icr.eval.evaluator import Evaluator
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
    # The key names dataset, split, resolution, channels, example count and network.
    assert os.path.basename(path) == "fashion_mnist_test_32px_1ch_n64_stand-in-avgpool.npz"


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
    assert results["fid_label"] == "FID@32 vs fashion_mnist[test], stand-in-avgpool"
    assert results["kid_label"].startswith("KID@32 vs fashion_mnist[test]")
    assert results["inception_score"] is None and "unavailable" in results["inception_score_label"]
    assert results["seconds_per_1k_generated"] > 0


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
    assert record["fid_label"] == "FID@12 vs fashion_mnist[test], inception-2015-12-05"
    assert np.isfinite(record["fid"]) and record["fid"] > 0
    assert record["inception_score"] is None
    assert "FID@12 vs fashion_mnist[test], inception-2015-12-05 =" in result.stdout
    assert "img/s" in result.stdout
    # The one-off work is announced, with where it goes and how big it is; KID has its unit.
    assert f"converting the FID Inception weights once (about 90 MB)" in result.stdout
    assert f"cached {cache}" in result.stdout and " MB)" in result.stdout
    assert "computing the reference statistics of 24 fashion_mnist[test] images once" in result.stdout
    assert "(x1e-3)" in result.stdout
