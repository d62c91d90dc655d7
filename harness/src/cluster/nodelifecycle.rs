//! Node heartbeats and the node-lifecycle controller, for partitions. Each
//! node's kubelet renews its Lease through the API server; svclab's control
//! plane sits on the fabric bridge (`CONTROL_PLANE_ADDR`, in the fabric
//! netns) and a renewal is a real TCP connection from the node's netns to
//! it, so only a node actually cut off from the fabric (a `blackhole`
//! fault on the node) stops renewing; a path fault between two workers
//! does not, as in a real cluster. The controller, every monitor period,
//! marks a node whose last renewal is older than the grace period
//! NotReady and its pods not ready (their endpoints leave every service:
//! `MarkPodsNotReady`), and Ready again once renewals resume (kubelet
//! then reports its pods' own readiness).
//!
//! Kubernetes v1.31 (files and symbols; the kubernetes tree is too large
//! to fetch here, so no line numbers): kubelet renews every
//! `NodeLeaseDurationSeconds` (40) × `nodeLeaseRenewIntervalFraction`
//! (0.25) = 10 s (pkg/kubelet/kubelet.go); the controller runs every
//! `NodeMonitorPeriod` 5 s with `NodeMonitorGracePeriod` 40 s
//! (pkg/controller/nodelifecycle/config/v1alpha1/defaults.go; 50 s from
//! v1.32, CHANGELOG-1.32, PR 126287); `tryUpdateNodeHealth` sets Ready
//! Unknown past the grace and `monitorNodeHealth` calls
//! `MarkPodsNotReady` (pkg/controller/util/node/controller_utils.go).
//! Not modelled: the taint-based eviction 300 s later
//! (`DefaultTolerationSeconds`), longer than svclab's runs.
use std::{
    net::{SocketAddrV4, TcpListener, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use svclab_datapath::NetnsRef;
use svclab_topology::CONTROL_PLANE_ADDR;

/// The API server's port on the control plane's address.
const API_PORT: u16 = 6443;
/// kubelet's lease renew interval (40 s × 0.25).
pub(super) const RENEW_INTERVAL: Duration = Duration::from_secs(10);
/// The controller's `--node-monitor-period`.
pub(super) const MONITOR_PERIOD: Duration = Duration::from_secs(5);
/// How long one renewal may take (a lost SYN is retried within it).
const RENEW_TIMEOUT: Duration = Duration::from_secs(2);

/// The control plane's listener and one renewer thread per node.
pub(super) struct NodeLeases {
    /// Per node: when its last renewal got through.
    last: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Scaled constants.
    renew: Duration,
    period: Duration,
    grace: Duration,
    next_check: Instant,
    /// Nodes the controller marked NotReady.
    pub(super) not_ready: std::collections::BTreeSet<u8>,
}

impl NodeLeases {
    /// Starts the API server's listener in `fabric` and a renewer in each
    /// of `nodes`; times are multiplied by `scale` (kubelet.time_scale).
    pub(super) fn start(
        fabric: &NetnsRef,
        nodes: &[NetnsRef],
        grace: Duration,
        scale: f64,
    ) -> anyhow::Result<Self> {
        let addr = SocketAddrV4::new(CONTROL_PLANE_ADDR, API_PORT);
        let listener = fabric
            .run(|| TcpListener::bind(addr))?
            .with_context(|| format!("the control plane's listener on {addr}"))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let now = Instant::now();
        let last = Arc::new(Mutex::new(vec![now; nodes.len()]));
        let renew = RENEW_INTERVAL.mul_f64(scale);
        let mut threads = Vec::new();
        let flag = Arc::clone(&stop);
        threads.push(
            std::thread::Builder::new()
                .name("apiserver".into())
                .spawn(move || {
                    while !flag.load(Ordering::Relaxed) {
                        match listener.accept() {
                            Ok((s, _)) => drop(s),
                            Err(_) => std::thread::sleep(Duration::from_millis(5)),
                        }
                    }
                })
                .context("starting the control plane's listener")?,
        );
        for (i, ns) in nodes.iter().enumerate() {
            let ns = ns.try_clone()?;
            let (flag, last) = (Arc::clone(&stop), Arc::clone(&last));
            threads.push(
                std::thread::Builder::new()
                    .name(format!("lease-node{i}"))
                    .spawn(move || {
                        // A dedicated thread: every renewal's socket is
                        // made in the node's netns.
                        if ns.enter_current_thread().is_err() {
                            return;
                        }
                        let mut next = Instant::now();
                        while !flag.load(Ordering::Relaxed) {
                            if Instant::now() >= next {
                                if TcpStream::connect_timeout(&addr.into(), RENEW_TIMEOUT).is_ok()
                                    && let Ok(mut v) = last.lock()
                                {
                                    v[i] = Instant::now();
                                }
                                next += renew;
                            }
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    })
                    .context("starting a lease renewer")?,
            );
        }
        Ok(Self {
            last,
            stop,
            threads,
            renew,
            period: MONITOR_PERIOD.mul_f64(scale),
            grace: grace.mul_f64(scale),
            next_check: now,
            not_ready: std::collections::BTreeSet::new(),
        })
    }

    /// The controller's pass when one is due: the nodes that turned
    /// NotReady and those that turned Ready again, with how long since
    /// their last renewal.
    pub(super) fn check(&mut self, now: Instant) -> Vec<(u8, bool, Duration)> {
        if now < self.next_check {
            return Vec::new();
        }
        self.next_check = now + self.period;
        let Ok(last) = self.last.lock() else {
            return Vec::new();
        };
        let mut changes = Vec::new();
        for (i, t) in last.iter().enumerate() {
            let i = u8::try_from(i).unwrap_or(u8::MAX);
            let since = now.saturating_duration_since(*t);
            let stale = since > self.grace;
            if stale && self.not_ready.insert(i) {
                changes.push((i, false, since));
            } else if !stale && self.not_ready.remove(&i) {
                changes.push((i, true, since));
            }
        }
        changes
    }

    /// Renewal interval and grace period as scaled.
    pub(super) fn timings(&self) -> (Duration, Duration) {
        (self.renew, self.grace)
    }
}

impl Drop for NodeLeases {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leases(last: Vec<Instant>, grace: Duration) -> NodeLeases {
        NodeLeases {
            last: Arc::new(Mutex::new(last)),
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            renew: RENEW_INTERVAL,
            period: MONITOR_PERIOD,
            grace,
            next_check: Instant::now(),
            not_ready: std::collections::BTreeSet::new(),
        }
    }

    /// `tryUpdateNodeHealth`: NotReady only once the last renewal is older
    /// than the grace; Ready again at the first pass after a renewal; no
    /// pass before the monitor period is up.
    #[test]
    fn a_node_turns_not_ready_past_the_grace_and_ready_after_a_renewal() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(40);
        let mut l = leases(vec![t0, t0], grace);
        assert!(
            l.check(t0 + Duration::from_secs(39)).is_empty(),
            "within the grace"
        );
        l.last.lock().expect("lock")[0] = t0 + Duration::from_secs(35);
        let at = t0 + Duration::from_secs(45);
        assert_eq!(
            l.check(at),
            vec![(1, false, Duration::from_secs(45))],
            "node 1 stale, node 0 renewed"
        );
        assert!(
            l.check(at + Duration::from_secs(1)).is_empty(),
            "next pass 5 s later"
        );
        l.last.lock().expect("lock")[1] = at + Duration::from_secs(2);
        let back = at + MONITOR_PERIOD;
        assert_eq!(l.check(back), vec![(1, true, Duration::from_secs(3))]);
        assert!(l.not_ready.is_empty());
    }
}
