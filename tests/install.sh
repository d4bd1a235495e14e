#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: Chromium and CJK fonts (browser
# tests, PDF tests), then the Python requirements. llama-cpp-python compiles from source
# the first time (~14 min on 2 cores); pip's cache makes later installs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
if ! command -v chromium >/dev/null || ! fc-list :lang=zh | grep -q .; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq chromium fonts-noto-cjk fonts-noto-color-emoji >/dev/null
fi
python -m pip install -q torch==2.13.0  # first, so nothing pulls a CUDA build
python -m pip install -q -r requirements-dev.txt
