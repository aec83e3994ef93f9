"""Progressive GAN: its layers against hand computations, the fade-in, the schedule, and a
resume in the middle of a fade-in."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from test_training import checkpoint_values
from tfgan_icr import config
from tfgan_icr.errors import CheckpointError
from tfgan_icr.jobs.train import train as train_job
from tfgan_icr.layers import EqualizedConv2D, EqualizedDense, MinibatchStdDev, PixelNormalization
from tfgan_icr.methods.progressive import ProgressiveGrowth
from tfgan_icr.models.pggan import downsample, pggan_discriminator, pggan_generator, upsample


def test_pixel_norm_matches_a_hand_computation():
    x = np.array([[[[3.0, 4.0], [0.0, 2.0]]]], np.float32)  # [1, 1, 2, 2]
    y = PixelNormalization(epsilon=1e-8)(x).numpy()
    np.testing.assert_allclose(y[0, 0, 0], np.array([3.0, 4.0]) / math.sqrt(12.5), rtol=1e-6)
    np.testing.assert_allclose(y[0, 0, 1], np.array([0.0, 2.0]) / math.sqrt(2.0), rtol=1e-6)


def test_minibatch_stddev_groups_sample_n_with_n_mod_batch_over_group_size():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 2, 2, 3)).astype(np.float32)
    y = MinibatchStdDev(group_size=4)(x).numpy()
    assert y.shape == (8, 2, 2, 4)
    np.testing.assert_array_equal(y[..., :3], x)
    m = 8 // 4
    for n in range(8):
        members = x[[k for k in range(8) if k % m == n % m]]          # 4 samples
        expected = np.sqrt(members.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(y[n, ..., 3], expected, rtol=1e-5)
    assert not np.isclose(y[0, 0, 0, 3], y[1, 0, 0, 3])               # 0 and 1: different groups


def test_equalized_layers_apply_the_he_constant_to_unit_normal_weights():
    dense = EqualizedDense(5)
    x = tf.random.normal([3, 7])
    with tf.GradientTape() as tape:
        y = dense(x)
        loss = tf.reduce_sum(y)
    scale = math.sqrt(2.0) / math.sqrt(7)
    np.testing.assert_allclose(y.numpy(), x.numpy() @ (dense.kernel.numpy() * scale), rtol=1e-5, atol=1e-6)
    grad = tape.gradient(loss, dense.kernel).numpy()
    # d/dW of sum(x W c) = c * x^T 1: the run-time constant scales the gradient too.
    np.testing.assert_allclose(grad, scale * x.numpy().sum(0)[:, None] * np.ones((1, 5)), rtol=1e-5)
    assert 0.7 < dense.kernel.numpy().std() < 1.3                      # stored weights ~ N(0, 1)
    conv = EqualizedConv2D(4, 3, gain=1.0)
    images = tf.random.normal([2, 5, 5, 6])
    out = conv(images)
    expected = tf.nn.conv2d(images, conv.kernel / math.sqrt(3 * 3 * 6), 1, "SAME")  # gain 1
    np.testing.assert_allclose(out.numpy(), expected.numpy(), rtol=1e-5, atol=1e-5)
    restored = EqualizedConv2D.from_config(conv.get_config())
    assert restored.get_config() == conv.get_config()


def _nets():
    kwargs = dict(image_size=8, channels=1, fmap_base=32, fmap_max=8)
    return pggan_generator(z_dim=6, **kwargs), pggan_discriminator(**kwargs)


def test_fade_in_at_alpha_0_is_the_previous_network_and_at_1_the_next():
    g, d = _nets()
    z = tf.random.normal([4, 6])
    g.level_of_detail.set(4, 1.0)
    low = g(z).numpy()
    g.level_of_detail.set(8, 0.0)
    np.testing.assert_allclose(g(z).numpy(), upsample(low).numpy(), rtol=1e-5, atol=1e-6)
    g.level_of_detail.set(8, 1.0)
    high = g(z).numpy()
    g.level_of_detail.set(8, 0.25)
    np.testing.assert_allclose(g(z).numpy(), 0.25 * high + 0.75 * upsample(low).numpy(), rtol=1e-4, atol=1e-5)

    x = tf.random.normal([4, 8, 8, 1])
    d.level_of_detail.set(4, 1.0)
    low_logits = d(downsample(x)).logits.numpy()
    d.level_of_detail.set(8, 0.0)
    np.testing.assert_allclose(d(x).logits.numpy(), low_logits, rtol=1e-5, atol=1e-5)
    d.level_of_detail.set(8, 1.0)
    assert not np.allclose(d(x).logits.numpy(), low_logits)


def test_schedule_stage_and_alpha_at_given_image_counts():
    growth = ProgressiveGrowth(32, stable_images=600, transition_images=400,
                               batch_sizes={4: 20, 8: 20, 16: 10, 32: 10})
    phases = growth.phases(10_000, 64, lambda b: b)
    # 4x4: 600/20 = 30 steps; 8x8: 20 fade + 30 stable; 16 and 32: 40 fade + 60 stable.
    assert [(p.start_step, p.batch_size, p.stage.resolution, p.stage.transition_steps) for p in phases] == [
        (0, 20, 4, 0), (30, 20, 8, 20), (80, 10, 16, 40), (180, 10, 32, 40)]
    assert phases[-1].end_step == 10_000
    stage = growth.stage_at(90, 64, lambda b: b)       # 800 + 100 images: a quarter into the fade-in
    assert stage.resolution == 16 and float(stage.alpha(90)) == pytest.approx(0.25)
    assert float(stage.alpha(80)) == 0.0 and float(stage.alpha(120)) == 1.0 and float(stage.alpha(150)) == 1.0
    # n_dis 2 shows twice the images per step: half the steps.
    assert growth.phases(10_000, 64, lambda b: 2 * b)[1].start_step == 15


def _train(model_dir, steps):
    config.parse(["pggan_fashion_mnist"], [
        "fashion_mnist.limit = 128", "make_dataset.image_size = 8", "pggan_generator.z_dim = 8",
        "pggan_generator.fmap_base = 32", "pggan_generator.fmap_max = 8",
        "pggan_discriminator.fmap_base = 32", "pggan_discriminator.fmap_max = 8",
        "progressive_growth.stable_images = 16", "progressive_growth.transition_images = 32",
        "progressive_growth.batch_sizes = {4: 8, 8: 4}", "train.batch_size = 8",
        f"train.steps = {steps}", "train.log_every = 100", "train.sample_every = 100",
        "train.checkpoint_every = 100", "train.deterministic = True"])
    return train_job(str(model_dir))


def test_resume_in_the_middle_of_a_fade_in_matches_an_uninterrupted_run(tmp_path):
    # 4x4: 2 steps; 8x8: 8 steps of fade-in (batch 4), then stable.
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    _train(straight, 8)
    _train(resumed, 5)                  # stops at alpha 3/8 of the 8x8 fade-in
    from tfgan_icr.training import builder
    gan, _ = builder.restore_trained(str(resumed))
    assert gan.generator.output_resolution == 8
    assert float(gan.generator.level_of_detail.alpha.numpy()) == pytest.approx(2 / 8)   # step 4's
    assert gan.generate(tf.zeros([2, 8])).shape == (2, 8, 8, 1)
    _train(resumed, 8)
    a, b = checkpoint_values(straight), checkpoint_values(resumed)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


class FlatPixels:
    """A stand-in feature network (its numbers are not FIDs): the pixels themselves."""

    name, has_logits = "stand-in-pixels", False

    def __call__(self, images):
        images = np.asarray(images, np.float64)
        return {"pool3": images.reshape(len(images), -1)}


def test_eval_of_a_run_stopped_at_4x4_is_at_4x4_with_swd_and_ms_ssim(tmp_path):
    import gin
    from tfgan_icr.jobs.evaluate import evaluate
    _train(tmp_path / "run", 2)                       # the 4x4 stage is steps 0-1
    _train(tmp_path / "run", 4)                       # then the 8x8 fade-in
    with gin.unlock_config():
        for name, value in {"Evaluator.network": FlatPixels(), "Evaluator.cache_dir": str(tmp_path / "cache"),
                            "Evaluator.num_samples": 32, "Evaluator.reference_limit": 64,
                            "Evaluator.batch_size": 16, "Evaluator.kid_subset_size": 16,
                            "SlicedWasserstein.descriptors_per_image": 8}.items():
            gin.bind_parameter(name, value)
    results = evaluate(str(tmp_path / "run"), checkpoint=2)   # not the latest (step 4, at 8x8)
    assert results["resolution"] == 4
    assert results["fid_label"].startswith("FID@32 vs fashion_mnist[test], at 4x4, stand-in-pixels")
    assert results["swd_level_resolutions"] == [4] and results["swd"] > 0
    assert "4x4 descriptors" in results["swd_label"] and "at 4x4" in results["ms_ssim_label"]
    assert 0 <= results["ms_ssim"] <= 1
    logged = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")][-1]
    assert logged["event"] == "eval" and logged["step"] == 2 and logged["swd_levels"] == results["swd_levels"]
    assert evaluate(str(tmp_path / "run"))["resolution"] == 8
    with pytest.raises(CheckpointError, match=r"no checkpoint '3' in .*one of the steps saved there \(2, 4\)"):
        evaluate(str(tmp_path / "run"), checkpoint=3)


@pytest.mark.parametrize("name, size, images", [("pggan_cifar10", 32, 12_000_000),
                                                ("pggan_celebahq", 1024, 12_000_000)])
def test_paper_configs_follow_the_papers_schedule(name, size, images):
    import gin
    from tfgan_icr.eval.ms_ssim import MultiScaleSSIM
    from tfgan_icr.eval.swd import SlicedWasserstein
    from tfgan_icr.methods.progressive import progressive_growth
    config.parse([name], [])
    assert gin.query_parameter("make_dataset.image_size") == size
    growth = progressive_growth(size)
    assert growth.stable_images == growth.transition_images == 600_000
    steps, batch = gin.query_parameter("train.steps"), gin.query_parameter("train.batch_size")
    phases = growth.phases(steps, batch, lambda b: b)   # n_dis 1: one batch shown per step
    assert [p.stage.resolution for p in phases] == [4 * 2 ** i for i in range(len(phases))]
    assert phases[-1].stage.resolution == size
    shown = sum((p.end_step - p.start_step) * p.batch_size for p in phases)
    assert abs(shown - images) <= 64, shown            # 12M images, up to rounding per phase
    assert gin.query_parameter("build_gan.n_dis") == 1 and gin.query_parameter("build_gan.ema_decay") == 0.999
    metrics = [ref.scoped_configurable_fn for ref in gin.query_parameter("Evaluator.image_metrics")]
    assert metrics == [SlicedWasserstein, MultiScaleSSIM] and SlicedWasserstein().num_images == 16384
