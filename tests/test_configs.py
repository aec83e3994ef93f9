"""Every shipped config parses, builds its networks and runs a training iteration (on
synthetic data of the configured shape, through the benchmark entry point)."""

import json
import os

import pytest

from helpers import ROOT, run_cli

# Configs of the larger models are parsed, built and stepped in-process by their own tests
# (test_biggan.py, test_contrastive.py, test_method_configs.py, test_pggan.py): one bench
# subprocess each costs 50-220 s and up to 6 GB here (BigGAN ImageNet 128 at batch 2).
BUILT_IN_PROCESS = ("biggan_", "contragan_", "acgan_", "pggan_", "cr_biggan", "icr_biggan")
CONFIGS = sorted(f for f in os.listdir(os.path.join(ROOT, "gin_configs"))
                 if f.endswith(".gin") and not f.startswith(BUILT_IN_PROCESS))

def test_configs_are_shipped():
    assert "quickstart.gin" in CONFIGS and len(CONFIGS) >= 3


@pytest.mark.parametrize("name", CONFIGS)
def test_config_builds_and_runs_one_iteration(name):
    result = run_cli(f"--gin_config={name}", "--iterations=1", "--warmup=1",
                     "--gin_bindings=train.batch_size = 4", module="tfgan_icr.bench")
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["iterations"] == 1 and record["batch_size"] == 4
    assert record["seconds_per_iteration"] > 0 and record["peak_rss_mb"] > 0
    assert record["generator_params"] > 0 and record["discriminator_params"] > 0
    # The FLOP count covers the config's whole step: every op with a FLOP statistic had shapes.
    assert 0 < record["conv_matmul_flop_per_iteration"] <= record["flop_per_iteration"]
    assert record["flop_unknown_shape_ops"] == []


def test_pipeline_benchmark_reads_the_real_data():
    result = run_cli("--mode=pipeline", "--iterations=20", "--warmup=2",
                     "--gin_bindings=fashion_mnist.limit = 2048", module="tfgan_icr.bench")
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["mode"] == "pipeline" and record["images_per_second"] > 0
    assert record["source"].startswith("fashion_mnist")
