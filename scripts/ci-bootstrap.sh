#!/usr/bin/env bash
# Prerequisites for CI jobs, run as root: `just` itself (through the ./just
# launcher, which installs it when missing), then what the job's recipes need
# (scripts/bootstrap.sh profiles: `test` for the `.ci/run` gate, the default;
# `run nginx` for the nightly workflow, which never opens a browser but
# runs the nginx suites).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$HOME/.local/bin:$PATH"
./just --version
bash scripts/bootstrap.sh "${@:-test}"
