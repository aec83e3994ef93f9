"""The training job in-process: exact resume, the NaN guard, kill-safety of checkpoints."""

import os
import signal
import subprocess
import sys
import time

import gin
import numpy as np
import pytest
import tensorflow as tf

from helpers import ROOT, SMALL, bindings
from tfgan_icr import config
from tfgan_icr.errors import TrainingDiverged
from tfgan_icr.jobs.train import train as train_job
from tfgan_icr.training import builder
from tfgan_icr.training.checkpoint import CheckpointStore


def train(model_dir, steps, *extra):
    config.parse(["quickstart"], [*SMALL, f"train.steps = {steps}", "train.deterministic = True",
                                  "train.log_every = 100", "train.sample_every = 100", *extra])
    return train_job(str(model_dir))


def checkpoint_values(model_dir):
    """Every saved value of the latest checkpoint: networks, optimizer slots, step."""
    ckpt = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    reader = tf.train.load_checkpoint(ckpt)
    return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(ckpt)
            if name not in ("_CHECKPOINTABLE_OBJECT_GRAPH", "save_counter/.ATTRIBUTES/VARIABLE_VALUE")}


# float16: the scale doubles after every finite update until one overflows, so the scales (and
# which updates were skipped) differ from step to step and a resume must restore them.
FLOAT16 = ["build_gan.precision = 'mixed_float16'", "DynamicLossScale.growth_interval = 1"]
SCALE_KEY = "d_loss_scale/value/.ATTRIBUTES/VARIABLE_VALUE"


@pytest.mark.parametrize("precision", [[], FLOAT16], ids=["float32", "mixed_float16"])
def test_resumed_run_continues_from_saved_step_and_matches_an_uninterrupted_run(tmp_path, precision):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(straight, 6, *precision)
    train(resumed, 3, *precision)
    saved = checkpoint_values(resumed)
    assert (SCALE_KEY in saved) == bool(precision)
    if precision:
        assert saved[SCALE_KEY] != 2.0 ** 15  # the scale moved: restoring it matters
    # The restarted run restores exactly what was saved, BN statistics and spectral-norm
    # vectors included, and starts at the saved step.
    config.parse(["quickstart"], [*SMALL, *precision])
    gan = builder.build_from_spec(builder.read_model_spec(str(resumed)))
    assert CheckpointStore(str(resumed), gan).restore() == 3
    store = CheckpointStore(str(tmp_path / "copy"), gan)
    store.save()
    resaved = checkpoint_values(str(tmp_path / "copy"))
    assert resaved.keys() == saved.keys()
    for key in saved:
        np.testing.assert_array_equal(saved[key], resaved[key], err_msg=key)
    result = train(resumed, 6, *precision)
    assert result["step"] == 6
    # Data position and random draws are functions of the step: the two runs are identical.
    a, b = checkpoint_values(straight), checkpoint_values(resumed)
    assert a.keys() == b.keys() and saved.keys() == a.keys()
    assert any(not np.array_equal(saved[k], b[k]) for k in a)   # training went on after the resume
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@gin.configurable
def explodes_at_step_four(ctx):
    return tf.where(ctx.step >= 3, tf.constant(np.nan, tf.float32), 0.0)


def test_nan_stops_training_naming_the_step_and_keeps_last_good_checkpoint(tmp_path):
    with pytest.raises(TrainingDiverged, match=r"NaN/inf at step 4 .*ckpt-2"):
        train(tmp_path, 10, "build_gan.d_terms = [@explodes_at_step_four]", "train.checkpoint_every = 2")
    ckpt = tf.train.latest_checkpoint(os.path.join(tmp_path, "checkpoints"))
    assert ckpt.endswith("ckpt-2")
    for name, value in checkpoint_values(tmp_path).items():
        assert np.all(np.isfinite(value)), name


def test_killing_the_process_at_any_moment_leaves_a_restorable_checkpoint(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    state = tmp_path / "checkpoints" / "checkpoint"
    args = [sys.executable, "-m", "tfgan_icr.main", f"--model_dir={tmp_path}", "--steps=1000",
            *bindings("train.checkpoint_every = 1", "train.log_every = 1000", "train.sample_every = 1000")]
    rng = np.random.default_rng(0)
    for attempt in range(2):
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while not state.exists() and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.0))   # a random moment, usually in the middle of a save
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert state.exists()
        config.parse(["quickstart"], [*SMALL])
        gan = builder.build_from_spec(builder.read_model_spec(str(tmp_path)))
        step = CheckpointStore(str(tmp_path), gan).restore()
        assert step is not None and step >= 1


def test_ctrl_c_saves_a_checkpoint_and_the_run_resumes_from_it(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    args = [sys.executable, "-m", "tfgan_icr.main", f"--model_dir={tmp_path}", "--steps=100000",
            *bindings("train.checkpoint_every = 100000", "train.log_every = 1", "train.sample_every = 100000")]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    for line in proc.stdout:          # wait until training is under way
        if line.startswith("step 3/"):
            break
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted at step" in out and "Run the same command to resume" in out
    step = int(out.split("interrupted at step ")[1].split(";")[0])
    assert step >= 3
    assert tf.train.latest_checkpoint(os.path.join(tmp_path, "checkpoints")).endswith(f"ckpt-{step}")


def test_steps_per_execution_runs_several_iterations_per_call_and_keeps_the_step_count(tmp_path):
    import json
    train(tmp_path, 6, "train.steps_per_execution = 2", "train.log_every = 2", "train.checkpoint_every = 4")
    steps = [json.loads(line)["step"] for line in open(tmp_path / "metrics.jsonl")]
    assert steps == [2, 4, 6]
    assert os.path.exists(tmp_path / "checkpoints" / "ckpt-4.index")
    assert tf.train.latest_checkpoint(os.path.join(tmp_path, "checkpoints")).endswith("ckpt-6")


def test_resume_across_a_batch_size_phase_change_matches_an_uninterrupted_run(tmp_path):
    schedule = "train.batch_size_schedule = ((3, 8),)"
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train(straight, 5, schedule)
    train(resumed, 2, schedule)     # stops in the first phase
    train(resumed, 4, schedule)     # crosses into the second
    train(resumed, 5, schedule)
    a, b = checkpoint_values(straight), checkpoint_values(resumed)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
