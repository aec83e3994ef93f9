"""Run directories under attack and damage (issue 10): a tampered config cannot run commands,
non-finite weights are never saved, the config in force is what runs, SIGTERM saves, one
writer per model_dir, lost or damaged checkpoints are recovered, and mistakes end in one line.

Most cases run the training job in-process on the SMALL bindings (a few iterations each);
the signal, concurrency and tampering cases spawn the real command line.
"""

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import gin
import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import ROOT, SMALL, bindings, run_cli
from tfgan_icr import config
from tfgan_icr.errors import CheckpointError, ConfigError, DataError, RunDirError, TrainingDiverged
from tfgan_icr.jobs.sample import sample as sample_job
from tfgan_icr.jobs.train import train as train_job
from tfgan_icr.training import run_dir

RUN = ["train.log_every = 100", "train.sample_every = 100", "train.checkpoint_every = 2"]


def train(model_dir, steps, *extra, stream=None):
    config.parse(["quickstart"], [*SMALL, *RUN, f"train.steps = {steps}", *extra])
    return train_job(str(model_dir), stream=stream)


def sample(model_dir, **kwargs):
    config.parse(["quickstart"], [*SMALL])
    return sample_job(str(model_dir), **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained to step 4 with ckpt-2 and ckpt-4 (copied by each test that changes it)."""
    model_dir = tmp_path_factory.mktemp("trained") / "run"
    train(model_dir, 4)
    gin.clear_config()
    return model_dir


@pytest.fixture
def run(trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained, copy)
    return copy


def ckpt_dir(model_dir):
    return os.path.join(model_dir, "checkpoints")


def file_hashes(folder, prefix=""):
    return {name: hashlib.sha256(open(os.path.join(folder, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(folder))
            if name.startswith(prefix) and os.path.isfile(os.path.join(folder, name))}


def all_finite(prefix):
    reader = tf.train.load_checkpoint(prefix)
    for name, _ in tf.train.list_variables(prefix):
        value = reader.get_tensor(name)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            return False
    return True


def one_line_error(result):
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    return last


# -- 1. a run directory is untrusted input ------------------------------------------------

def _payload(marker, via="os"):
    """Gin text that makes the sample job's seed the result of a shell command."""
    head = "from __gin__ import dynamic_registration\nimport tfgan_icr.jobs.sample\n"
    if via == "os":
        return (head + "import os\ntfgan_icr.jobs.sample.sample.seed = @os.system()\n"
                f"os.system.command = 'touch {marker}'\n")
    return (head + "import subprocess\ntfgan_icr.jobs.sample.sample.seed = @subprocess.check_output()\n"
            f"subprocess.check_output.args = 'touch {marker}'\nsubprocess.check_output.shell = True\n")


def test_the_payload_is_live_when_trusted(tmp_path):
    """Control: parsed as a trusted config (what sample/eval used to do with the run's
    config.gin), the payload runs a shell command as soon as the binding is evaluated."""
    marker = tmp_path / "pwned"
    config.register_configurables()
    gin.parse_config(_payload(marker))
    assert gin.get_bindings("sample")["seed"] == 0   # os.system's exit status: it ran
    assert marker.exists()


def test_tampered_run_dir_cannot_run_commands_via_the_command_line(run, tmp_path):
    marker = tmp_path / "pwned"
    with open(run / "config.gin", "a") as f:
        f.write(_payload(marker))
    result = run_cli("--mode=sample", f"--model_dir={run}")
    last = one_line_error(result)
    assert "refusing" in last and "import" in last and "--gin_config" in last
    assert not marker.exists()
    assert not os.path.exists(run / "samples" / "sample_step_0000004_g.png")


@pytest.mark.parametrize("text, expected", [
    ("import subprocess\n", "`import subprocess`"),
    ("from __gin__ import dynamic_registration\n", "`from __gin__ import dynamic_registration`"),
    ("include '/etc/other.gin'\n", "include"),
    ("sample.seed = @os.system()\n", "`os.system` is not a configurable of tfgan_icr"),
    ("subprocess.call.shell = True\n", "`subprocess.call` is not a configurable of tfgan_icr"),
    ("sample.seed = @d/os.system\n", "`d/os.system` is not a configurable of tfgan_icr"),
])
def test_saved_configs_are_parsed_in_restricted_mode(tmp_path, text, expected):
    """Each file a fallback may read (config.gin, operative_config.gin) is refused, naming the
    line, before gin imports or calls anything; a payload of either kind never runs."""
    for name in ("config.gin", "operative_config.gin"):
        path = tmp_path / name
        marker = tmp_path / "pwned"
        path.write_text("sample.per_class = 2\n" + text + _payload(marker, via="subprocess"))
        with pytest.raises(ConfigError) as info:
            config.parse([str(path)], [], trusted=False)
        message = str(info.value)
        assert message.startswith(f"refusing {path} line 2: ") and expected in message
        assert "\n" not in message
        assert not marker.exists()


def test_a_clean_saved_config_still_parses_in_restricted_mode(trained):
    for name in ("config.gin", "operative_config.gin"):
        config.parse([str(trained / name)], ["sample.per_class = 2"], trusted=False)
        assert gin.query_parameter("sndcgan_generator.ch") == 8


# -- 2. non-finite weights are never saved ------------------------------------------------

class _InfAfter(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, step, rate):
        self.step, self.rate = step, rate

    def __call__(self, step):
        return tf.where(step >= self.step, tf.constant(np.inf, tf.float32), self.rate)

    def get_config(self):
        return {"step": self.step, "rate": self.rate}


@gin.configurable
def lr_becomes_infinite(after=2, rate=2e-4):
    return _InfAfter(after, rate)


def test_nonfinite_weights_are_never_saved_and_the_named_checkpoint_is_good(tmp_path):
    """G's rate becomes inf at its third update: the losses logged at step 3 are still finite
    (they come from before the update), but step 3's weights are not. The save of step 3 is
    refused and the run stops naming ckpt-2, which is finite."""
    with pytest.raises(TrainingDiverged, match=r"weights became NaN/inf at step 3 .*the last good "
                                               r"checkpoint is .*ckpt-2:"):
        train(tmp_path, 10, "train.checkpoint_every = 1",
              "g/keras.optimizers.Adam.learning_rate = @lr_becomes_infinite()")
    assert tf.train.latest_checkpoint(ckpt_dir(tmp_path)).endswith("ckpt-2")
    assert not os.path.exists(os.path.join(ckpt_dir(tmp_path), "ckpt-3.index"))
    for name in os.listdir(ckpt_dir(tmp_path)):
        if name.endswith(".index"):
            assert all_finite(os.path.join(ckpt_dir(tmp_path), name[:-len(".index")])), name


# -- 3. the config in force is what runs --------------------------------------------------

def test_resume_applies_the_configured_learning_rate_and_says_so(run, capsys):
    train(run, 6, "g/keras.optimizers.Adam.learning_rate = 1e-4")
    out = capsys.readouterr().out
    assert "g_optimizer learning rate changed from 0.0002 (checkpoint) to 0.0001 (config)" in out
    assert "d_optimizer learning rate changed" not in out
    prefix = tf.train.latest_checkpoint(ckpt_dir(run))
    assert prefix.endswith("ckpt-6")
    reader = tf.train.load_checkpoint(prefix)
    rates = {name: float(reader.get_tensor(name)) for name, _ in tf.train.list_variables(prefix)
             if "optimizer" in name and "learning_rate" in name}
    assert sorted(rates.values()) == pytest.approx([1e-4, 2e-4])   # G: the new rate ran; D: unchanged
    assert "g/Adam.learning_rate = 0.0001" in (run / "operative_config.gin").read_text()


# -- 4 + 5. SIGTERM saves; one writer per model_dir ---------------------------------------

def test_sigterm_saves_and_a_second_writer_is_refused(tmp_path):
    """Two real processes on one model_dir: the second is refused with one line naming the
    first's pid, while the first trains; then a real SIGTERM makes the first save at the
    next iteration boundary and exit 143, releasing the lock."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    args = [sys.executable, "-m", "tfgan_icr.main", f"--model_dir={tmp_path}", "--steps=100000",
            *bindings("train.checkpoint_every = 100000", "train.log_every = 1", "train.sample_every = 100000")]
    first = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
    try:
        for line in first.stdout:          # training is under way
            if line.startswith("step 2/"):
                break
        second = run_cli(f"--model_dir={tmp_path}", "--steps=5", *bindings())
        last = one_line_error(second)
        assert "in use by another training" in last and f"pid {first.pid} " in last
        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 143
    assert "SIGTERM: stopping after this iteration and saving" in out
    step = int(out.split("interrupted at step ")[1].split(";")[0])
    assert step >= 2
    assert tf.train.latest_checkpoint(ckpt_dir(tmp_path)).endswith(f"ckpt-{step}")
    assert not os.path.exists(tmp_path / run_dir.LOCK_FILE)
    records = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
    assert len({r["step"] for r in records}) == len(records)   # one writer's log only


def test_a_stale_lock_is_taken_over(tmp_path, capsys):
    """A lock file left by a process that is gone (here: a real process that has exited) is
    recognised as stale: its flock died with it."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / run_dir.LOCK_FILE).write_text(json.dumps({"pid": dead.pid, "host": "h", "started": "t"}))
    with run_dir.RunLock(str(tmp_path)):
        owner = json.loads((tmp_path / run_dir.LOCK_FILE).read_text())
        assert owner["pid"] == os.getpid()
        with pytest.raises(RunDirError, match=f"in use by another training .*pid {os.getpid()} "):
            run_dir.RunLock(str(tmp_path)).acquire()   # a second open file description: refused
    assert f"taking over a stale lock" in capsys.readouterr().out
    assert not (tmp_path / run_dir.LOCK_FILE).exists()


# -- 6 + 7. lost and damaged checkpoints --------------------------------------------------

def test_missing_state_file_recovers_the_newest_checkpoint_and_overwrites_nothing(run, capsys):
    os.remove(os.path.join(ckpt_dir(run), "checkpoint"))
    before = file_hashes(ckpt_dir(run), "ckpt-")
    assert sample(run)["step"] == 4                       # a reader recovers without writing
    assert "checkpoint is missing" in capsys.readouterr().err
    assert not os.path.exists(os.path.join(ckpt_dir(run), "checkpoint"))
    train(run, 6)
    captured = capsys.readouterr()
    assert "checkpoint is missing" in captured.err
    assert f"resuming from {os.path.join(ckpt_dir(run), 'ckpt-4')} at step 4" in captured.out
    after = file_hashes(ckpt_dir(run), "ckpt-")
    assert {k: v for k, v in after.items() if k in before} == before   # ckpt-2, ckpt-4 untouched
    assert os.path.exists(os.path.join(ckpt_dir(run), "ckpt-6.index"))
    state = tf.train.get_checkpoint_state(ckpt_dir(run))
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["ckpt-2", "ckpt-4", "ckpt-6"]


def _truncate_data(model_dir):
    path = os.path.join(ckpt_dir(model_dir), "ckpt-4.data-00000-of-00001")
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def _corrupt_index(model_dir):
    path = os.path.join(ckpt_dir(model_dir), "ckpt-4.index")
    data = bytearray(open(path, "rb").read())
    data[: len(data) // 2] = os.urandom(len(data) // 2)
    open(path, "wb").write(bytes(data))


@pytest.mark.parametrize("damage", [_truncate_data, _corrupt_index], ids=["truncated_data", "corrupt_index"])
def test_sample_falls_back_past_a_damaged_newest_checkpoint(run, damage, capsys):
    damage(run)
    before = file_hashes(ckpt_dir(run))
    result = sample(run)
    assert result["step"] == 2
    err = capsys.readouterr().err
    assert "ckpt-4" in err and "warning:" in err and "using" in err and "ckpt-2" in err
    assert file_hashes(ckpt_dir(run)) == before                  # a reader changes nothing


def test_training_resumes_from_the_newest_good_checkpoint_and_keeps_the_damaged_one(run, capsys):
    _truncate_data(run)
    damaged = file_hashes(ckpt_dir(run), "ckpt-4")
    train(run, 6)
    captured = capsys.readouterr()
    assert "ckpt-4" in captured.err and "trying an older checkpoint" in captured.err
    assert "resuming from" in captured.out and "ckpt-2 at step 2" in captured.out
    assert file_hashes(os.path.join(ckpt_dir(run), "damaged")) == damaged   # kept, moved aside
    assert tf.train.latest_checkpoint(ckpt_dir(run)).endswith("ckpt-6")
    assert all_finite(os.path.join(ckpt_dir(run), "ckpt-4"))   # step 4 again, written afresh


# -- 8. one line, never a traceback ------------------------------------------------------

@pytest.mark.parametrize("binding, expected", [
    ('train.batch_size = "abc"', "train.batch_size must be an integer >= 1, got 'abc'"),
    ('train.steps = "abc"', "train.steps must be an integer >= 1, got 'abc'"),
    ("train.steps = -3", "train.steps must be an integer >= 1, got -3"),
    ("train.checkpoint_every = 0", "train.checkpoint_every must be an integer >= 1, got 0"),
])
def test_bad_integer_settings_are_one_line_errors(tmp_path, binding, expected):
    config.parse(["quickstart"], [*SMALL, binding])
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        train_job(str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_negative_steps_on_the_command_line_exit_2(tmp_path):
    last = one_line_error(run_cli(f"--model_dir={tmp_path / 'run'}", "--steps=-3", *bindings()))
    assert "train.steps must be an integer >= 1, got -3 (from --steps)" in last


def test_model_dir_that_is_a_file_or_under_a_file(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    for model_dir in (path, path / "run"):
        config.parse(["quickstart"], [*SMALL, "train.steps = 2"])
        with pytest.raises(RunDirError, match=r"--model_dir .* is not a folder"):
            train_job(str(model_dir))
    assert path.read_text() == "x"


def test_read_only_model_dir(tmp_path, monkeypatch):
    """SIMULATED: tests run as root, which ignores permission bits, and mounting a read-only
    file system needs privileges; so os.open/os.makedirs under the model_dir raise what a
    read-only mount raises (EROFS)."""
    model_dir = str(tmp_path / "ro")
    real_open, real_makedirs = os.open, os.makedirs

    def read_only(real):
        def call(path, *args, **kwargs):
            if str(path).startswith(model_dir):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
            return real(path, *args, **kwargs)
        return call

    monkeypatch.setattr(os, "open", read_only(real_open))
    monkeypatch.setattr(os, "makedirs", read_only(real_makedirs))
    config.parse(["quickstart"], [*SMALL, "train.steps = 2"])
    with pytest.raises(RunDirError, match=r"cannot write to --model_dir .*Read-only file system.*writable"):
        train_job(model_dir)


def test_disk_full_during_a_save_leaves_the_earlier_checkpoints(run, monkeypatch):
    """SIMULATED: the save of ckpt-6 fails as TensorFlow's does when the disk is full, after
    creating its temporary folder (`ckpt-6_temp/`), as a real failed write leaves it."""
    real_save = tf.train.CheckpointManager.save

    def full_disk(self, checkpoint_number=None, **kwargs):
        if int(checkpoint_number) == 6:
            temp = os.path.join(self.directory, "ckpt-6_temp")
            os.makedirs(temp)
            open(os.path.join(temp, "part-00000-of-00001.data-00000-of-00001"), "wb").write(b"\0" * 100)
            raise tf.errors.ResourceExhaustedError(None, None, "No space left on device")
        return real_save(self, checkpoint_number=checkpoint_number, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk)
    before = file_hashes(ckpt_dir(run))
    with pytest.raises(CheckpointError, match=r"could not save checkpoint .*ckpt-6: No space left on device; "
                                              r"the last saved checkpoint \(.*ckpt-4\) is intact"):
        train(run, 6)
    assert file_hashes(ckpt_dir(run)) == before
    assert not any("_temp" in name for name in os.listdir(ckpt_dir(run)))
    assert not (run / run_dir.LOCK_FILE).exists()


def test_corrupt_image_is_named_even_with_verify_none(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        image = rng.integers(0, 255, (32, 32, 1), dtype=np.uint8)
        tf.io.write_file(str(folder / f"{i}.png"), tf.io.encode_png(image))
    (folder / "5.png").write_bytes(b"not a png at all" * 10)
    with pytest.raises(DataError, match=r"corrupt image file .*5\.png: TensorFlow cannot decode it"):
        train(tmp_path / "run", 4, "train.source = @image_folder()", f"image_folder.path = '{folder}'",
              "image_folder.verify = 'none'", "train.batch_size = 4")


def test_sample_into_output_dir_when_the_run_cannot_be_written(run, tmp_path):
    """A run whose samples/ cannot be created (here a file is in its place: a real error that
    also stops root) says to pass --output_dir; with it, nothing in model_dir changes."""
    shutil.rmtree(run / "samples")
    (run / "samples").write_text("in the way")
    with pytest.raises(RunDirError, match=r"cannot write the samples .*--output_dir"):
        sample(run)
    before = {p: os.path.getmtime(p) for p in map(str, run.rglob("*"))}
    out = tmp_path / "out"
    result = run_cli("--mode=sample", f"--model_dir={run}", f"--output_dir={out}", "--num_samples=2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert os.path.exists(out / "sample_step_0000004_g.png")
    assert len(os.listdir(out / "individual_step_0000004_g")) == 2
    assert {p: os.path.getmtime(p) for p in map(str, run.rglob("*"))} == before


# -- 9. config history -------------------------------------------------------------------

def test_resume_with_another_batch_size_keeps_the_history_and_says_what_changed(run, capsys):
    train(run, 6, "train.batch_size = 8")
    out = capsys.readouterr().out
    assert "config changed since the start at step 0" in out
    assert "model_spec batch_size: 16 -> 8" in out and "train.batch_size: 16 -> 8" in out
    records = run_dir.history(str(run))
    assert [r["step"] for r in records] == [0, 4]
    assert [r["model_spec"]["batch_size"] for r in records] == [16, 8]
    assert "train.batch_size = 16" in records[0]["operative_config"]
    assert "train.batch_size = 8" in records[1]["operative_config"]
    assert json.loads((run / "model_spec.json").read_text())["batch_size"] == 8
