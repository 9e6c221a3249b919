#!/usr/bin/env bash
# Install everything stacc needs: Debian packages (as root, via apt-get) and a Python venv.
# Idempotent: packages already present are not reinstalled; pip only adds what is missing.
set -euo pipefail
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
APT_PACKAGES=(make g++ perl zlib1g-dev liblz4-dev ccache
              gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
              espeak-ng flite sox)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    echo "setup: Debian packages present"
fi

command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $($PYTHON --version)"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
fi
echo "setup: pip install -e .[all] (TensorFlow is ~2.4 GB the first time)"
"$VENV/bin/pip" install -q --progress-bar off -e '.[all]'
echo "setup: done"
