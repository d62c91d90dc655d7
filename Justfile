# svclab — recipes. `./just <recipe>` (the launcher beside this file) installs
# just when it is missing; `just <recipe>` works the same. Each recipe installs
# only what it needs when a tool is missing (`_ensure*`); `./just setup`
# installs everything at once. `sudo -E ./just test` runs every test.

set shell := ["bash", "-euo", "pipefail", "-c"]

export PATH := env_var('HOME') + "/.cargo/bin:" + env_var('PATH')

# List the recipes.
default:
    @{{just_executable()}} --list

# Install everything any recipe needs on a fresh Debian machine with rustup (idempotent).
setup:
    bash scripts/bootstrap.sh all

# What building and running need (nightly rust-src, bpf-linker, iproute2,
# iptables/conntrack for the kube-proxy engines):
# installed only when a tool is missing, a quick no-op otherwise.
_ensure:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! bpf-linker --version >/dev/null 2>&1 \
       || ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src' \
       || ! command -v ip >/dev/null || ! command -v conntrack >/dev/null \
       || ! command -v iptables-nft-restore >/dev/null; then
      bash scripts/bootstrap.sh run
    fi

# What only the tests need: Chromium for the report's real-browser test
# (report/tests/browser.rs runs /usr/bin/chromium and SKIPs without it),
# Debian's nginx and its echo module for the nginx suites and tests.
_ensure-test:
    #!/usr/bin/env bash
    set -euo pipefail
    [ -x /usr/bin/chromium ] && [ -x /usr/sbin/nginx ] && [ -e /usr/share/nginx/modules/ngx_http_echo_module.so ] && exit 0
    if [ "$(id -u)" -ne 0 ]; then
      echo "warning: chromium or nginx missing and not root: the browser tests will be SKIPPED and the nginx suites fail (sudo ./just setup)" >&2
      exit 0
    fi
    bash scripts/bootstrap.sh test

# What only `bench` needs: wrk, the reference load generator.
_ensure-bench:
    #!/usr/bin/env bash
    set -euo pipefail
    command -v wrk >/dev/null || bash scripts/bootstrap.sh bench

# Build user space (and, through build.rs, the eBPF object).
build: _ensure
    cargo build --release

# Lints: rustfmt, clippy on user space and on the eBPF crate (bpfel target).
lint: _ensure
    cargo fmt --all --check
    python3 scripts/modcycles.py cgroup datapath harness kube manifests report suite testsupport topology
    cargo clippy --all-targets -- -D warnings
    cd datapath/ebpf && cargo +nightly clippy --release --target bpfel-unknown-none -Z build-std=core -- -D warnings

# The everyday inner loop: rustfmt, module cycles, clippy, and every test
# that creates no kernel state (kernel tests print SKIPPED even as root).
# No root needed; a few minutes warm. `just test` is the full gate.
check: _ensure
    #!/usr/bin/env bash
    set -euo pipefail
    cargo fmt --all --check
    python3 scripts/modcycles.py cgroup datapath harness kube manifests report suite testsupport topology
    cargo clippy --all-targets -- -D warnings
    log="$(mktemp)"
    trap 'rm -f "$log"' EXIT
    SVCLAB_SKIP_ROOT_TESTS=1 cargo test --workspace --exclude svclab-datapath-ebpf 2>&1 | tee "$log"
    passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
    failed=$(grep -oE '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
    skipped=$(grep -c '^SKIPPED ' "$log" || true)
    echo "check: ${passed} passed, ${failed} failed, ${skipped} skipped"

# All tests. Kernel tests (eBPF, netns) need root; without it they print SKIPPED.
test: _ensure _ensure-test lint
    #!/usr/bin/env bash
    set -euo pipefail
    if [ "$(id -u)" -ne 0 ]; then
      echo "warning: not root: eBPF and netns tests will be SKIPPED (run: sudo -E ./just test)" >&2
    fi
    log="$(mktemp)"
    trap 'rm -f "$log"' EXIT
    # Built once, then run in lanes: the long suite binary beside the
    # others, the timing and machine-wide tests alone at the end
    # (scripts/test-lanes.py). The workspace has no doc tests.
    python3 scripts/test-lanes.py --workspace --exclude svclab-datapath-ebpf 2>&1 | tee "$log"
    # Nothing a test created may survive it.
    left="$(ip netns list 2>/dev/null | grep -E '^svl-' || true)"
    if [ -n "$left" ]; then echo "tests left netns behind: $left" >&2; exit 1; fi
    # One closing line over every test binary (cargo's last line is often a
    # doc-test binary with 0 tests).
    passed=$(grep -oE 'test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
    failed=$(grep -oE '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}')
    skipped=$(grep -c '^SKIPPED ' "$log" || true)
    echo "tests: ${passed} passed, ${failed} failed, ${skipped} skipped"

# Run a suite end to end (needs root): `sudo -E ./just run suites/ct-port-reuse-legacy.yaml`.
# Extra flags go to `svclab run` (e.g. --time-scale 0.5, --out DIR, -q).
# What the suite needs beyond the toolchain (Debian's nginx and its echo
# module for the nginx presets) is installed first (`svclab needs`).
run SUITE *ARGS: build
    #!/usr/bin/env bash
    set -euo pipefail
    needs="$(./target/release/svclab needs {{SUITE}})"
    if [ -n "$needs" ]; then bash scripts/bootstrap.sh $needs; fi
    exec ./target/release/svclab run {{SUITE}} {{ARGS}}

# Every suite in suites/ (or `--filter NAME`), each report, history and
# reports/index.html with regressions flagged; non-zero if any suite fails.
# What the suites need (nginx) is installed first.
nightly *ARGS: build
    #!/usr/bin/env bash
    set -euo pipefail
    needs="$(./target/release/svclab needs suites)"
    if [ -n "$needs" ]; then bash scripts/bootstrap.sh $needs; fi
    exec ./target/release/svclab nightly {{ARGS}}

# One suite under several dataplane engines and a comparison page
# (`--engines ebpf:cilium-1.11,kube-proxy-nftables,socket-lb`).
compare SUITE *ARGS: build
    #!/usr/bin/env bash
    set -euo pipefail
    needs="$(./target/release/svclab needs {{SUITE}})"
    if [ -n "$needs" ]; then bash scripts/bootstrap.sh $needs; fi
    exec ./target/release/svclab compare {{SUITE}} {{ARGS}}

# Validate suites without touching the kernel.
validate +SUITES: build
    ./target/release/svclab validate {{SUITES}}

# Check this machine: root, kernel, eBPF load.
doctor: build
    ./target/release/svclab doctor

# Remove leftovers of crashed runs (svl-* netns and their processes).
clean *ARGS: build
    ./target/release/svclab clean {{ARGS}}

# Datapath benchmark: ns/packet (CT hit, miss) and TCP conn/s direct vs VIP.
bench-datapath: _ensure
    cargo bench -p svclab-datapath --bench datapath

# Every benchmark: datapath, topology build/teardown vs `ip -batch`, 1000
# pods' start and teardown, the client's conn/s through the VIP vs wrk,
# probes at 1000 pods, network-fault accuracy; then one table of every goal.
bench: _ensure _ensure-bench
    #!/usr/bin/env bash
    set -euo pipefail
    export SVCLAB_BENCH_SUMMARY="$PWD/target/bench-summary.tsv"
    rm -f "$SVCLAB_BENCH_SUMMARY"
    cargo bench -p svclab-datapath --bench datapath
    cargo bench -p svclab-topology --bench topology
    cargo bench -p svclab --bench scale
    cargo bench -p svclab --bench client
    cargo bench -p svclab --bench probes
    cargo bench -p svclab --bench engines
    cargo bench -p svclab --bench faults
    echo
    echo "== goals (one run of just bench)"
    awk -F '\t' '{ printf "%-9s %-78s %-58s %s\n", $1, $2, $3, $4 }' \
      <(printf 'bench\tgoal\tfigure\tverdict\n') "$SVCLAB_BENCH_SUMMARY"
