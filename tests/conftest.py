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
