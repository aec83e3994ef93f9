import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import gin  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_gin_config():
    """Each test starts without the gin bindings an earlier test parsed."""
    gin.clear_config()
    yield
    gin.clear_config()
