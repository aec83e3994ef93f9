"""The Colab notebooks: committed clean, plain Python outside their colab-only cells, the
quickstart executed end to end on a CPU with tiny parameters, the TPU notebook compiled and its
configs, bindings and API calls checked (it needs a TPU to run)."""

import ast
import inspect
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, SMALL
from notebook_runner import (COLAB_ONLY, PARAMETERS, cell_source, cell_tags, code_cells, load_notebook,
                             shell_or_magic_lines)

COLAB = os.path.join(ROOT, "colab")
NOTEBOOKS = ["quickstart.ipynb", "tpu_biggan.ipynb"]
RUNNER = os.path.join(ROOT, "tests", "notebook_runner.py")


def notebook(name):
    return load_notebook(os.path.join(COLAB, name))


def as_python(source):
    """The source with each `!`/`%` line replaced by `pass` at its indentation, so that the
    Python around IPython's shell and magic lines can be compiled."""
    return "\n".join(line[:len(line) - len(line.lstrip())] + "pass" if line in shell_or_magic_lines(source)
                     else line for line in source.splitlines())


def parameters(nb):
    """The parameters cell's names and literal values (it may hold nothing else)."""
    cells = [c for c in code_cells(nb) if PARAMETERS in cell_tags(c)]
    assert len(cells) == 1, "one cell tagged 'parameters'"
    values = {}
    for statement in ast.parse(cell_source(cells[0])).body:
        assert isinstance(statement, ast.Assign) and len(statement.targets) == 1, ast.unparse(statement)
        values[statement.targets[0].id] = ast.literal_eval(statement.value)
    return values


def runner_env():
    # One OpenBLAS thread: FID's 2048 x 2048 eigendecompositions took 4.5x longer with two on
    # this 2-core machine while other jobs loaded it (2.1 s against 9.4 s for one).
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OPENBLAS_NUM_THREADS="1",
                PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def test_the_old_tpu_notebook_is_replaced():
    assert sorted(f for f in os.listdir(COLAB) if f.endswith(".ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_with_outputs_cleared(name):
    for cell in code_cells(notebook(name)):
        assert cell["outputs"] == [] and cell["execution_count"] is None, cell_source(cell)[:80]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_shell_and_magic_lines_only_in_colab_only_cells(name):
    nb = notebook(name)
    offending = [shell_or_magic_lines(cell_source(c)) for c in code_cells(nb) if COLAB_ONLY not in cell_tags(c)]
    assert not any(offending), offending
    colab_only = [cell_source(c) for c in code_cells(nb) if COLAB_ONLY in cell_tags(c)]
    assert any("pip install" in source for source in colab_only), "the install cell is tagged colab-only"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_code_cell_compiles(name):
    for index, cell in enumerate(code_cells(notebook(name))):
        compile(as_python(cell_source(cell)), f"{name} cell {index}", "exec")


def _package_functions(tree):
    """{name used in the notebook: function} for every `from tfgan_icr... import X` (a module
    X's functions as `X.f`)."""
    import importlib
    functions = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tfgan_icr"):
            for alias in node.names:
                module = importlib.import_module(node.module)
                value = getattr(module, alias.name, None) or importlib.import_module(f"{node.module}.{alias.name}")
                local = alias.asname or alias.name
                if inspect.ismodule(value):
                    functions.update({f"{local}.{n}": f for n, f in inspect.getmembers(value, inspect.isfunction)})
                else:
                    functions[local] = value
    return functions


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_calls_into_the_package_match_its_signatures(name):
    tree = ast.parse("\n".join(as_python(cell_source(c)) for c in code_cells(notebook(name))))
    functions = _package_functions(tree)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and ast.unparse(node.func) in functions]
    assert calls, "the notebook calls tfgan_icr"
    for call in calls:
        signature = inspect.signature(functions[ast.unparse(call.func)])
        # Raises TypeError for a keyword the function does not have or a missing argument.
        signature.bind(*range(len(call.args)), **{k.arg: None for k in call.keywords})


def test_runner_skips_colab_only_cells_and_overrides_the_parameters(tmp_path):
    def cell(source, *tags):
        return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": source.splitlines(True),
                "outputs": [], "execution_count": None}
    nb = {"cells": [cell("raise SystemExit('a colab-only cell ran')", COLAB_ONLY),
                    cell("STEPS = 1000\nNAME = 'colab'", PARAMETERS),
                    cell("from IPython.display import display\nresult = [STEPS, len(NAME)]\ndisplay(result)")]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    (tmp_path / "overrides.json").write_text(json.dumps({"STEPS": 3}))
    done = subprocess.run([sys.executable, RUNNER, str(path), str(tmp_path / "overrides.json"), str(tmp_path / "out"),
                           "result"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert np.load(tmp_path / "out" / "result.npy").tolist() == [3, 5]  # STEPS overridden, NAME kept
    assert json.load(open(tmp_path / "out" / "displayed.json"))[0]["kind"] == "list"


def training_bindings(nb, values):
    """The training cell's `bindings = [...]`, evaluated with the parameters' values."""
    train_cell = next(cell_source(c) for c in code_cells(nb) if "api.train(" in cell_source(c))
    assignment = next(node for node in ast.parse(train_cell).body
                      if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "bindings")
    return eval(compile(ast.Expression(assignment.value), "bindings", "eval"), dict(values))


def test_quickstart_bindings_parse_with_its_colab_parameters(tmp_path):
    from tfgan_icr import api
    import gin
    values = parameters(notebook("quickstart.ipynb"))
    api.configure("train", str(tmp_path / "run"), "quickstart", training_bindings(notebook("quickstart.ipynb"), values),
                  values["STEPS"])
    assert gin.query_parameter("fashion_mnist.data_dir") == values["FASHION_MNIST_DIR"] == "/content/fashion-mnist"
    assert gin.query_parameter("Evaluator.cache_dir") is None  # the default cache
    assert gin.query_parameter("Evaluator.reference_limit") == values["REFERENCE_LIMIT"]
    assert gin.query_parameter("train.steps") == values["STEPS"]


def test_tpu_notebook_names_configs_and_bindings_that_parse(tmp_path):
    from tfgan_icr import api, config
    import gin
    nb = notebook("tpu_biggan.ipynb")
    values = parameters(nb)
    markdown = " ".join(cell_source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert values["GIN_CONFIG"] == "icr_biggan_cifar10"
    for name in ("icr_biggan_cifar10", "icr_biggan_imagenet"):  # the choices the notebook offers
        assert f"`{name}`" in markdown and os.path.isfile(os.path.join(config.CONFIG_DIR, f"{name}.gin"))
    assert values["STRATEGY"] == "tpu" and values["GLOBAL_BATCH"] % 8 == 0  # a v2-8 / v3-8 has 8 cores
    for every in ("LOG_EVERY", "SAMPLE_EVERY", "CHECKPOINT_EVERY"):
        assert values[every] % values["STEPS_PER_EXECUTION"] == 0
    api.configure("train", str(tmp_path / "run"), values["GIN_CONFIG"], training_bindings(nb, values), values["STEPS"])
    assert gin.query_parameter("train.batch_size") == values["GLOBAL_BATCH"]
    assert gin.query_parameter("train.steps") == values["STEPS"]
    assert gin.query_parameter("tfds_dataset.name") == "cifar10"
    assert gin.query_parameter("tfds_dataset.download") is True
    assert gin.query_parameter("build_gan.precision") == values["PRECISION"]
    assert "@balanced_consistency" in str(gin.query_parameter("build_gan.d_terms"))  # ICR's terms


def test_quickstart_runs_headlessly_on_a_cpu(tmp_path):
    from tfgan_icr.data.sources import FASHION_MNIST_DIR
    steps, eval_samples = 20, 100
    overrides = {"MODEL_DIR": str(tmp_path / "run"), "EXPORT_DIR": str(tmp_path / "export"),
                 "FASHION_MNIST_DIR": FASHION_MNIST_DIR, "STEPS": steps, "EVAL_SAMPLES": eval_samples,
                 "REFERENCE_LIMIT": eval_samples, "CACHE_DIR": str(tmp_path / "cache"),
                 "EXTRA_BINDINGS": [*SMALL, "train.log_every = 10"]}
    assert set(overrides) == set(parameters(notebook("quickstart.ipynb")))  # every parameter is replaced
    (tmp_path / "overrides.json").write_text(json.dumps(overrides))
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, RUNNER, os.path.join(COLAB, "quickstart.ipynb"),
                           str(tmp_path / "overrides.json"), str(out), "images"],
                          capture_output=True, text=True, timeout=600, cwd=str(tmp_path), env=runner_env())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "--- cell 0 ---" not in done.stdout  # the install cell is colab-only

    displayed = json.load(open(out / "displayed.json"))
    grid = displayed[0]
    assert grid["kind"] == "png_file" and grid["png"]
    assert grid["path"] == str(tmp_path / "run" / "samples" / f"sample_step_{steps:07d}_g.png")

    evaluation = [json.loads(line) for line in open(tmp_path / "run" / "metrics.jsonl")][-1]
    assert evaluation["event"] == "eval" and evaluation["step"] == steps
    assert evaluation["fid_label"].startswith(f"FID@{eval_samples} vs fashion_mnist[test], inception-2015-12-05")
    assert np.isfinite(evaluation["fid"]) and evaluation["fid"] > 0 and np.isfinite(evaluation["kid"])
    assert os.listdir(tmp_path / "cache" / "reference_stats")  # the cache went where the notebook said

    export = tmp_path / "export" / "1"
    assert (export / "saved_model.pb").is_file()
    assert json.load(open(export / "tfgan_icr_export.json"))["step"] == steps
    images = np.load(out / "images.npy")
    assert images.shape == (10, 32, 32, 1) and images.dtype == np.uint8  # one per class, from the export
    assert images.std() > 0
    assert displayed[-1] == {"kind": "pil_image", "size": [10 * 32 * 3, 32 * 3], "mode": "L"}
