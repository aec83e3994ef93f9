"""Distribution flags: --strategy/--tpu reach make_strategy; the TPU path without a TPU
fails at once with one line saying how to connect one."""

from helpers import bindings, run_cli


def test_strategy_tpu_without_a_tpu_fails_at_once_with_how_to_connect(tmp_path):
    result = run_cli(f"--model_dir={tmp_path / 'run'}", "--steps=1", "--strategy=tpu",
                     "--tpu=no-such-tpu-node", *bindings())
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no TPU found") and "--tpu=local" in last, result.stderr[-2000:]
    assert not (tmp_path / "run" / "checkpoints").exists()
