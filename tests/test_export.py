"""End to end: --mode=export writes a TF Serving SavedModel of a tiny trained run that a process
without tfgan_icr loads and that gives the in-process generator's images; bad input is refused."""

import io
import json
import os
import subprocess
import sys
import sysconfig

import numpy as np
import pytest
import tensorflow as tf

import gin

from helpers import ROOT, SMALL, run_cli
from tfgan_icr import config, sampling
from tfgan_icr import images as image_io
from tfgan_icr.jobs.train import train as train_job
from tfgan_icr.training.builder import FULL_CONFIG, MODEL_SPEC, restore_trained

STEPS = 2
BEST = {"step": STEPS, "fid": 123.5, "label": "FID(test)", "checkpoint": "best/ckpt-1"}


def _reload_without_the_package(export_path, inputs, work_dir):
    """tests/export_reload.py under `python -I -S` (no PYTHONPATH, no .pth files, so not the
    editable install either), cwd outside the repository."""
    inputs_path, out_path = os.path.join(work_dir, "inputs.npz"), os.path.join(work_dir, "out.npz")
    np.savez(inputs_path, **inputs)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-I", "-S", os.path.join(ROOT, "tests", "export_reload.py"),
                             sysconfig.get_paths()["purelib"], export_path, inputs_path, out_path],
                            capture_output=True, text=True, timeout=120, cwd=work_dir, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(np.load(out_path))


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("run"))
    # Trained in this process (a subprocess would cost one more TensorFlow start-up).
    config.parse(["quickstart"], [*SMALL, f"train.steps = {STEPS}", "train.log_every = 100",
                                  "train.sample_every = 100", "train.checkpoint_every = 100"])
    train_job(model_dir, stream=io.StringIO())
    gin.clear_config()
    os.makedirs(os.path.join(model_dir, "best"))
    with open(os.path.join(model_dir, "best", "best.json"), "w") as f:
        json.dump(BEST, f)
    export_dir = os.path.join(str(tmp_path_factory.mktemp("out")), "gen")
    exported = run_cli("--mode=export", f"--model_dir={model_dir}", f"--export_dir={export_dir}")
    assert exported.returncode == 0, exported.stderr[-3000:]

    # The same run restored here, through the parse path --mode=export uses.
    config.parse([os.path.join(model_dir, FULL_CONFIG)], trusted=False)
    gan, _ = restore_trained(model_dir)
    net = gan.inference_generator()
    z = tf.random.stateless_normal([4, gan.generator.z_dim], seed=[5, 6]) * 1.5
    labels = tf.constant([0, 3, 7, 9], tf.int32)
    expected = {
        "served": image_io.to_uint8(net(z, labels, training=False).numpy()),
        "served_truncated": image_io.to_uint8(net(tf.clip_by_value(z, -0.5, 0.5), labels, training=False).numpy()),
    }
    # `sample` draws z as --mode=sample --num_samples draws its first batch.
    sample_z, _ = sampling.numbered_inputs(3, sampling.SALTS["exported_samples"], 0, 4, gan.generator.z_dim,
                                           gan.num_classes)
    expected["sampled"] = image_io.to_uint8(net(sample_z, labels, training=False).numpy())
    work_dir = str(tmp_path_factory.mktemp("elsewhere"))
    reloaded = _reload_without_the_package(os.path.join(export_dir, "1"),
                                           {"z": z.numpy(), "labels": labels.numpy()}, work_dir)
    return dict(model_dir=model_dir, export_dir=export_dir, exported=exported, gan=gan,
                expected=expected, reloaded=reloaded)


def test_writes_tf_serving_layout_and_says_where(case):
    version_dir = os.path.join(case["export_dir"], "1")
    assert sorted(os.listdir(case["export_dir"])) == ["1"]
    assert os.path.exists(os.path.join(version_dir, "saved_model.pb"))
    assert os.path.isdir(os.path.join(version_dir, "variables"))
    assert f"exported step {STEPS} to {version_dir}" in case["exported"].stdout


def test_metadata_describes_the_generator_and_the_recorded_fid(case):
    with open(os.path.join(case["export_dir"], "1", "tfgan_icr_export.json")) as f:
        meta = json.load(f)
    with open(os.path.join(case["model_dir"], MODEL_SPEC)) as f:
        spec = json.load(f)
    assert meta["z_dim"] == 16 and meta["num_classes"] == spec["num_classes"] == 10
    assert meta["image_shape"] == [spec["image_size"], spec["image_size"], spec["channels"]] == [32, 32, 1]
    assert meta["step"] == STEPS
    assert meta["fid"] == BEST["fid"]
    assert meta["best_recorded"] == {"step": STEPS, "fid": BEST["fid"], "label": BEST["label"]}
    assert meta["generator"] == ("ema" if case["gan"].ema_generator is not None else "generator")


def test_reloads_without_the_package_and_gives_the_same_images(case):
    reloaded = case["reloaded"]
    assert not reloaded["importable"] and not reloaded["tfgan_icr_loaded"]
    assert str(reloaded["dtype"]) == "uint8"
    for name in ("served", "served_truncated", "sampled"):
        assert reloaded[name].dtype == np.uint8 and reloaded[name].shape == (4, 32, 32, 1), name
        np.testing.assert_array_equal(reloaded[name], case["expected"][name], err_msg=name)
    assert not np.array_equal(reloaded["served"], reloaded["served_truncated"])


def test_sample_signature_is_a_function_of_the_seed(case):
    reloaded = case["reloaded"]
    np.testing.assert_array_equal(reloaded["sampled"], reloaded["sampled_again"])
    assert not np.array_equal(reloaded["sampled"], reloaded["sampled_other_seed"])


def test_rejects_inputs_of_the_wrong_shape_or_dtype(case):
    reloaded = case["reloaded"]
    # Through the signatures (what TF Serving calls) ...
    wrong_shape, float_labels = str(reloaded["wrong_z_shape"]), str(reloaded["float_labels"])
    assert "Shape of tensor z [4,17] is not compatible with expected shape [?,16]" in wrong_shape, wrong_shape
    assert "InvalidArgumentError" in float_labels and "int32" in float_labels, float_labels
    # ... and through the restored functions, which name the input.
    for name in ("float_labels_to_function", "wrong_z_shape_to_function"):
        message = str(reloaded[name])
        assert message.startswith("TypeError") and "TensorSpec(shape=(None" in message, message
    assert "name='labels'" in str(reloaded["float_labels_to_function"])
    assert "name='z'" in str(reloaded["wrong_z_shape_to_function"])
    out_of_range = str(reloaded["label_out_of_range"])
    assert "InvalidArgumentError" in out_of_range and "labels must be < num_classes = 10" in out_of_range


def test_second_export_is_the_next_version(case):
    # The Python API: version 2 beside 1; an existing version is refused.
    from tfgan_icr.errors import RunDirError
    from tfgan_icr.export import export_generator
    path = export_generator(case["gan"], case["export_dir"])
    assert path == os.path.join(case["export_dir"], "2") and os.path.exists(os.path.join(path, "saved_model.pb"))
    with pytest.raises(RunDirError, match="exists already"):
        export_generator(case["gan"], case["export_dir"], version=1)
    assert sorted(os.listdir(case["export_dir"])) == ["1", "2"]


def test_run_without_checkpoint_fails_in_one_line_and_writes_nothing(case, tmp_path):
    model_dir = tmp_path / "untrained"
    model_dir.mkdir()
    for name in (MODEL_SPEC, FULL_CONFIG):
        (model_dir / name).write_text(open(os.path.join(case["model_dir"], name)).read())
    export_dir = tmp_path / "out"
    result = run_cli("--mode=export", f"--model_dir={model_dir}", f"--export_dir={export_dir}")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no checkpoint in"), result.stderr[-2000:]
    assert not export_dir.exists()


def test_unconditional_generator_exports_without_labels(tmp_path):
    from tfgan_icr.export import GeneratorExport
    from tfgan_icr.models.sndcgan import SNDCGANGenerator
    g = SNDCGANGenerator(z_dim=8, ch=8, image_size=8, channels=3)
    z = tf.random.stateless_normal([3, 8], seed=[1, 2]) * 2.0
    g(z, training=False)
    module = GeneratorExport(g, z_dim=8, num_classes=0)
    tf.saved_model.save(module, str(tmp_path / "1"), signatures=module.signatures())
    loaded = tf.saved_model.load(str(tmp_path / "1"))
    serve, sample = loaded.signatures["serving_default"], loaded.signatures["sample"]
    assert sorted(serve.structured_input_signature[1]) == ["truncation", "z"]
    assert sorted(sample.structured_input_signature[1]) == ["count", "seed"]
    clipped = serve(z=z, truncation=tf.constant(0.25))["images"].numpy()
    np.testing.assert_array_equal(clipped, image_io.to_uint8(g(tf.clip_by_value(z, -0.25, 0.25)).numpy()))
    np.testing.assert_array_equal(serve(z=z, truncation=tf.constant(-1.0))["images"].numpy(),
                                  image_io.to_uint8(g(z).numpy()))
    sampled = sample(count=tf.constant(2), seed=tf.constant(9, tf.int64))["images"].numpy()
    z9, _ = sampling.numbered_inputs(9, sampling.SALTS["exported_samples"], 0, 2, 8, 0)
    assert sampled.shape == (2, 8, 8, 3)
    np.testing.assert_array_equal(sampled, image_io.to_uint8(g(z9).numpy()))
