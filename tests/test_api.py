"""tfgan_icr.api, the command line's modes as Python functions (the notebooks' entry points)."""

import os

import gin
import pytest
import tensorflow as tf

from helpers import SMALL
from tfgan_icr import api, config
from tfgan_icr.errors import ConfigError


@pytest.mark.parametrize("call", [
    lambda: api.train("gs://bucket/run"),
    lambda: api.sample("runs/x", output_dir="gs://bucket/samples"),
    lambda: api.export("runs/x", "gs://bucket/exports"),
])
def test_a_url_is_refused_in_one_line_before_anything_is_written(call, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"is a URL: tfgan_icr writes to local paths only; mount") as raised:
        call()
    assert "\n" not in str(raised.value)
    assert os.listdir(tmp_path) == []  # no local folder named 'gs:'


def test_config_files_follow_the_command_line(tmp_path):
    assert api.config_files("train", str(tmp_path)) == [config.DEFAULT_CONFIG]
    assert api.config_files("eval", str(tmp_path)) == [config.DEFAULT_CONFIG]  # no run files yet
    (tmp_path / "operative_config.gin").write_text("")
    assert api.config_files("sample", str(tmp_path)) == [str(tmp_path / "operative_config.gin")]
    (tmp_path / "config.gin").write_text("")
    assert api.config_files("eval", str(tmp_path)) == [str(tmp_path / "config.gin")]
    assert api.config_files("train", str(tmp_path)) == [config.DEFAULT_CONFIG]  # training never reads a run's
    assert api.config_files("eval", str(tmp_path), "resnet_cifar10") == ["resnet_cifar10"]
    assert api.default_model_dir(["gin_configs/icr/resnet_cifar10_icr.gin"]) == os.path.join("runs", "resnet_cifar10_icr")


def test_configure_adds_the_command_lines_bindings(tmp_path):
    model_dir = api.configure("train", None, "quickstart", "train.batch_size = 8", steps=7, strategy="mirrored",
                              tpu="local")
    assert model_dir == os.path.join("runs", "quickstart")
    assert gin.query_parameter("train.batch_size") == 8 and gin.query_parameter("train.steps") == 7
    assert gin.query_parameter("make_strategy.kind") == "mirrored"
    assert gin.query_parameter("make_strategy.tpu") == "local"


def test_a_run_directorys_config_is_parsed_in_restricted_mode(tmp_path):
    (tmp_path / "config.gin").write_text("import os\ntrain.steps = 3\n")
    with pytest.raises(ConfigError, match="refusing .*config.gin line 1"):
        api.configure("sample", str(tmp_path))
    api.configure("sample", str(tmp_path), gin_config=str(tmp_path / "config.gin"))  # chosen: trusted


def test_strategy_of_the_wrong_type_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="make_strategy.kind name or a tf.distribute.Strategy, got int"):
        api.train(str(tmp_path / "run"), strategy=8)


class CountingStrategy(tf.distribute.OneDeviceStrategy):
    """A one-device strategy that counts how often its scope is entered."""

    def __init__(self):
        super().__init__("/cpu:0")
        self.scopes = 0

    def scope(self):
        self.scopes += 1
        return super().scope()


def test_training_uses_a_strategy_made_beforehand(tmp_path):
    strategy = CountingStrategy()
    model_dir = str(tmp_path / "run")
    result = api.train(model_dir, bindings=SMALL, steps=1, strategy=strategy)
    assert result["step"] == 1 and strategy.scopes > 0
    # The strategy is not a gin binding: the run's config.gin still parses, and sampling works.
    assert "strategy" not in (tmp_path / "run" / "config.gin").read_text()
    samples = api.sample(model_dir)
    assert samples["step"] == 1 and os.path.isfile(samples["grid"])
