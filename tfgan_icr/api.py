"""The command line's four modes as Python functions, for notebooks and scripts.

    from tfgan_icr import api
    api.train("runs/q", gin_config="quickstart", bindings=["train.batch_size = 32"], steps=200)
    api.sample("runs/q")                        # {"grid": PNG path, "images": [...], "step": 200}
    api.evaluate("runs/q", num_samples=1000)    # {"fid": ..., "fid_label": ..., "kid": ...}
    api.export("runs/q", "exports/q")           # "exports/q/1"

Each call does what `python -m tfgan_icr.main --mode=...` does with the same arguments:
parse the config (the files in `gin_config`, given as paths or by name from gin_configs/,
then `bindings`), then run one job. Training without `gin_config` uses the quickstart config;
sample, evaluate and export without one re-read the run's own `config.gin` in restricted mode
(see the README's *Trust and safety of run directories*), so the bindings a run was trained
with (its data, `Evaluator.*`) apply to them too. Mistakes raise a `TfganError` subclass whose
message is one line. Each call replaces the gin config of the one before.
"""

import os

from tfgan_icr import config
from tfgan_icr.errors import ConfigError

RUN_FILES = ("config.gin", "operative_config.gin")


def _as_list(value):
    if value is None:
        return []
    return [value] if isinstance(value, (str, os.PathLike)) else [os.fspath(v) for v in value]


def check_local_path(path, what):
    """Refuse a URL (gs://, s3://, ...): run directories and exports are written with the
    local file API (atomic renames, a flock), so a URL would become a local folder named
    'gs:'. A bucket mounted as a folder (gcsfuse, Colab's Drive) is a local path."""
    if path is not None and "://" in os.fspath(path):
        raise ConfigError(f"{what} {os.fspath(path)!r} is a URL: tfgan_icr writes to local paths only; mount "
                          f"the bucket as a folder (e.g. gcsfuse BUCKET /content/bucket) and pass that path")


def config_files(mode, model_dir, gin_config=()):
    """The config files a mode parses: `gin_config`; else, for sample/eval/export, the run's
    config.gin (or operative_config.gin); else the quickstart config."""
    files = _as_list(gin_config)
    if files:
        return files
    if mode != "train" and model_dir:
        for name in RUN_FILES:
            if os.path.exists(os.path.join(model_dir, name)):
                return [os.path.join(model_dir, name)]
    return [config.DEFAULT_CONFIG]


def default_model_dir(files):
    """runs/<name of the last config file>."""
    return os.path.join("runs", os.path.splitext(os.path.basename(files[-1]))[0])


def configure(mode, model_dir=None, gin_config=(), bindings=(), steps=None, strategy=None, tpu=None):
    """Parse the config of one mode (see the module docstring) and return the run directory
    (`model_dir`, default runs/<config name>). `steps`, `strategy` and `tpu` add the bindings
    the command line's --steps, --strategy and --tpu add."""
    check_local_path(model_dir, "model_dir")
    files = config_files(mode, model_dir, gin_config)
    model_dir = model_dir or default_model_dir(files)
    bindings = list(_as_list(bindings))
    if steps is not None:
        bindings.append(f"train.steps = {steps}")
    if strategy is not None:
        bindings.append(f"make_strategy.kind = {strategy!r}")
    if tpu is not None:
        bindings.append(f"make_strategy.tpu = {tpu!r}")
    # A run directory's saved config is untrusted: parsed in restricted mode (no imports).
    config.parse(files, bindings, trusted=bool(_as_list(gin_config)) or mode == "train")
    return os.fspath(model_dir)


def train(model_dir=None, gin_config=(), bindings=(), steps=None, strategy=None, tpu=None, stream=None):
    """Train (or resume) a run; returns {"step", "checkpoint", "seconds"} (see jobs.train).

    strategy: a `make_strategy.kind` name ("tpu", "mirrored", ...), or a tf.distribute.Strategy
    already made (e.g. by `make_strategy`, to read its replica count first: a TPU system is
    initialised once)."""
    import tensorflow as tf
    from tfgan_icr.jobs.train import train as train_job
    if strategy is None or isinstance(strategy, str):
        model_dir = configure("train", model_dir, gin_config, bindings, steps, strategy, tpu)
        return train_job(model_dir, stream=stream)
    if not isinstance(strategy, tf.distribute.Strategy):
        raise ConfigError(f"strategy must be a make_strategy.kind name or a tf.distribute.Strategy, got "
                          f"{type(strategy).__name__}")
    model_dir = configure("train", model_dir, gin_config, bindings, steps)
    # Passed to the job, not bound in gin: the run's config.gin stays parseable text.
    return train_job(model_dir, strategy_fn=lambda: strategy, stream=stream)


def sample(model_dir, gin_config=(), bindings=(), num_samples=0, output_dir=None, checkpoint=None, stream=None):
    """A sample grid (and `num_samples` single PNGs) of a trained run; returns {"grid",
    "images", "step"} (see jobs.sample)."""
    from tfgan_icr.jobs.sample import sample as sample_job
    check_local_path(output_dir, "output_dir")
    model_dir = configure("sample", model_dir, gin_config, bindings)
    return sample_job(model_dir, num_samples=num_samples or 0, output_dir=output_dir, checkpoint=checkpoint,
                      stream=stream)


def evaluate(model_dir, gin_config=(), bindings=(), num_samples=None, output_dir=None, checkpoint=None,
             stream=None):
    """FID and KID of a trained run's (EMA) generator; returns the labelled results dict
    (`fid`, `fid_label`, `kid`, `kid_label`, ...; see jobs.evaluate)."""
    from tfgan_icr.jobs.evaluate import evaluate as evaluate_job
    check_local_path(output_dir, "output_dir")
    model_dir = configure("eval", model_dir, gin_config, bindings)
    return evaluate_job(model_dir, num_samples=num_samples, output_dir=output_dir, checkpoint=checkpoint,
                        stream=stream)


def export(model_dir, export_dir, gin_config=(), bindings=(), checkpoint=None, stream=None):
    """The (EMA) generator as a SavedModel in `export_dir/<version>/`; returns that path
    (see jobs.export and tfgan_icr.export)."""
    from tfgan_icr.jobs.export import export as export_job
    if not export_dir:
        raise ConfigError("export needs an export_dir (the SavedModel goes into EXPORT_DIR/<version>/)")
    check_local_path(export_dir, "export_dir")
    files = _as_list(gin_config)
    model_dir = configure("export", model_dir, gin_config, bindings)
    name = os.path.splitext(os.path.basename(files[-1]))[0] if files else None
    return export_job(model_dir, export_dir, config_name=name, checkpoint=checkpoint, stream=stream)
