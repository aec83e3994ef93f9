"""The discriminator monitor: D's real-image accuracy on training vs held-out images and the
largest singular values of its weights, measured and logged, and in a training run."""

import json
import os
import types

import numpy as np
import pytest
import tensorflow as tf

from helpers import SMALL
from tfgan_icr import config
from tfgan_icr.data.sources import numpy_arrays
from tfgan_icr.jobs.train import train as train_job
from tfgan_icr.models.sndcgan import sndcgan_discriminator
from tfgan_icr.training.monitors import DiscriminatorMonitor, real_accuracy, spectral_norms


def arrays(seed, n=24):
    rng = np.random.default_rng(seed)
    return numpy_arrays(rng.integers(0, 256, size=(n, 8, 8, 3), dtype=np.uint8),
                        rng.integers(0, 3, size=n).astype(np.int32), num_classes=3)


def built_d():
    d = sndcgan_discriminator(ch=4, num_classes=3, image_size=8, channels=3)
    d(tf.zeros([1, 8, 8, 3]), tf.zeros([1], tf.int32))
    return d


def test_spectral_norms_are_the_exact_largest_singular_values_or_the_converged_estimate():
    d = built_d()
    exact = spectral_norms(d)
    layer = d.conv3
    matrix = layer.kernel.numpy().reshape(-1, layer.kernel.shape[-1])
    assert exact["conv3/kernel"] == pytest.approx(np.linalg.svd(matrix, compute_uv=False)[0], rel=1e-6)
    assert "head/linear/kernel" in exact and "head/embedding/embeddings" in exact
    # Kernels over exact_max_elements use the layers' power-iteration estimates: close to
    # the exact values once the iteration has run (here 60 training-mode calls).
    x, y = tf.random.stateless_normal([2, 8, 8, 3], seed=[0, 3]), tf.constant([0, 1])
    power_step = tf.function(lambda: d(x, y, training=True))
    for _ in range(60):
        power_step()
    exact, estimated = spectral_norms(d), spectral_norms(d, exact_max_elements=0)
    assert estimated.keys() == exact.keys()
    for path in exact:
        assert estimated[path] == pytest.approx(exact[path], rel=2e-2), path


def test_monitor_logs_accuracies_in_range_their_gap_and_the_sigmas(tmp_path):
    d = built_d()
    train, heldout = arrays(0), arrays(1)
    monitor = DiscriminatorMonitor(str(tmp_path), train, heldout, every=2, count=10)
    monitor.set_model(types.SimpleNamespace(discriminator=d, global_step=tf.Variable(4, dtype=tf.int64)))
    monitor.on_train_batch_end(0)
    (record,) = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert record["step"] == 4 and record["monitor"] == "discriminator"
    for key in ("d_accuracy_train", "d_accuracy_heldout"):
        assert 0.0 <= record[key] <= 1.0
    assert record["d_accuracy_gap"] == pytest.approx(record["d_accuracy_train"] - record["d_accuracy_heldout"])
    images = tf.cast(train.images[:10], tf.float32) / 127.5 - 1.0
    assert record["d_accuracy_train"] == real_accuracy(d, images.numpy(), train.labels[:10], batch_size=3)
    sigmas = {k: v for k, v in record.items() if k.startswith("sigma_max/")}
    assert len(sigmas) == 9 and record["sigma_max"] == max(sigmas.values()) > 0
    monitor.set_model(types.SimpleNamespace(discriminator=d, global_step=tf.Variable(5, dtype=tf.int64)))
    monitor.on_train_batch_end(0)   # not a multiple of every: nothing logged
    assert len(open(tmp_path / "metrics.jsonl").readlines()) == 1


def test_a_training_run_with_the_monitor_logs_it_and_says_once_when_nothing_is_held_out(tmp_path, capsys):
    config.parse(["quickstart"], [*SMALL, "train.steps = 2", "train.log_every = 100",
                                  "train.sample_every = 100", "discriminator_monitor.every = 1",
                                  "discriminator_monitor.count = 8"])
    train_job(str(tmp_path))
    records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    monitored = [r for r in records if r.get("monitor") == "discriminator"]
    assert [r["step"] for r in monitored] == [1, 2]
    assert all(0.0 <= r["d_accuracy_train"] <= 1.0 and "d_accuracy_heldout" not in r for r in monitored)
    assert capsys.readouterr().out.count("no held-out source") == 1
    assert os.listdir(tmp_path / "tensorboard")
