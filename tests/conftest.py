import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# XLA's LLVM back end without optimisation passes: the XLA tests check that steps compile and
# run, not how fast; this halves each compile on the 2-core machine (18 s -> 9 s, quickstart).
os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")

import gin  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_gin_config():
    """Each test starts without the gin bindings an earlier test parsed."""
    gin.clear_config()
    yield
    gin.clear_config()


@pytest.fixture(autouse=True)
def no_op_determinism_left_behind():
    """`train.deterministic = True` turns TensorFlow's op determinism on for the whole process;
    a later test in the same process (the order depends on how files are spread over the test
    processes) must not inherit it: e.g. XLA has no deterministic max-pool gradient."""
    yield
    from tensorflow.python.framework import config as tf_config  # no public switch back off
    tf_config.disable_op_determinism()
