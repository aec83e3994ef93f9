"""gin set-up: which functions are configurable, where configs live, and clear errors."""

import logging
import os

import gin
import keras
from gin import config_parser

from tfgan_icr.errors import ConfigError

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gin_configs")
DEFAULT_CONFIG = "quickstart.gin"
# Configurables from outside this package that config files may name (see
# register_configurables); gin's own macro/constant are how `%NAME` is implemented.
EXTERNAL_MODULES = ("keras.optimizers",)
_GIN_BUILTINS = frozenset({"gin.macro", "gin.constant"})

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
    import tfgan_icr.methods.acgan  # noqa: F401
    import tfgan_icr.methods.consistency  # noqa: F401
    import tfgan_icr.methods.contrastive  # noqa: F401
    import tfgan_icr.methods.orthogonal  # noqa: F401
    import tfgan_icr.methods.penalties  # noqa: F401
    import tfgan_icr.methods.progressive  # noqa: F401
    import tfgan_icr.models  # noqa: F401
    import tfgan_icr.regularizers  # noqa: F401
    import tfgan_icr.sampling  # noqa: F401
    import tfgan_icr.training.benchmark  # noqa: F401
    import tfgan_icr.jobs.evaluate  # noqa: F401
    import tfgan_icr.jobs.export  # noqa: F401
    import tfgan_icr.jobs.sample  # noqa: F401
    import tfgan_icr.jobs.train  # noqa: F401
    import tfgan_icr.training.builder  # noqa: F401
    import tfgan_icr.training.schedules  # noqa: F401
    import tfgan_icr.training.monitors  # noqa: F401
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


class _RecordingDelegate(config_parser.ParserDelegate):
    """Collects the `@name` references of a config without resolving (or importing) anything."""

    def __init__(self):
        self.references = []

    def configurable_reference(self, scoped_configurable_name, evaluate):
        self.references.append(scoped_configurable_name)

    def macro(self, macro_name):
        return None


def _own_configurable(selector):
    """True when `selector` (scope allowed) names a configurable registered by tfgan_icr, or
    one of the external ones register_configurables adds."""
    match = gin.config._REGISTRY.get_match(selector.rsplit("/", 1)[-1])
    if match is None:
        return False
    if match.selector in _GIN_BUILTINS:
        return True
    return match.module == "tfgan_icr" or match.module.startswith("tfgan_icr.") or \
        match.module in EXTERNAL_MODULES


def check_untrusted_config(text, path):
    """Raise ConfigError unless `text` only binds this package's configurables.

    A run directory's saved config is untrusted input (it may come from someone else): gin's
    `import` (and `from __gin__ import dynamic_registration`) would import any module and make
    any function callable, and `include` would read any other file. Only bindings of
    registered configurables, literals, macros and `@` references to registered
    configurables are accepted. Nothing is imported or called while checking.
    """
    register_configurables()
    delegate = _RecordingDelegate()
    advice = ("a run directory's saved config may only bind tfgan_icr's configurables; if you "
              "trust this file, pass it with --gin_config")
    try:
        for statement in config_parser.ConfigParser(text, delegate):
            line = statement.location.line_num
            where = f"{path} line {line}"
            if isinstance(statement, config_parser.ImportStatement):
                raise ConfigError(f"refusing {where}: `{statement.format()}`: {advice}")
            if isinstance(statement, config_parser.IncludeStatement):
                raise ConfigError(f"refusing {where}: `include {statement.filename!r}`: {advice}")
            selectors = list(delegate.references)
            delegate.references.clear()
            if getattr(statement, "arg_name", None) or isinstance(statement, config_parser.BlockDeclaration):
                selectors.insert(0, statement.selector)  # arg_name '' is a macro definition
            for selector in selectors:
                if not _own_configurable(selector):
                    raise ConfigError(f"refusing {where}: `{selector}` is not a configurable of "
                                      f"tfgan_icr: {advice}")
    except (SyntaxError, ValueError) as error:
        raise ConfigError(f"bad gin config {path}: {_one_line(error)}") from None


def parse(config_files=(), bindings=(), finalize=True, trusted=True):
    """Parse config files and bindings; any mistake becomes a one-line ConfigError.

    trusted=False (a run directory's own config.gin/operative_config.gin) checks each file
    with `check_untrusted_config` first and parses the checked text, not the file again.
    """
    register_configurables()
    files = [resolve_config(f) for f in config_files]
    texts = []
    if not trusted:
        for path in files:
            try:
                with open(path) as f:
                    texts.append(f.read())
            except (OSError, UnicodeDecodeError) as error:
                raise ConfigError(f"cannot read {path}: {error}") from None
            check_untrusted_config(texts[-1], path)
    gin.clear_config()
    if CONFIG_DIR not in gin.config._LOCATION_PREFIXES:  # `include 'icr/_cr_terms.gin'` etc.
        gin.add_config_file_search_path(CONFIG_DIR)
    quiet = _QuietIncludeSearch()
    logging.getLogger().addFilter(quiet)
    try:
        if trusted:
            gin.parse_config_files_and_bindings(files, list(bindings), finalize_config=finalize)
        else:
            for text in texts:
                gin.parse_config(text)
            gin.parse_config_files_and_bindings([], list(bindings), finalize_config=finalize)
    except (ValueError, KeyError, SyntaxError, IOError) as error:
        raise ConfigError(f"bad gin config: {_one_line(error)}: check the name against the configs in "
                          f"gin_configs/ and the docstrings of tfgan_icr") from None
    finally:
        logging.getLogger().removeFilter(quiet)
    return files
