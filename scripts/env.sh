# Sourced by scripts/setup.sh and scripts/python: the Python environment of this checkout.
# An active virtual environment ($VIRTUAL_ENV) or conda environment ($CONDA_PREFIX) is used
# as it is; otherwise the project's own .venv/, which scripts/setup.sh makes.
tfgan_env_python() {
  if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
    echo "$VIRTUAL_ENV/bin/python"
  elif [ -n "${CONDA_PREFIX:-}" ] && [ -x "$CONDA_PREFIX/bin/python" ]; then
    echo "$CONDA_PREFIX/bin/python"
  else
    echo "$ROOT/.venv/bin/python"
  fi
}
