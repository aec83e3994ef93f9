"""Exit 0 when this checkout is installed (editable) in the running Python with every
requirement in setup.cfg met (with --test: the test extras too); else name what is missing
and exit 1. Used by scripts/setup.sh to skip `pip install` when there is nothing to do."""

import configparser
import importlib.metadata as metadata
import importlib.util
import os
import sys

try:
    from packaging.requirements import Requirement
except ImportError:  # a fresh venv has pip, which carries its own copy
    from pip._vendor.packaging.requirements import Requirement

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def missing(with_test):
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    lines = config["options"]["install_requires"].splitlines()
    if with_test:
        lines += config["options.extras_require"]["test"].splitlines()
    problems = []
    try:
        version = metadata.version("tfgan_icr")
    except metadata.PackageNotFoundError:
        version = None
    spec = importlib.util.find_spec("tfgan_icr")
    here = os.path.join(ROOT, "tfgan_icr", "__init__.py")
    if version != config["metadata"]["version"] or spec is None or spec.origin != here:
        problems.append(f"tfgan_icr {config['metadata']['version']} from {ROOT}")
    for line in filter(None, (line.strip() for line in lines)):
        requirement = Requirement(line)
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed is None or not requirement.specifier.contains(installed, prereleases=True):
            problems.append(line)
    return problems


if __name__ == "__main__":
    sys.path = [p for p in sys.path if os.path.abspath(p or ".") != ROOT]  # the installed copy only
    problems = missing("--test" in sys.argv[1:])
    if problems:
        print("to install: " + ", ".join(problems))
    sys.exit(1 if problems else 0)
