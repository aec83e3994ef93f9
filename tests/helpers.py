"""Shared settings for tests that run the real training job on a small Fashion-MNIST slice."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The quickstart config shrunk to test size: a 256-image slice, tiny networks, batch 16.
SMALL = [
    "fashion_mnist.limit = 256",
    "sndcgan_generator.z_dim = 16",
    "sndcgan_generator.ch = 8",
    "sndcgan_discriminator.ch = 8",
    "train.batch_size = 16",
]


def run_cli(*args, module="tfgan_icr.main", timeout=300):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def bindings(*extra):
    return [f"--gin_bindings={b}" for b in (*SMALL, *extra)]
