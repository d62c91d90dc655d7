//! The conntrack settings kube-proxy writes when it starts, in the node's
//! netns: `setupConntrack` (kubernetes cmd/kube-proxy/app/server_linux.go
//! :333-391, read at the ~v1.31 copy) with the v1alpha1 defaults
//! (pkg/proxy/apis/config/v1alpha1/defaults.go: `TCPEstablishedTimeout`
//! 24h :86, `TCPCloseWaitTimeout` 1h :109, `MaxPerCore` 32768 :75, `Min`
//! 131072 :78; `TCPBeLiberal` false and the UDP timeouts 0, which are not
//! written). Since v1.29 (PR 120448) a value is written whenever it
//! differs, lower or higher.
//!
//! What is per network namespace on this kernel (measured on 6.18 in a
//! fresh `unshare -n`): `nf_conntrack_tcp_timeout_established`,
//! `nf_conntrack_tcp_timeout_close_wait` and `nf_conntrack_tcp_be_liberal`
//! are writable there and do not change the root namespace's values.
//! `nf_conntrack_max` (and `nf_conntrack_buckets`, the module's
//! `hashsize`) are global: read-only outside the root namespace, so the
//! host's value applies and svclab, which never writes the root
//! namespace, leaves it; kube-proxy (with hostNetwork) would write
//! max(32768 x CPUs, 131072) there.
use std::time::Duration;

use anyhow::{Context as _, bail};
use svclab_datapath::NetnsRef;

/// `conntrack.tcpEstablishedTimeout` (24h).
pub const TCP_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// `conntrack.tcpCloseWaitTimeout` (1h): without it the kernel's 60 s
/// drops a half-closed flow's NAT while the other side still sends.
pub const TCP_CLOSE_WAIT_TIMEOUT: Duration = Duration::from_secs(3600);

const SYSCTL_DIR: &str = "/proc/sys/net/netfilter";

/// The per-netns sysctls kube-proxy writes, with their values.
pub fn settings() -> [(&'static str, u64); 2] {
    [
        (
            "nf_conntrack_tcp_timeout_established",
            TCP_ESTABLISHED_TIMEOUT.as_secs(),
        ),
        (
            "nf_conntrack_tcp_timeout_close_wait",
            TCP_CLOSE_WAIT_TIMEOUT.as_secs(),
        ),
    ]
}

/// The kernel's own values of [`settings`] in a new network namespace
/// (`nf_conntrack_tcp_timeout_established` 5 days, `close_wait` 60 s;
/// net/netfilter/nf_conntrack_proto_tcp.c `tcp_timeouts`).
pub const KERNEL_DEFAULTS: [u64; 2] = [5 * 24 * 3600, 60];

/// Whether the sysctls kube-proxy writes exist: nf_conntrack is built in
/// or loaded (the root namespace's files are only read).
pub fn check_machine() -> Result<(), String> {
    for (name, _) in settings() {
        let path = format!("{SYSCTL_DIR}/{name}");
        if !std::path::Path::new(&path).exists() {
            return Err(format!(
                "{path} does not exist: nf_conntrack is not loaded (modprobe nf_conntrack)"
            ));
        }
    }
    Ok(())
}

/// Writes [`settings`] in `netns` (a thread that entered it: /proc/sys/net
/// is the calling thread's netns) and reads them back.
pub fn setup(netns: &NetnsRef) -> anyhow::Result<()> {
    netns
        .run(|| -> anyhow::Result<()> {
            for (name, value) in settings() {
                let path = format!("{SYSCTL_DIR}/{name}");
                std::fs::write(&path, value.to_string())
                    .with_context(|| format!("writing {path} (kube-proxy's conntrack setup)"))?;
                let back = read(name)?;
                if back != value {
                    bail!("{path} reads {back} after writing {value}");
                }
            }
            Ok(())
        })
        .with_context(|| format!("entering {}", netns.name()))?
}

/// A netfilter sysctl as the calling thread's netns has it.
pub fn read(name: &str) -> anyhow::Result<u64> {
    let path = format!("{SYSCTL_DIR}/{name}");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    text.trim()
        .parse()
        .with_context(|| format!("parsing {path}: {text:?}"))
}
