"""The training bench's utilisation outputs through its command line (its own process: absl
flags of tfgan_icr.main and tfgan_icr.bench cannot share one): the FLOP count and GFLOP/s,
the measured conv rate, the own-shape rates and the TensorBoard profile; the refusals of
--breakdown and --own_shapes (both are checked in process, in test_flops.py)."""

import json
import os

import pytest

from helpers import run_cli

TINY = ["train.batch_size = 4", "sndcgan_generator.ch = 8", "sndcgan_discriminator.ch = 8",
        "sndcgan_generator.z_dim = 16", "conv_rate.batch_size = 2", "conv_rate.channels = 16",
        "conv_rate.min_seconds = 0.1"]


def test_bench_reports_flops_conv_rate_and_writes_a_profile(tmp_path):
    profile = tmp_path / "profile"
    result = run_cli("--gin_config=quickstart", "--iterations=1", "--warmup=1", "--conv_rate",
                     "--own_shapes", f"--profile={profile}", "--profile_steps=1",
                     *[f"--gin_bindings={b}" for b in TINY], module="tfgan_icr.bench")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    record = json.loads(lines[-1])
    assert any(line.startswith("FLOP per iteration") and "multiply-add = 2 FLOP" in line for line in lines)

    flop = record["flop_per_iteration"]
    assert 0 < record["conv_matmul_flop_per_iteration"] <= flop
    assert record["gflop_per_second"] == flop / record["seconds_per_iteration"] / 1e9
    assert record["flop_by_op"]["Conv2D"] > 0 and record["flop_unknown_shape_ops"] == []

    rate = record["conv_rate"]
    assert rate["dtype"] == "float32" and rate["shape"].startswith("2x16x16x16 -> 16")
    assert rate["gflop_per_second"] > 0
    assert record["utilisation_of_conv_rate"] == record["gflop_per_second"] / rate["gflop_per_second"]

    own = record["own_shape_rates"]
    assert own["flop"] == record["conv_matmul_flop_per_iteration"] and own["seconds"] > 0
    assert record["utilisation_of_own_shapes"] == own["seconds"] / record["seconds_per_iteration"]
    assert any(line.startswith(f"own shapes: the step's {own['signatures']} kinds of conv / matmul")
               for line in lines)

    written = record["profile"]["files"]
    assert any(f.startswith("plugins/profile/") and f.endswith(".xplane.pb") for f in written)
    assert all(os.path.getsize(profile / f) > 0 for f in written)


@pytest.mark.parametrize("args, message", [
    (["--breakdown", "--gin_bindings=build_gan.accumulation_steps = 2"], "error: --breakdown times the parts"),
    (["--profile=/proc/no_such_dir/profile"], "error: --profile=/proc/no_such_dir/profile: cannot create"),
    (["--own_shapes", "--gin_bindings=make_strategy.kind = 'mirrored'", "--gin_bindings=make_strategy.logical_cpus = 2"],
     "error: --own_shapes times the ops of a single-device step"),
])
def test_bad_utilisation_options_are_refused_in_one_line_before_timing(args, message):
    result = run_cli("--gin_config=quickstart", "--iterations=1", "--warmup=1", "--noflops",
                     *[f"--gin_bindings={b}" for b in TINY], *args, module="tfgan_icr.bench")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith(message)
    assert "s/iteration" not in result.stdout
