"""Execute a notebook's code cells headlessly, in order, in one namespace (this process).

    python tests/notebook_runner.py NOTEBOOK OVERRIDES_JSON OUT_DIR [NAME ...]

The standard library reads the .ipynb (no Jupyter needed). Cells tagged "colab-only" are
skipped. After the cell tagged "parameters" runs, each name of OVERRIDES_JSON is assigned its
value (papermill's injected-parameters convention). `IPython.display` is replaced by a stand-in
that records what the notebook displays, so no IPython is needed either. Written to OUT_DIR:
`displayed.json` (one entry per displayed object: a PNG file's path, or a PIL image's size and
mode) and `NAME.npy` for each NAME given (a namespace value after the last cell, as an array).
"""

import json
import os
import sys
import time
import types

COLAB_ONLY, PARAMETERS = "colab-only", "parameters"


def load_notebook(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def cell_source(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def cell_tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


def code_cells(notebook):
    return [c for c in notebook["cells"] if c.get("cell_type") == "code"]


def shell_or_magic_lines(source):
    """Lines IPython would run as a shell command (`!`) or a magic (`%`, `%%`): plain Python
    cannot run them."""
    return [line for line in source.splitlines() if line.lstrip().startswith(("!", "%"))]


def install_display_stand_in(displayed):
    """`from IPython.display import Image, display` works and records each displayed object."""

    class Image:
        def __init__(self, data=None, filename=None, **kwargs):
            if filename is None:
                raise ValueError("the stand-in Image takes filename= only")
            with open(filename, "rb") as f:  # a missing grid fails here, as in IPython
                self.data = f.read()
            self.filename = filename

    def display(*objects, **kwargs):
        for obj in objects:
            if isinstance(obj, Image):
                displayed.append({"kind": "png_file", "path": obj.filename,
                                  "png": obj.data[:8] == b"\x89PNG\r\n\x1a\n"})
            elif hasattr(obj, "size") and hasattr(obj, "mode"):  # a PIL image
                displayed.append({"kind": "pil_image", "size": list(obj.size), "mode": obj.mode})
            else:
                displayed.append({"kind": type(obj).__name__, "repr": repr(obj)[:200]})

    package = types.ModuleType("IPython")
    module = types.ModuleType("IPython.display")
    module.Image, module.display = Image, display
    package.display = module
    sys.modules["IPython"], sys.modules["IPython.display"] = package, module


def run(notebook_path, overrides, out_dir, keep=()):
    displayed = []
    install_display_stand_in(displayed)
    namespace = {"__name__": "__main__"}
    for index, cell in enumerate(code_cells(load_notebook(notebook_path))):
        tags = cell_tags(cell)
        if COLAB_ONLY in tags:
            continue
        source = cell_source(cell)
        print(f"--- cell {index} ---", flush=True)
        started = time.perf_counter()
        exec(compile(source, f"{os.path.basename(notebook_path)} cell {index}", "exec"), namespace)
        print(f"--- cell {index}: {time.perf_counter() - started:.1f} s ---", flush=True)
        if PARAMETERS in tags:
            namespace.update(overrides)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "displayed.json"), "w") as f:
        json.dump(displayed, f)
    if keep:
        import numpy as np
        for name in keep:
            np.save(os.path.join(out_dir, f"{name}.npy"), np.asarray(namespace[name]))


if __name__ == "__main__":
    notebook, overrides_path, out = sys.argv[1:4]
    with open(overrides_path) as f:
        run(notebook, json.load(f), out, keep=sys.argv[4:])
