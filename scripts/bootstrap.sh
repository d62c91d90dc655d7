#!/usr/bin/env bash
# Installs what a fresh Debian machine with rustup lacks, per need:
#   bootstrap.sh run    building and running (`just build`, `run`, `validate`, `lint`, …):
#                       iproute2, procps, iptables, nftables, conntrack,
#                       nightly rust-src/clippy/rustfmt, bpf-linker
#   bootstrap.sh test   run + chromium (the report's real-browser test) + nginx
#   bootstrap.sh nginx  Debian's nginx and its echo module (the nginx suites
#                       and tests; the nightly workflow asks for `run nginx`)
#   bootstrap.sh bench  run + wrk (the reference load generator in `just bench`)
#   bootstrap.sh [all]  everything (`just setup`)
# Several may be given. Idempotent: every step checks before it installs, so
# with everything present it only checks. The recipes `_ensure`,
# `_ensure-test` and `_ensure-bench` call it when one of their tools is
# missing; `.ci/run` calls it through scripts/ci-bootstrap.sh.
set -euo pipefail

log() { printf '[setup] %s\n' "$*" >&2; }

want_test=0 want_bench=0 want_nginx=0
[ "$#" -gt 0 ] || set -- all
for profile in "$@"; do
  case "$profile" in
    run) ;;
    test) want_test=1 want_nginx=1 ;;
    bench) want_bench=1 ;;
    nginx) want_nginx=1 ;;
    all) want_test=1 want_bench=1 want_nginx=1 ;;
    *) log "usage: $0 [run|test|bench|nginx|all]..."; exit 2 ;;
  esac
done

need_root_for_apt() {
  if [ "$(id -u)" -ne 0 ]; then
    log "apt packages missing ($*) and not root: install them with sudo apt-get install $*"
    exit 1
  fi
}

# --- apt packages -------------------------------------------------------------
# iproute2: `ip`/`ss` for debugging and test assertions; procps.
# iptables (iptables-nft), nftables, conntrack: the kube-proxy engines
# program netfilter inside the node netns with them (never the root netns;
# installing them changes no rule anywhere).
# chromium (tests only): the report's real-browser test; with its desktop
# libraries ~290 packages, ~240 MB to download on a bare Debian 12, which is
# why a run does not install it. wrk (bench only): the reference load
# generator. nginx (tests and setup): `clients[].proxy: nginx` and
# `deployments[].nginx` run Debian's nginx in pods; libnginx-mod-http-echo
# gives the backend preset's `delay` (echo_sleep). nginx is installed below
# with its service start blocked: the package's postinst would start it in
# the root namespace on port 80.
# clang/llvm are not needed: bpf-linker uses nightly's own libLLVM.
APT_PKGS=(iproute2 procps iptables nftables conntrack)
[ "$want_test" -eq 0 ] || APT_PKGS+=(chromium)
NGINX_PKGS=()
if [ "$want_nginx" -eq 1 ]; then
  for p in nginx libnginx-mod-http-echo; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || NGINX_PKGS+=("$p")
  done
fi
[ "$want_bench" -eq 0 ] || APT_PKGS+=(wrk)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  need_root_for_apt "${missing[@]}"
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if [ "${#NGINX_PKGS[@]}" -gt 0 ]; then
  need_root_for_apt "${NGINX_PKGS[@]}"
  # invoke-rc.d asks /usr/sbin/policy-rc.d before starting a service; 101 =
  # "action forbidden" (Debian policy 9.3.3.1), so the postinst does not
  # start nginx in the root namespace. A policy-rc.d already there (Docker
  # images ship one) is left alone; ours is removed on every exit path.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  log "apt-get install ${NGINX_PKGS[*]} (service start blocked by policy-rc.d)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${NGINX_PKGS[@]}"
  if [ "$own_policy" -eq 1 ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  # Under systemd the package also enables nginx.service: it would start in
  # the root namespace at the next boot. svclab runs nginx only in pods.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
    log "systemctl disable nginx (svclab runs nginx only inside pod namespaces)"
    systemctl disable --quiet nginx 2>/dev/null || true
  fi
  # systemd (when it is PID 1) may still have enabled the unit: a running
  # nginx in the root namespace is a failure, not something to kill by name.
  if [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
    log "nginx is running in the root namespace after the install (pid $(cat /run/nginx.pid)): stop it (systemctl stop nginx) and disable it"
    exit 1
  fi
fi

# --- Rust toolchains -----------------------------------------------------------
command -v rustup >/dev/null || { log "rustup not found: install Rust with rustup first"; exit 1; }
rustup toolchain list | grep -q '^nightly' || { log "rustup toolchain install nightly"; rustup toolchain install nightly --profile minimal; }
# rust-src: -Z build-std=core for the bpfel target; clippy: `just lint` on the eBPF crate.
for comp in rust-src clippy rustfmt; do
  if ! rustup component list --toolchain nightly --installed | grep -q "^$comp"; then
    log "rustup component add $comp --toolchain nightly"
    rustup component add "$comp" --toolchain nightly
  fi
done
for comp in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$comp"; then
    log "rustup component add $comp"
    rustup component add "$comp"
  fi
done

# --- bpf-linker, linked against nightly's own libLLVM -------------------------
# bpf-linker finds libLLVM through its RUNPATH, so the prefix it was built with
# must outlive the build: keep it under CARGO_HOME, with both the link-time name
# (libLLVM.so) and the soname the loader looks for.
sysroot="$(rustc +nightly --print sysroot)"
if ! bpf-linker --version >/dev/null 2>&1; then
  llvm_so="$(find "$sysroot/lib" -maxdepth 1 -name 'libLLVM.so.*' | head -n1)"
  [ -n "$llvm_so" ] || { log "no libLLVM.so.* in $sysroot/lib"; exit 1; }
  major="$(basename "$llvm_so" | sed -E 's/^libLLVM\.so\.([0-9]+).*/\1/')"
  prefix="${CARGO_HOME:-$HOME/.cargo}/svclab-llvm-prefix"
  rm -rf "$prefix" && mkdir -p "$prefix/lib"
  ln -s "$llvm_so" "$prefix/lib/libLLVM.so"
  ln -s "$llvm_so" "$prefix/lib/$(basename "$llvm_so")"
  log "cargo install bpf-linker (LLVM $major from $llvm_so)"
  LLVM_PREFIX="$prefix" cargo install --force --locked bpf-linker --version '^0.13' \
    --no-default-features --features "llvm-$major"
fi
log "ok: nightly rust-src, bpf-linker $(bpf-linker --version 2>/dev/null | head -n1)"
