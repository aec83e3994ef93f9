"""End to end: the command line trains on a Fashion-MNIST slice and writes every promised
output; resumes; samples; and refuses bad input with one clear line."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import bindings, run_cli

STEPS = 6


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    model_dir = str(tmp_path_factory.mktemp("run"))
    result = run_cli(f"--model_dir={model_dir}", f"--steps={STEPS}",
                     *bindings("train.log_every = 2", "train.sample_every = 3", "train.checkpoint_every = 3"))
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir, result


def read_png(path):
    return tf.io.decode_png(tf.io.read_file(path)).numpy()


def test_writes_operative_config_with_the_overrides(trained_run):
    model_dir, _ = trained_run
    text = open(os.path.join(model_dir, "operative_config.gin")).read()
    assert f"train.steps = {STEPS}" in text
    assert "sndcgan_generator.ch = 8" in text
    assert "@hinge_discriminator_loss" in text


def test_writes_checkpoints_at_intervals_and_at_the_end(trained_run):
    model_dir, _ = trained_run
    ckpt = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    assert ckpt.endswith(f"ckpt-{STEPS}")
    assert os.path.exists(os.path.join(model_dir, "checkpoints", "ckpt-3.index"))
    names = [name for name, _ in tf.train.list_variables(ckpt)]
    for part in ("generator", "discriminator", "g_optimizer", "d_optimizer", "global_step"):
        assert any(name.startswith(part) for name in names), part
    assert int(tf.train.load_checkpoint(ckpt).get_tensor("global_step/.ATTRIBUTES/VARIABLE_VALUE")) == STEPS


def test_writes_sample_grids_with_one_row_per_class(trained_run):
    model_dir, _ = trained_run
    grids = sorted(os.listdir(os.path.join(model_dir, "samples")))
    assert grids == ["step_0000003.png", "step_0000006.png"]
    grid = read_png(os.path.join(model_dir, "samples", grids[-1]))
    # 10 classes x 10 samples of 32x32 with 2 px padding.
    assert grid.shape == (10 * 34 + 2, 10 * 34 + 2, 1)
    assert grid.std() > 0


def test_writes_metrics_log(trained_run):
    model_dir, _ = trained_run
    records = [json.loads(line) for line in open(os.path.join(model_dir, "metrics.jsonl"))]
    assert [r["step"] for r in records] == [2, 4, 6]
    for record in records:
        for key in ("d_loss", "g_loss", "images_per_second", "seconds_per_iteration"):
            assert np.isfinite(record[key]), key
        assert record["images_per_second"] > 0


def test_writes_tensorboard_scalars_and_images(trained_run):
    model_dir, _ = trained_run
    tags = set()
    event_dir = os.path.join(model_dir, "tensorboard")
    for name in os.listdir(event_dir):
        for event in tf.compat.v1.train.summary_iterator(os.path.join(event_dir, name)):
            tags.update(value.tag for value in event.summary.value)
    assert {"d_loss", "g_loss", "images_per_second", "samples"} <= tags


def test_console_shows_progress(trained_run):
    _, result = trained_run
    lines = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    assert len(lines) == 3
    assert "img/s" in lines[-1] and "ETA" in lines[-1] and "d_loss" in lines[-1]


def test_sample_mode_writes_grid_and_single_images(trained_run):
    model_dir, _ = trained_run
    result = run_cli("--mode=sample", f"--model_dir={model_dir}", "--num_samples=3")
    assert result.returncode == 0, result.stderr[-3000:]
    grid = os.path.join(model_dir, "samples", f"sample_step_{STEPS:07d}_g.png")
    assert read_png(grid).shape[0] == 10 * 34 + 2
    single = os.path.join(model_dir, "samples", f"individual_step_{STEPS:07d}_g")
    files = sorted(os.listdir(single))
    assert files == ["000000_class0.png", "000001_class1.png", "000002_class2.png"]
    assert read_png(os.path.join(single, files[0])).shape == (32, 32, 1)


def test_sample_mode_truncates_z_and_uses_standing_statistics_when_asked(trained_run, tmp_path):
    model_dir, _ = trained_run
    plain = run_cli("--mode=sample", f"--model_dir={model_dir}", f"--output_dir={tmp_path / 'plain'}")
    result = run_cli("--mode=sample", f"--model_dir={model_dir}", f"--output_dir={tmp_path / 'trunc'}",
                     "--gin_bindings=inference.truncation = 0.5",
                     "--gin_bindings=inference.standing_statistics = True",
                     "--gin_bindings=inference.standing_batches = 2")
    assert plain.returncode == 0 and result.returncode == 0, result.stderr[-3000:]
    truncated = read_png(str(tmp_path / "trunc" / f"sample_step_{STEPS:07d}_g_trunc0.5.png"))
    untruncated = read_png(str(tmp_path / "plain" / f"sample_step_{STEPS:07d}_g.png"))
    assert truncated.shape == untruncated.shape and not np.array_equal(truncated, untruncated)


def test_sample_mode_takes_an_older_checkpoint_and_names_the_saved_ones(trained_run, tmp_path):
    model_dir, _ = trained_run
    result = run_cli("--mode=sample", f"--model_dir={model_dir}", "--checkpoint=3", f"--output_dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.listdir(tmp_path) == ["sample_step_0000003_g.png"]
    result = run_cli("--mode=sample", f"--model_dir={model_dir}", "--checkpoint=4", f"--output_dir={tmp_path / 'x'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: no checkpoint '4' in ")
    assert result.stderr.strip().endswith(f"one of the steps saved there (3, {STEPS})")
    assert not (tmp_path / "x").exists()


def test_different_architecture_is_refused_and_nothing_is_overwritten(trained_run):
    model_dir, _ = trained_run
    before = {}
    for folder, _, files in os.walk(model_dir):
        for name in files:
            path = os.path.join(folder, name)
            before[path] = os.path.getmtime(path)
    result = run_cli(f"--model_dir={model_dir}", f"--steps={STEPS + 2}",
                     *bindings("sndcgan_discriminator.ch = 16"))
    assert result.returncode != 0
    message = result.stderr.strip().splitlines()[-1]
    assert message.startswith("error: checkpoint") and "different model" in message
    assert "Traceback" not in result.stderr
    after = {os.path.join(f, n): os.path.getmtime(os.path.join(f, n))
             for f, _, files in os.walk(model_dir) for n in files}
    assert after == before


@pytest.mark.parametrize("args, expected", [
    (["--gin_bindings=train.no_such_parameter = 1"], "doesn't have a parameter named 'no_such_parameter'"),
    (["--gin_bindings=no_such_function.x = 1"], "No configurable matching 'no_such_function'"),
    (["--gin_config=does_not_exist.gin"], "gin config file not found: does_not_exist.gin"),
    (["--gin_bindings=fashion_mnist.data_dir = '/nonexistent'"], "apt-get install dataset-fashion-mnist"),
])
def test_bad_input_exits_with_one_clear_line(tmp_path, args, expected):
    result = run_cli(f"--model_dir={tmp_path / 'run'}", "--steps=1", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and expected in last


def test_sample_mode_without_a_run_says_what_to_do(tmp_path):
    result = run_cli("--mode=sample", f"--model_dir={tmp_path}")
    assert result.returncode == 2
    assert "train one first" in result.stderr.strip().splitlines()[-1]


def test_start_up_is_quiet_and_says_when_it_compiles(trained_run):
    _, result = trained_run
    for noise in ("absl::InitializeLog", "oneDNN custom operations", "Could not find cuda drivers"):
        assert noise not in result.stderr, noise
    assert "compiling the training step" in result.stdout


@pytest.mark.parametrize("module, flag_names, mode_line", [
    ("tfgan_icr.main", ["gin_config", "gin_bindings", "model_dir", "mode", "steps", "num_samples",
                        "export_dir", "strategy", "tpu", "checkpoint"],
     "--mode=train|sample|eval|export"),
    ("tfgan_icr.bench", ["gin_config", "gin_bindings", "mode", "iterations", "warmup", "flops",
                         "conv_rate", "own_shapes", "breakdown", "profile", "profile_steps", "data_dir",
                         "image_size", "batch_size", "steps", "make_synthetic"], "--mode=train|pipeline"),
])
@pytest.mark.parametrize("help_arg", ["--help", "-h"])
def test_help_lists_the_projects_flags_modes_and_examples(module, flag_names, mode_line, help_arg):
    result = run_cli(help_arg, module=module, timeout=60)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert mode_line in text and "modes:" in text and "examples:" in text
    assert "Try --helpfull" not in text
    flag_lines = [line for line in text.splitlines() if line.startswith("  --")]
    assert [line.split()[0] for line in flag_lines] == [f"--{n}" for n in flag_names] + ["--helpfull"]
    assert all(len(line.split()) > 1 for line in flag_lines)  # each with its one line of help
    assert "tensorflow" not in result.stderr.lower()


def test_console_script_entry_point_help(monkeypatch, capsys):
    from tfgan_icr import main
    monkeypatch.setattr("sys.argv", ["tfgan_icr", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        main.entry_point()
    assert exit_info.value.code == 0
    assert "--mode=train|sample|eval" in capsys.readouterr().out
