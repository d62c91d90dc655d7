#!/usr/bin/env bash
# Prerequisites for CI jobs (the `.ci/run` gate and the nightly workflow):
# `just` itself, then everything `just setup` installs. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$HOME/.local/bin:$PATH"
if ! command -v just >/dev/null 2>&1; then
  echo "[ci] installing just (PyPI rust-just, prebuilt)"
  pip install --quiet rust-just || cargo install --locked just
fi
bash scripts/bootstrap.sh
