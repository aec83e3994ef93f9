"""gin set-up: which functions are configurable, where configs live, and clear errors."""

import logging
import os

import gin
import keras

from tfgan_icr.errors import ConfigError

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gin_configs")
DEFAULT_CONFIG = "quickstart.gin"

_registered = False


def register_configurables():
    """Import every module that defines configurables and register the external ones.

    Keras layers/models must not be decorated with @gin.configurable (it breaks Keras 3
    construction); networks are built by configurable factory functions instead.
    """
    global _registered
    if _registered:
        return
    for optimizer in (keras.optimizers.Adam, keras.optimizers.AdamW, keras.optimizers.SGD,
                      keras.optimizers.RMSprop):
        gin.external_configurable(optimizer, module="keras.optimizers")
    # Imported for their @gin.configurable side effects.
    import tfgan_icr.augment  # noqa: F401
    import tfgan_icr.data  # noqa: F401
    import tfgan_icr.eval.evaluator  # noqa: F401
    import tfgan_icr.losses  # noqa: F401
    import tfgan_icr.methods.consistency  # noqa: F401
    import tfgan_icr.methods.penalties  # noqa: F401
    import tfgan_icr.models  # noqa: F401
    import tfgan_icr.regularizers  # noqa: F401
    import tfgan_icr.sampling  # noqa: F401
    import tfgan_icr.training.benchmark  # noqa: F401
    import tfgan_icr.jobs.evaluate  # noqa: F401
    import tfgan_icr.jobs.sample  # noqa: F401
    import tfgan_icr.jobs.train  # noqa: F401
    import tfgan_icr.training.builder  # noqa: F401
    import tfgan_icr.training.schedules  # noqa: F401
    import tfgan_icr.training.terms  # noqa: F401
    _registered = True


def resolve_config(path):
    """A config given as a path, or by name from gin_configs/ ('quickstart', 'quickstart.gin')."""
    candidates = [path]
    if not os.path.isabs(path):
        name = path if path.endswith(".gin") else f"{path}.gin"
        candidates += [os.path.join(CONFIG_DIR, name), os.path.join(CONFIG_DIR, os.path.basename(name))]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    available = ", ".join(sorted(f for f in os.listdir(CONFIG_DIR) if f.endswith(".gin"))) \
        if os.path.isdir(CONFIG_DIR) else "none"
    raise ConfigError(f"gin config file not found: {path} (configs in {CONFIG_DIR}: {available})")


def _one_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    where = next((line for line in lines[1:] if line.startswith("In ")), "")
    return f"{lines[0]} {where}".strip() if lines else type(error).__name__


class _QuietIncludeSearch(logging.Filter):
    """gin logs an ERROR for every search-path entry an `include` is not found under, even
    when a later one has it; a file that is found nowhere still fails with a ConfigError."""

    def filter(self, record):
        return not record.getMessage().startswith("Path not found:")


def parse(config_files=(), bindings=(), finalize=True):
    """Parse config files and bindings; any mistake becomes a one-line ConfigError."""
    register_configurables()
    files = [resolve_config(f) for f in config_files]
    gin.clear_config()
    if CONFIG_DIR not in gin.config._LOCATION_PREFIXES:  # `include 'icr/_cr_terms.gin'` etc.
        gin.add_config_file_search_path(CONFIG_DIR)
    quiet = _QuietIncludeSearch()
    logging.getLogger().addFilter(quiet)
    try:
        gin.parse_config_files_and_bindings(files, list(bindings), finalize_config=finalize)
    except (ValueError, KeyError, SyntaxError, IOError) as error:
        raise ConfigError(f"bad gin config: {_one_line(error)}: check the name against the configs in "
                          f"gin_configs/ and the docstrings of tfgan_icr") from None
    finally:
        logging.getLogger().removeFilter(quiet)
    return files
