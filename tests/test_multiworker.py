"""Distribution across processes: --strategy/--tpu reach make_strategy; the TPU path without a
TPU fails at once with one line saying how to connect one; two real worker processes on
127.0.0.1 (TF_CONFIG, MultiWorkerMirroredStrategy) train the SMALL config, agree on the
weights, write one set of outputs (the chief's) and none of the worker's; a SIGTERM to the
worker that is not the chief stops both at one step with one checkpoint, and restarting both
resumes from it to the very weights of an uninterrupted run; each worker reads only its share
of every global batch."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from helpers import ROOT, bindings, run_cli
from tfgan_icr import data
from tfgan_icr.jobs.train import _phase_dataset
from tfgan_icr.training.checkpoint import checkpoint_weights_digest

STEPS = 30  # the reference run's length; the preempted run must stop before it
RUN = ["train.log_every = 1", "train.sample_every = 15", "train.checkpoint_every = 15"]
TIMEOUT = 240


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Cluster:
    """Two `python -m tfgan_icr.main --strategy=multi_worker` processes on localhost, each in
    its own process group, its output in a file and its $TMPDIR (the scratch space of a worker
    that is not the chief) in a folder of the test."""

    def __init__(self, root, model_dir, *args):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
        self.logs = [root / f"worker{i}.log" for i in range(2)]
        self.tmpdirs = [root / f"tmp{i}" for i in range(2)]
        self.processes = []
        for i in range(2):
            self.tmpdirs[i].mkdir(exist_ok=True)
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT, TMPDIR=str(self.tmpdirs[i]),
                       TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
            with open(self.logs[i], "w") as log:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-u", "-m", "tfgan_icr.main", f"--model_dir={model_dir}",
                     "--strategy=multi_worker", *args],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def output(self, i):
        return self.logs[i].read_text()

    def wait_for(self, i, pattern, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.output(i), re.M):
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                raise AssertionError(f"worker {i} never printed {pattern!r}:\n{self.output(i)[-3000:]}")
            time.sleep(0.2)

    def wait(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        for p in self.processes:
            p.wait(timeout=max(1, deadline - time.monotonic()))
        return [p.returncode for p in self.processes]

    def kill(self):
        for p in self.processes:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


@pytest.fixture
def clusters():
    started = []

    def start(*args, **kwargs):
        started.append(Cluster(*args, **kwargs))
        return started[-1]

    yield start
    for cluster in started:  # also after a failure: no worker outlives its test
        cluster.kill()


def train_args(steps, *extra):
    return [f"--steps={steps}", *bindings(*RUN, *extra)]


def done(output):
    """(step, weights digest) of a worker's `done:` line."""
    match = re.search(r"^done: step (\d+) .*; weights ([0-9a-f]{16})$", output, re.M)
    assert match, output[-3000:]
    return int(match.group(1)), match.group(2)


def metric_steps(model_dir):
    return [json.loads(line)["step"] for line in open(model_dir / "metrics.jsonl")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted two-worker run to STEPS."""
    root = tmp_path_factory.mktemp("reference")
    cluster = Cluster(root, root / "run", *train_args(STEPS))
    try:
        codes = cluster.wait()
    finally:
        cluster.kill()
    return cluster, root / "run", codes


def test_strategy_tpu_without_a_tpu_fails_at_once_with_how_to_connect(tmp_path):
    result = run_cli(f"--model_dir={tmp_path / 'run'}", "--steps=1", "--strategy=tpu",
                     "--tpu=no-such-tpu-node", *bindings())
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no TPU found") and "--tpu=local" in last, result.stderr[-2000:]
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_two_workers_agree_and_only_the_chief_writes(reference):
    cluster, model_dir, codes = reference
    assert codes == [0, 0], (cluster.output(0)[-3000:], cluster.output(1)[-3000:])
    chief, worker = cluster.output(0), cluster.output(1)
    assert "2 replica(s); worker 0 of 2 workers, the chief" in chief
    assert "worker 1 of 2 workers: the chief writes to" in worker
    # Same weights on both workers, and they are what the chief's checkpoint holds.
    (step0, digest0), (step1, digest1) = done(chief), done(worker)
    assert step0 == step1 == STEPS and digest0 == digest1
    assert checkpoint_weights_digest(str(model_dir / "checkpoints" / f"ckpt-{STEPS}")) == digest0
    # One set of outputs: the chief's; nothing of the worker's, whose scratch folder is gone.
    assert sorted(os.listdir(model_dir)) == ["checkpoints", "config.gin", "config_history", "metrics.jsonl",
                                             "model_spec.json", "operative_config.gin", "samples", "tensorboard"]
    assert metric_steps(model_dir) == list(range(1, STEPS + 1))
    assert len(os.listdir(model_dir / "tensorboard")) == 1
    assert len(os.listdir(model_dir / "config_history")) == 1
    assert sorted(os.listdir(model_dir / "samples")) == ["step_0000015.png", "step_0000030.png"]
    assert sorted(n for n in os.listdir(model_dir / "checkpoints") if n.endswith(".index")) == \
        ["ckpt-15.index", "ckpt-30.index"]
    assert os.listdir(cluster.tmpdirs[1]) == []


def test_sigterm_to_the_worker_stops_both_at_one_step_and_both_resume_exactly(reference, tmp_path, clusters):
    """A real SIGTERM to worker 1 (not the chief) mid-run: both save one checkpoint of the
    same step K and exit 143; both started again resume from the chief's ckpt-K and end with
    the weights of the uninterrupted run, bit for bit."""
    _, reference_dir, reference_codes = reference
    assert reference_codes == [0, 0]
    model_dir = tmp_path / "run"
    # train.steps is large so that the stop can only come from the signal.
    first = clusters(tmp_path / "first", model_dir, *train_args(100000, "train.checkpoint_every = 100000"))
    first.wait_for(0, r"^step 2/")
    first.processes[1].send_signal(signal.SIGTERM)
    assert first.wait() == [143, 143], (first.output(0)[-3000:], first.output(1)[-3000:])
    assert "SIGTERM: telling the other workers" in first.output(1)
    stops = [re.search(r"^interrupted at step (\d+) with every worker .*; weights ([0-9a-f]{16})\.", first.output(i),
                       re.M) for i in range(2)]
    assert all(stops), (first.output(0)[-3000:], first.output(1)[-3000:])
    step = int(stops[0].group(1))
    assert stops[1].groups() == stops[0].groups() and 2 <= step < STEPS
    checkpoints = sorted(n for n in os.listdir(model_dir / "checkpoints") if n.endswith(".index"))
    assert checkpoints == [f"ckpt-{step}.index"]
    assert checkpoint_weights_digest(str(model_dir / "checkpoints" / f"ckpt-{step}")) == stops[0].group(2)
    assert os.listdir(first.tmpdirs[1]) == []

    second = clusters(tmp_path / "second", model_dir, *train_args(STEPS))
    assert second.wait() == [0, 0], (second.output(0)[-3000:], second.output(1)[-3000:])
    for i in range(2):
        assert f"resuming from {model_dir / 'checkpoints' / f'ckpt-{step}'} at step {step}" in second.output(i)
    (_, digest0), (_, digest1) = done(second.output(0)), done(second.output(1))
    assert digest0 == digest1 == done(reference[0].output(0))[1]
    assert metric_steps(model_dir) == list(range(1, STEPS + 1))   # one writer, no step twice


class FakeStrategy:
    """Records what the train job asks of a strategy with 2 input pipelines and 2 replicas."""
    num_replicas_in_sync = 2

    def distribute_datasets_from_function(self, dataset_fn):
        return [dataset_fn(tf.distribute.InputContext(2, i, num_replicas_in_sync=2)) for i in range(2)]


def test_each_worker_reads_its_own_half_of_every_global_batch_from_the_resume_point():
    images = np.arange(40, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 1), np.uint8)
    source = data.numpy_arrays(images, np.zeros(40, np.int64), num_classes=1)

    def ids(batch):  # the example index each image holds (the centre pixel: the job's images are padded)
        x = batch[0].numpy()
        return [int(v) for v in np.round((x[:, x.shape[1] // 2, x.shape[2] // 2, 0] + 1) * 127.5)]

    global_batch, start_step = 8, 3
    whole = [ids(b) for b in data.make_dataset(source, global_batch, image_size=2, seed=7).take(6)]
    per_worker = [[ids(b) for b in ds.take(6 - start_step)]
                  for ds in _phase_dataset(FakeStrategy(), source, global_batch, 7, start_step * global_batch)]
    for k, (mine, theirs) in enumerate(zip(*per_worker)):
        assert len(mine) == len(theirs) == global_batch // 2
        assert not set(mine) & set(theirs)
        assert sorted(mine + theirs) == sorted(whole[start_step + k])
